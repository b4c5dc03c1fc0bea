"""zh-CN: the Overview page."""

MESSAGES: dict[str, str] = {
    "Fleet overview": "设备总览",
    "As of {time} ({zone}); refreshed every {seconds} s": "截至 {time}（{zone}），每 {seconds} 秒刷新",
    "Gateways": "网关",
    "Terminals": "终端",
    "New outages today": "今日新增故障",
    "Outages per day (30 days)": "每日故障数（30 天）",
    "new outages per day": "每日新增故障",
    "{day}: {n} {kind} outages": "{day}：{kind}故障 {n} 次",
    "Days in {zone}": "日期按 {zone} 划分",
    "Regions at a glance": "各区域概况",
    "Sites by worst status": "门店最差状态分布",
    "sites by worst status": "门店最差状态分布图",
    "one dot per ~10 km cell, its worst site: red down · orange late · "
    "grey unknown · purple suspended · green online": (
        "每个圆点代表约 10 公里范围内最差的门店：红色 离线 · 橙色 延迟 · "
        "灰色 未知 · 紫色 已停用 · 绿色 在线"
    ),
    "No store is down.": "没有离线门店。",
    "Down:": "离线门店：",
    "and {n} more cells": "另有 {n} 个区域",
    "Availability today": "今日可用率",
    "Availability this month": "本月可用率",
}
