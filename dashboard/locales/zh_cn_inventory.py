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
}
