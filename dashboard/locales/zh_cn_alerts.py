"""zh-CN: the Alerts page."""

MESSAGES: dict[str, str] = {
    "Region": "区域",
    "Severity": "级别",
    "Kind": "类型",
    "Acknowledged": "确认状态",
    "{total} active alerts match; showing {shown} from #{first}": (
        "共 {total} 条活动告警符合条件，从第 {first} 条起显示 {shown} 条"
    ),
    "Acknowledge": "确认",
    "acknowledge alerts": "确认告警",
    "Nothing unacknowledged on this page.": "本页没有未确认的告警。",
    "Alert": "告警",
    "Note (who is on it, what is known)": "备注（谁在处理、已知情况）",
}
