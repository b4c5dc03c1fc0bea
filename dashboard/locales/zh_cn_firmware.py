"""zh-CN: the Firmware page."""

MESSAGES: dict[str, str] = {
    "Model": "型号",
    "Rollout progress": "升级进度",
    "Versions by model": "各型号版本分布",
    "Non-compliant gateways": "固件不合规网关",
    "Non-compliant terminals": "固件不合规终端",
    "devices": "设备数",
}
