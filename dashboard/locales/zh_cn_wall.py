"""zh-CN: the wall screen (/wall)."""

MESSAGES: dict[str, str] = {
    "Wall screen": "监控大屏",
    "Fleet wall": "设备监控大屏",
    "updated {time} ({zone})": "更新于 {time}（{zone}）",
    "Gateways": "网关",
    "Terminals": "终端",
    "Sales": "交易",
    "Online, no sales": "在线无交易",
    "maintenance {maintenance} · suspended {suspended}": "维护中 {maintenance} · 已停用 {suspended}",
    "Stores down: {n}": "离线门店：{n} 家",
    "No store is down.": "没有离线门店。",
    "and {n} more": "另有 {n} 家未列出",
    "store": "门店",
    "region": "区域",
    "merchant": "商户",
    "down since": "离线起始",
    "{time} ({ago})": "{time}（{ago}）",
}
