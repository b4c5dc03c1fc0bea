"""zh-CN: alert texts composed by the console (dashboard/alert_text.py)."""

MESSAGES: dict[str, str] = {
    "store {store}, {region}": "门店 {store}，{region}",
    "store {store}": "门店 {store}",
    "Gateway {id} ({place}) down since {since}": "网关 {id}（{place}）自 {since} 起离线",
    "{text} ({how})": "{text}（{how}）",
    "Terminal {id} behind gateway {gateway} ({place}) down since {since}": (
        "网关 {gateway} 下的终端 {id}（{place}）自 {since} 起离线"
    ),
    "{place}: all gateways down since {since}": "{place}：自 {since} 起全部网关离线",
    "{subject} {id} ({place}) flapping: going down and up again and again since {since}": (
        "{subject} {id}（{place}）自 {since} 起频繁上下线"
    ),
    "{subject} {id} ({place}) firmware {version} is not compliant (since {since})": (
        "{subject} {id}（{place}）固件 {version} 不合规（自 {since} 起）"
    ),
    "{subject} {id} ({place}) is online but has taken no transaction since {last} ({expected} expected since, usually {usual} an hour now)": "{subject} {id}（{place}）在线，但自 {last} 起没有交易（此后预计 {expected} 笔，此时段通常每小时 {usual} 笔）",
    "{place}: sales failing since {since}: {what} ({attempted} attempts in the window)": "{place}：自 {since} 起交易失败激增：{what}（窗口内共 {attempted} 笔）",
    "issuer or network declines": "发卡行或网络拒绝",
    "time-outs": "超时",
    "reversals": "冲正",
}
