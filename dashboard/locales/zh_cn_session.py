"""zh-CN: login sessions (sidebar notices, logout) and the form rules that came with them
(named pickers, the confirmation before a window is ended early)."""

MESSAGES: dict[str, str] = {
    # ui.py: a session that ended, an action refused because of it
    "Your session ended (no activity for too long, or too long since the login). Log in again.": (
        "登录已失效（长时间无操作，或距登录时间过长），请重新登录。"
    ),
    "Your session has ended: log in again (sidebar).": "登录已失效：请在侧边栏重新登录。",
    # incidents.py: the incident picker
    "#{id} {subject} {subject_id} · {cls}{cause} · since {since}": (
        "#{id} {subject} {subject_id} · {cls}{cause} · 始于 {since}"
    ),
    "Expected recovery {time} is already past: the merchant would be told a time gone by. "
    "Pick a time to come.": "预计恢复时间 {time} 已过：不能将已过去的时间告知商户，请选择一个将来的时间。",
    # maintenance.py: the window picker and the confirmation before ending one early
    "recurring {cron}": "周期执行 {cron}",
    "until {time}": "至 {time}",
    "End window {window} now? Whatever is still down in it will page as new.": (
        "立即结束维护窗口 {window}？窗口内仍处于离线状态的设备将作为新告警通知值班人员。"
    ),
    "Yes, end it now": "确定，立即结束",
    "Cancel": "取消",
}
