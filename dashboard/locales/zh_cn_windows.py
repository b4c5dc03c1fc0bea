"""zh-CN for the maintenance windows table: each window's current or next occurrence."""

MESSAGES: dict[str, str] = {
    "now or next: starts": "本次或下次：开始",
    "now or next: ends": "本次或下次：结束",
    "hours in that zone": "该时区的时段",
}
