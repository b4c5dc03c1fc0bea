"""zh-CN: the Alerts page."""

MESSAGES: dict[str, str] = {
    "Shortfall follow-ups overdue": "少刷钱案件跟进逾期",
    "Shortfall cases past their follow-up": "跟进已逾期的少刷钱案件",
    "A merchant is waiting for money nobody has called back about. Logging a call with the next follow-up on the case clears it here; Prometheus pages the NOC desk after 10 minutes (PosfleetShortfallFollowUpOverdue).": "商户仍在等待款项，却无人回电。在案件上记录通话并设定下次跟进即可从此处消除；逾期 10 分钟后 Prometheus 会通知 NOC 值班台（PosfleetShortfallFollowUpOverdue）。",
    "follow-up due ({zone})": "应跟进时间（{zone}）",
    "overdue by": "已逾期",
    "Open the overdue cases": "打开逾期案件",
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
