"""zh-CN: the Inventory and Audit log pages."""

MESSAGES: dict[str, str] = {
    "Reporting but not in the inventory (awaiting enrolment, never paged)": (
        "正在上报但不在资产清单中（等待登记，不会触发通知）"
    ),
    "Export": "导出",
    "Import": "导入",
    "Table": "数据表",
    "CSV with a header row": "带表头的 CSV 文件",
    "Actor": "操作人",
    "{total} entries": "共 {total} 条记录",
    # Inventory import refusals (collector.inventory, dashboard/inventory_text.py).
    "{file} line {line} is not UTF-8 (a CSV saved by Excel in China is usually GBK): save it "
    'from Excel as "CSV UTF-8", or convert it with iconv -f GBK -t UTF-8 '
    "(docs/collector.md, Inventory files)": (
        "{file} 第 {line} 行不是 UTF-8 编码（Excel 在中文系统中保存的 CSV 通常是 GBK）：请在 Excel "
        "中另存为“CSV UTF-8（逗号分隔）”，或用 iconv -f GBK -t UTF-8 转换"
        "（docs/collector.md，Inventory files）"
    ),
    "{file} line {line} is not CSV ({reason}): fix the line; quote a value that holds a quote": (
        "{file} 第 {line} 行不是有效的 CSV（{reason}）：请修改该行；含引号的值须用引号括起"
    ),
    "{file} line 1: unknown column(s) {columns}: rename them to inventory columns or remove "
    "them; allowed: {allowed} (docs/collector.md, Inventory files)": (
        "{file} 第 1 行：未知的列 {columns}：请改为资产清单的列名或删除；可用的列：{allowed}"
        "（docs/collector.md，Inventory files）"
    ),
    "{file} has no {column} column: add a {column} column with each row's id "
    "(docs/collector.md, Inventory files)": (
        "{file} 缺少 {column} 列：请添加 {column} 列，填写每行的编号（docs/collector.md，Inventory files）"
    ),
    "{file} has no gateway_id column: add a gateway_id column naming each terminal's "
    "gateway (docs/collector.md, Inventory files)": (
        "{file} 缺少 gateway_id 列：请添加 gateway_id 列，填写每台终端所属的网关"
        "（docs/collector.md，Inventory files）"
    ),
    "{file} line {line} has more fields than the header: quote a value that holds a comma "
    '("Road 1, Pudong"), or name the column in the header': (
        '{file} 第 {line} 行的字段比表头多：含逗号的值须用引号括起（"Road 1, Pudong"），'
        "或在表头中写明该列"
    ),
    "{file} line {line}: {column} is empty: give the row its id, or delete the row": (
        "{file} 第 {line} 行：{column} 为空：请填写该行的编号，或删除该行"
    ),
    "{file} line {line} ({key} {id}): gateway_id is empty: name the gateway the terminal "
    "is behind": "{file} 第 {line} 行（{key} {id}）：gateway_id 为空：请填写该终端所属的网关",
    "{file} line {line} ({key} {id}): {column} is empty: fill it in, or leave the {column} "
    "column out of the file to keep what is stored": (
        "{file} 第 {line} 行（{key} {id}）：{column} 为空：请填写，或从文件中去掉 {column} 列以保留已存的值"
    ),
    "{file} line {line} ({key} {id}): {column} {value} is not a number: write a decimal "
    "number (e.g. 31.2304), or leave it empty": (
        "{file} 第 {line} 行（{key} {id}）：{column} {value} 不是数字：请填写小数（如 31.2304），或留空"
    ),
    "{file} line {line} ({key} {id}): the store refused the row ({reason}): fix it": (
        "{file} 第 {line} 行（{key} {id}）：数据库拒绝了该行（{reason}）：请修改"
    ),
    "{file} line {line}: {key} {id} again, first seen at line {first}: keep one row per {key} "
    "(merge the two rows, or correct the id) (docs/collector.md, Inventory files)": (
        "{file} 第 {line} 行：{key} {id} 重复，第一次出现在第 {first} 行：每个 {key} 只保留一行"
        "（合并这两行，或改正编号）（docs/collector.md，Inventory files）"
    ),
    "{file} line {line} ({key} {id}): gateway_id {parent} is neither stored nor in this "
    "import's gateways.csv: add the gateway to gateways.csv and import it with this file (or "
    "before it), or correct the gateway_id (docs/collector.md, Inventory files)": (
        "{file} 第 {line} 行（{key} {id}）：网关 gateway_id {parent} 既不在资产清单中，也不在本次导入的 "
        "gateways.csv 中：请把该网关加入 gateways.csv，与本文件一起（或先于本文件）导入，"
        "或改正 gateway_id（docs/collector.md，Inventory files）"
    ),
    "{file} line {line} ({key} {id}): site_id {parent} is neither stored nor in this "
    "import's sites.csv: add the site to sites.csv and import it with this file (or before "
    "it), or correct the site_id (docs/collector.md, Inventory files)": (
        "{file} 第 {line} 行（{key} {id}）：门店 site_id {parent} 既不在资产清单中，也不在本次导入的 "
        "sites.csv 中：请把该门店加入 sites.csv，与本文件一起（或先于本文件）导入，"
        "或改正 site_id（docs/collector.md，Inventory files）"
    ),
}
