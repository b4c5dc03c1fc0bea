"""zh-CN: the gateway / terminal / site page."""

MESSAGES: dict[str, str] = {
    "Id or serial": "编号或序列号",
    "Pick a gateway or terminal: search in the sidebar, or follow a link from Alerts.": (
        "请选择网关或终端：在侧边栏搜索，或从告警页的链接进入。"
    ),
    "No gateway, terminal or site with id or serial {ident}.": "没有编号或序列号为 {ident} 的网关、终端或门店。",
    "site {id} {name}": "门店 {id} {name}",
    "{n} of {total}": "{n} / {total}",
    "Gateways down": "离线网关",
    "Terminals down": "离线终端",
    "Terminals unknown": "状态未知终端",
    "Active alerts": "活动告警",
    "unknown time zone": "时区无效",
    "store's local time": "门店当地时间",
    "{name} ({contact}), verified {day}": "{name}（{contact}），核实于 {day}",
    "never": "从未",
    "Gateways and terminals": "网关与终端",
    "Incidents (30 days)": "故障（30 天）",
    "{kind} {id} is no longer in the inventory.": "{kind} {id} 已不在资产清单中。",
    "its gateway {gateway} is not online: the collector cannot see it": (
        "所属网关 {gateway} 不在线：采集端无法看到该终端"
    ),
    "Status": "状态",
    "Since": "状态起始",
    "Last seen": "最后在线",
    "{status} since {since}; last seen {seen} (times in {zone})": (
        "{status}始于{since}；最后在线{seen}（时间按 {zone}）"
    ),
    "Suspended: {reason}": "已停用：{reason}",
    "model / serial": "型号 / 序列号",
    "installed / warranty end": "安装日期 / 保修截止",
    "Status timeline (30 days)": "状态变化记录（30 天）",
    "Telemetry (30 days)": "遥测数据（30 天）",
    "Time axis in {zone}": "时间轴按 {zone}",
    "signal (dBm)": "信号强度（dBm）",
    "latency (ms)": "延迟（毫秒）",
    "loss (%)": "丢包率（%）",
    "battery (%)": "电量（%）",
    "temperature (°C)": "温度（°C）",
    "no data": "无数据",
    "Incidents": "故障",
    "Maintenance history": "维修记录",
    "Actions": "操作",
    "suspend or record a service": "停用设备或登记维修",
    "Suspension reason": "停用原因",
    "Unsuspend": "恢复",
    "Suspend": "停用",
    "Work done": "维修内容",
    "Parts replaced": "更换部件",
    "Fault category": "故障类别",
    "Record service": "登记维修",
}
