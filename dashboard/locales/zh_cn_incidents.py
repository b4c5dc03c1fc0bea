"""zh-CN: the Incidents & SLA page."""

MESSAGES: dict[str, str] = {
    "Period (days)": "统计周期（天）",
    "Group by": "分组方式",
    "SLA by {group}, last {days} days (gateways; planned windows excluded)": (
        "按{group}统计 SLA，最近 {days} 天（网关；不含计划内维护窗口）"
    ),
    "Fleet availability": "全网可用率",
    "MTTR": "MTTR（平均修复时间）",
    "MTBF": "MTBF（平均故障间隔）",
    "min": "分钟",
    "h": "小时",
    "Incidents": "故障",
    "Open only": "仅显示未结束",
    "{total} incidents": "共 {total} 起故障",
    "Cause and expected recovery (what the merchant is told)": "原因与预计恢复时间（告知商户的内容）",
    "edit incidents": "编辑故障",
    "Incident": "故障",
    "Cause": "原因",
    "Expected recovery date ({zone})": "预计恢复日期（{zone}）",
    "Expected recovery time ({zone})": "预计恢复时间（{zone}）",
    "Save": "保存",
}
