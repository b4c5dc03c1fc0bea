"""zh-CN for the maintenance page's windows table (each window's current or next
occurrence) and the service forms' empty fault category."""

MESSAGES: dict[str, str] = {
    "now or next: starts": "本次或下次：开始",
    "now or next: ends": "本次或下次：结束",
    "hours in that zone": "该时区的时段",
    "(not given)": "（未填写）",
}
