"""zh-CN: the morning check page (what is down now, bulk acknowledge, snooze)."""

MESSAGES: dict[str, str] = {
    "Morning check": "早班巡检",
    "Stores down": "离线门店",
    "Gateways late": "延迟网关",
    "Paging, nobody on it": "告警中，无人处理",
    "Terminals online, no sales": "在线无交易终端",
    "Stores with failing sales": "交易失败激增门店",
    "outage": "故障对象",
    "acknowledged": "确认人 · 时间",
    "down for · since": "离线时长 · 起始",
    "snooze · suspension": "暂缓 · 停用",
    "Store down ({n}/{total} gateways)": "门店离线（{n}/{total} 个网关）",
    "snoozed until {time} ({who})": "暂缓至 {time}（{who}）",
    "{n} suspended in store": "门店内 {n} 台已停用",
    "never seen": "从未上线",
    "As of {time} ({zone}). Most urgent first: paging and nobody on it, then not "
    "paged yet, then acknowledged, then snoozed; stores before gateways before "
    "terminals; longest down first.": (
        "截至 {time}（{zone}）。按紧急程度排序：告警中且无人处理的在前，其次是尚未告警的、"
        "已确认的、已暂缓的；门店先于网关，网关先于终端；离线时间最长的在前。"
    ),
    "Nothing is down.": "当前没有离线设备。",
    "The first {n} rows: filter on the Alerts page for the rest.": (
        "仅显示前 {n} 行：其余请在告警页筛选查看。"
    ),
    "acknowledge and snooze alerts": "确认和暂缓告警",
    "Select rows (left edge of the table) to acknowledge or snooze them.": (
        "在表格左侧勾选行，即可批量确认或暂缓。"
    ),
    "{n} rows selected ({alerts} alerts).": "已选择 {n} 行（{alerts} 条告警）。",
    "Acknowledge selected": "确认所选",
    "Snooze until: day ({zone})": "暂缓至：日期（{zone}）",
    "time ({zone})": "时间（{zone}）",
    "Snooze selected": "暂缓所选",
    "Snooze until {time} is in the past: pick a later time.": (
        "暂缓至 {time} 已是过去的时间：请选择一个将来的时间。"
    ),
    # ui.py: actions on several alerts
    "snooze alerts": "暂缓告警",
    "Applied to {done}, not to {n}: {why}": "已处理 {done} 条，{n} 条未处理：{why}",
}
