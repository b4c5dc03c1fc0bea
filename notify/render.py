"""Notifications as text people read, in zh-CN or English, for each channel's format.

Rendering builds a small document (lines of text and link segments) from the alerts, then
one serializer per channel turns it into that channel's body: DingTalk/WeCom markdown,
Feishu ``post`` rich text, or plain text for SMS/voice providers. Everything that comes
from labels or annotations is untrusted: in markdown it is neutralised (see ``md_text``),
links are only ever built from http(s) URLs we validated, and Feishu's post format carries
text in text nodes, where markup means nothing. ``fit`` cuts a message down to its channel's
real size limit (measured by ``notify.channels.message_size``) and says so in the message.
"""

from __future__ import annotations

import math
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notify.oncall import Mention
from notify.payload import Alert, Notification, parse_time

MAX_VALUE_CHARS = 120  # one label value in a message; a hostile 1 MB label stays a line
MAX_DESCRIPTION_CHARS = 1000  # a rule's description in a page, before the channel's own limit
MAX_URL_CHARS = 2000  # a longer runbook_url is not linked (no robot message would hold it)
MIN_CUT_CHARS = 16  # ``fit`` shortens no text below this (labels and ids stay whole)
SINGLE_MAX_ALERTS = 5  # alerts shown in full in one group's message


@dataclass(frozen=True)
class Text:
    text: str
    bold: bool = False
    keep: bool = False  # never shortened by ``fit`` (times, who is on call)


@dataclass(frozen=True)
class Link:
    text: str
    url: str


Segment = Text | Link
Line = list[Segment]


@dataclass(frozen=True)
class Document:
    title: str
    lines: list[Line]
    # Who is on call for these alerts: named in a line, @-mentioned where the channel can.
    mentions: tuple[Mention, ...] = ()


@dataclass(frozen=True)
class SiteInfo:
    """What the posfleet store knows of a site (store name, merchant, phone)."""

    name: str = ""
    merchant: str = ""
    phone: str = ""
    region_name: str = ""
    address: str = ""


SiteLookup = Callable[[str], SiteInfo | None]
AckLink = Callable[[Alert], str | None]

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "tag": "【{status}】",
        "firing": "告警",
        "resolved": "已恢复",
        "what": "内容",
        "details": "说明",
        "address": "地址",
        "where": "位置",
        "since": "开始",
        "ended": "恢复于",
        "lasting": "已持续 {d}",
        "lasted": "持续了 {d}",
        "store": "门店",
        "merchant": "商户",
        "phone": "电话",
        "region": "区域",
        "gateway": "网关",
        "terminal": "终端",
        "acquirer": "收单机构",
        "severity": "级别",
        "escalation": "升级级别",
        "runbook": "处理手册",
        "ack": "确认（认领）",
        "console": "控制台",
        "more": "另有 {n} 条告警未列出（见控制台）",
        "digest_title": "告警汇总：{n} 条",
        "digest_head": "发送频率已达机器人上限，以下 {n} 条通知合并为一条汇总（无遗漏）。",
        "by_severity": "按级别",
        "by_region": "按区域",
        "digest_more": "另有 {m} 条待发送，将在下一条汇总中列出",
        "truncated": "Alertmanager 另截断了 {n} 条告警",
        "minutes": "{n} 分钟",
        "hours": "{h} 小时 {m} 分钟",
        "days": "{d} 天 {h} 小时",
        "seconds": "不到 1 分钟",
        "oncall": "值班",
        "tier": "第 {n} 级",
        "cut": "（消息超出机器人的长度上限，部分内容已截断，详见处理手册或控制台）",
    },
    "en": {
        "tag": "{status}: ",
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "what": "What",
        "details": "Details",
        "address": "Address",
        "where": "Where",
        "since": "Since",
        "ended": "Resolved at",
        "lasting": "for {d}",
        "lasted": "lasted {d}",
        "store": "Store",
        "merchant": "Merchant",
        "phone": "Phone",
        "region": "Region",
        "gateway": "gateway",
        "terminal": "terminal",
        "acquirer": "acquirer",
        "severity": "Severity",
        "escalation": "Escalation level",
        "runbook": "Runbook",
        "ack": "Acknowledge",
        "console": "Console",
        "more": "{n} more alerts not listed (see the console)",
        "digest_title": "Alert digest: {n}",
        "digest_head": "The robot's rate limit is reached: these {n} notifications are merged into one digest (none dropped).",
        "by_severity": "By severity",
        "by_region": "By region",
        "digest_more": "{m} more are queued and follow in the next digest",
        "truncated": "Alertmanager truncated {n} more alerts",
        "minutes": "{n} min",
        "hours": "{h} h {m} min",
        "days": "{d} d {h} h",
        "seconds": "under a minute",
        "oncall": "On call",
        "tier": "tier {n}",
        "cut": "(The message was over the robot's size limit and was cut: see the runbook or the console.)",
    },
}


def clean(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    """One line of printable text: control characters and line breaks become spaces."""
    out = "".join(
        " " if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" else ch for ch in value
    )
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


def safe_url(value: str) -> str | None:
    """An http(s) URL with nothing that could close a markdown link, else None."""
    value = value.strip()
    if len(value) > MAX_URL_CHARS:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urllib.parse.quote(value, safe=":/?#&=%@+,;~!$*'-._")


def duration(seconds: float, lang: str) -> str:
    s = STRINGS[lang]
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return s["seconds"]
    if minutes < 60:
        return s["minutes"].format(n=minutes)
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return s["hours"].format(h=hours, m=mins)
    days, hours = divmod(hours, 24)
    return s["days"].format(d=days, h=hours)


def local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M") + f" ({tz.key})"


def _since(a: Alert) -> datetime | None:
    # The collector's own start time (label `since`) is when the outage began; startsAt is
    # when Prometheus began firing, later by the evaluation path.
    return parse_time(a.labels.get("since", "")) or parse_time(a.starts_at)


def summary(a: Alert, lang: str) -> str:
    """The alert's one-line "what" in ``lang``: in zh-CN the rule's ``summary_zh`` when it has
    one (every shipped rule does), else the English ``summary`` annotation, else the
    collector's ``summary`` label, else the alert's name."""
    if lang == "zh-CN" and a.annotations.get("summary_zh", "").strip():
        return a.annotations["summary_zh"]
    return a.annotations.get("summary") or a.labels.get("summary") or a.labels.get("alertname", "")


def description(a: Alert, lang: str) -> str:
    """The rule's longer text in ``lang``: in zh-CN ``description_zh`` when it has one (every
    shipped rule does), else the English ``description`` (someone's own rule), else ''."""
    if lang == "zh-CN" and a.annotations.get("description_zh", "").strip():
        return a.annotations["description_zh"]
    return a.annotations.get("description", "")


def alert_lines(
    a: Alert,
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    site: SiteInfo | None,
    ack_url: str | None,
    describe: bool = True,
) -> list[Line]:
    s = STRINGS[lang]
    lines: list[Line] = []
    what = summary(a, lang)
    lines.append([Text(f"{s['what']}: ", True), Text(clean(what, 300))])
    details = clean(description(a, lang), MAX_DESCRIPTION_CHARS) if describe else ""
    if details:
        lines.append([Text(f"{s['details']}: ", True), Text(details)])
    where: list[str] = []
    region = a.labels.get("region", "")
    if region:
        rname = site.region_name if site and site.region_name else ""
        where.append(f"{s['region']} {clean(region)}" + (f" ({clean(rname)})" if rname else ""))
    store = a.get("site_name") or (site.name if site else "")
    if a.labels.get("site"):
        label = clean(a.labels["site"])
        where.append(f"{s['store']} {clean(store)} ({label})" if store else f"{s['store']} {label}")
    # An acquirer's spike (PosfleetAcquirerFailureSpike) is about the acquirer, not a store.
    for key in ("gateway", "terminal", "acquirer"):
        if a.labels.get(key):
            where.append(f"{s[key]} {clean(a.labels[key])}")
    if where:
        lines.append([Text(f"{s['where']}: ", True), Text(", ".join(where))])
    address = a.get("address") or (site.address if site else "")
    if clean(address):
        lines.append([Text(f"{s['address']}: ", True), Text(clean(address))])
    since = _since(a)
    ended = parse_time(a.ends_at) if a.status == "resolved" else None
    if since is not None:
        if ended is not None:
            lines.append(
                [
                    Text(f"{s['since']}: ", True),
                    Text(f"{local(since, tz)}, {s['ended']} {local(ended, tz)}", keep=True),
                    Text(
                        f" ({s['lasted'].format(d=duration((ended - since).total_seconds(), lang))})"
                    ),
                ]
            )
        else:
            lines.append(
                [
                    Text(f"{s['since']}: ", True),
                    Text(local(since, tz), keep=True),
                    Text(
                        f" ({s['lasting'].format(d=duration((now - since).total_seconds(), lang))})"
                    ),
                ]
            )
    merchant = a.get("merchant") or (site.merchant if site else "")
    phone = a.get("phone") or (site.phone if site else "")
    if merchant or phone:
        seg: Line = []
        if merchant:
            seg += [Text(f"{s['merchant']}: ", True), Text(clean(merchant))]
        if phone:
            seg += [
                Text(("  " if merchant else "") + f"{s['phone']}: ", True),
                Text(clean(phone, 40)),
            ]
        lines.append(seg)
    sev, esc = a.labels.get("severity", ""), a.labels.get("escalation", "")
    if sev or esc:
        text = clean(sev)
        if esc and esc != "0":
            text += f"  {s['escalation']} {clean(esc, 10)}"
        lines.append([Text(f"{s['severity']}: ", True), Text(text.strip())])
    links: Line = []
    runbook = safe_url(a.annotations.get("runbook_url", ""))
    if runbook:
        links.append(Link(s["runbook"], runbook))
    if ack_url and a.status == "firing":
        if links:
            links.append(Text("  "))
        links.append(Link(s["ack"], ack_url))
    if links:
        lines.append(links)
    return lines


def render_single(
    n: Notification,
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    lookup: SiteLookup,
    ack: AckLink,
    max_alerts: int = SINGLE_MAX_ALERTS,
) -> Document:
    s = STRINGS[lang]
    first = n.alerts[0]
    name = clean(n.common_labels.get("alertname") or first.labels.get("alertname", ""), 60)
    count = f" ×{len(n.alerts)}" if len(n.alerts) > 1 else ""
    title = s["tag"].format(status=s[n.status]) + f"{name}{count}"
    lines: list[Line] = []
    described: set[str] = set()
    for i, a in enumerate(n.alerts[:max_alerts]):
        if i:
            lines.append([Text("—")])
        site = lookup(a.labels.get("site", "")) if a.labels.get("site") else None
        # A group's alerts mostly share a rule: its description once, not once per gateway.
        rule = a.labels.get("alertname", "")
        lines += alert_lines(a, lang, tz, now, site, ack(a), describe=rule not in described)
        described.add(rule)
    hidden = len(n.alerts) - max_alerts
    if hidden > 0:
        lines.append([Text(s["more"].format(n=hidden))])
    if n.truncated_alerts:
        lines.append([Text(s["truncated"].format(n=n.truncated_alerts))])
    return Document(title, lines)


def render_digest(
    notifications: Sequence[Notification],
    backlog: Sequence[Notification],
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    lookup: SiteLookup,
    ack: AckLink,
) -> Document:
    """One message for many notifications: counts over the whole backlog, then one line per
    alert of ``notifications`` (the ones this message delivers), then how many follow."""
    s = STRINGS[lang]
    carried = [a for n in notifications for a in n.alerts]
    queued = [a for n in backlog for a in n.alerts]
    everything = carried + queued
    title = s["digest_title"].format(n=len(everything))
    lines: list[Line] = [[Text(s["digest_head"].format(n=len(notifications)))]]
    sev = Counter(clean(a.labels.get("severity", "") or "-", 20) for a in everything)
    reg = Counter(clean(a.labels.get("region", "") or "-", 30) for a in everything)
    lines.append([Text(f"{s['by_severity']}: ", True), Text(_counts(sev))])
    lines.append([Text(f"{s['by_region']}: ", True), Text(_counts(reg))])
    for n in notifications:
        for a in n.alerts:
            lines.append(_digest_line(a, n.status, lang, tz, now, lookup, ack(a)))
    runbooks = _runbooks(carried, s["runbook"])
    if runbooks:
        lines.append(runbooks)
    if queued:
        lines.append([Text(s["digest_more"].format(m=len(queued)))])
    return Document(title, lines)


def _runbooks(alerts: Sequence[Alert], label: str, most: int = 10) -> Line:
    """One line linking each rule's runbook once: a digest line has no room for its own."""
    seen: dict[str, str] = {}
    for a in alerts:
        name = clean(a.labels.get("alertname", ""), 60) or label
        url = safe_url(a.annotations.get("runbook_url", ""))
        if url and name not in seen and len(seen) < most:
            seen[name] = url
    line: Line = [Text(f"{label}: ", True)]
    for i, (name, url) in enumerate(seen.items()):
        line += [Text("  "), Link(name, url)] if i else [Link(name, url)]
    return line if seen else []


def _counts(c: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _digest_line(
    a: Alert,
    status: str,
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    lookup: SiteLookup,
    ack_url: str | None,
) -> Line:
    s = STRINGS[lang]
    site = lookup(a.labels.get("site", "")) if a.labels.get("site") else None
    what = summary(a, lang)
    where = "/".join(
        clean(v, 40)
        for v in (
            a.labels.get("region", ""),
            a.labels.get("site", ""),
            a.labels.get("gateway", ""),
            a.labels.get("terminal", ""),
            a.labels.get("acquirer", ""),
        )
        if v
    )
    store = a.get("site_name") or (site.name if site else "")
    since = _since(a)
    when = ""
    if since is not None:
        when = f" {since.astimezone(tz).strftime('%H:%M')} ({s['lasting'].format(d=duration((now - since).total_seconds(), lang))})"
    line: Line = [
        Text(
            s["tag"].format(status=s[a.status if a.status in ("firing", "resolved") else status]),
            True,
        ),
        Text(f"{clean(what, 80)} · {where}" + (f" · {clean(store, 40)}" if store else "") + when),
    ]
    if ack_url and a.status == "firing":
        line += [Text(" "), Link(s["ack"], ack_url)]
    return line


def with_oncall(doc: Document, mentions: Sequence[Mention], lang: str) -> Document:
    """``doc`` with a line naming who is on call (and the mentions for the serializers)."""
    if not mentions:
        return doc
    s = STRINGS[lang]
    line: Line = [Text(f"{s['oncall']}: ", True)]
    for i, m in enumerate(mentions):
        who = clean(m.person.name, 40) + (f" {clean(m.person.phone, 20)}" if m.person.phone else "")
        where = f"{clean(m.region, 30)} {s['tier'].format(n=m.tier)}"
        line.append(Text(("; " if i else "") + f"{who} ({where})", keep=True))
    return Document(doc.title, [*doc.lines, line], tuple(mentions))


# ------------------------------------------------------------------ serializers

# Characters that mean something in DingTalk/WeCom markdown (emphasis, links, headings,
# quotes, code, tables, HTML such as WeCom's <font> and <@userid> mentions) are replaced by
# their full-width forms: they read the same to a person and mean nothing to the renderer.
# Backslash escapes are not used because neither robot documents them.
_MD_MAP = str.maketrans(
    {
        "*": "＊",
        "_": "＿",
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "<": "＜",
        ">": "＞",
        "#": "＃",
        "`": "｀",
        "~": "～",
        "|": "｜",
        "!": "！",
        "@": "＠",
        "\\": "＼",
        "&": "＆",
    }
)


def md_text(value: str) -> str:
    return value.translate(_MD_MAP)


def to_markdown(doc: Document) -> tuple[str, str]:
    """(title, markdown text) for DingTalk and WeCom."""
    out = [f"### {md_text(doc.title)}"]
    for line in doc.lines:
        parts = []
        for seg in line:
            if isinstance(seg, Link):
                parts.append(f"[{md_text(seg.text)}]({seg.url})")
            elif seg.bold:
                parts.append(f"**{md_text(seg.text.strip())}** ")
            else:
                parts.append(md_text(seg.text))
        out.append("".join(parts))
    # DingTalk needs a blank line (or two trailing spaces) for a line break.
    return doc.title, "\n\n".join(out)


def to_feishu_post(doc: Document, lang: str) -> dict[str, Any]:
    """Feishu ``post`` content: text nodes are literal, links are ``a`` nodes."""
    content: list[list[dict[str, str]]] = []
    for line in doc.lines:
        row: list[dict[str, str]] = []
        for seg in line:
            if isinstance(seg, Link):
                row.append({"tag": "a", "text": seg.text, "href": seg.url})
            else:
                row.append({"tag": "text", "text": seg.text})
        content.append(row)
    key = "zh_cn" if lang == "zh-CN" else "en_us"
    return {key: {"title": doc.title, "content": content}}


def to_plain(doc: Document, max_chars: int = 0) -> str:
    """Plain text for SMS/voice; links as bare URLs (SMS gateways reject markup)."""
    out = [doc.title]
    for line in doc.lines:
        out.append(
            "".join(f"{seg.text} {seg.url}" if isinstance(seg, Link) else seg.text for seg in line)
        )
    text = "\n".join(out)
    if max_chars and len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit(doc: Document, size: Callable[[Document], int], limit: int, lang: str) -> Document:
    """``doc`` cut until ``size(doc) <= limit`` (the channel's own measure of what it sends),
    with a line saying it was cut. The longest text goes first (a rule's description, a
    hostile label value), each cut ending in "…"; links, labels, times and the on-call line
    stay. Only when no text is left to shorten are whole lines dropped: the last one without
    a link or a kept text first."""
    if not limit or size(doc) <= limit:
        return doc
    lines = [list(line) for line in doc.lines]
    marker: Line = [Text(STRINGS[lang]["cut"])]
    while True:
        cut = Document(doc.title, [*lines, marker], doc.mentions)
        over = size(cut) - limit
        if over <= 0 or not lines:
            return cut
        texts = [
            (len(seg.text), i, j)
            for i, line in enumerate(lines)
            for j, seg in enumerate(line)
            if isinstance(seg, Text) and not seg.keep and len(seg.text) > MIN_CUT_CHARS
        ]
        if not texts:
            plain = [
                i
                for i, line in enumerate(lines)
                if not any(isinstance(seg, Link) or seg.keep for seg in line)
            ]
            lines.pop(plain[-1] if plain else -1)
            continue
        _, i, j = max(texts, key=lambda t: (t[0], -t[1], -t[2]))
        seg = lines[i][j]
        assert isinstance(seg, Text)
        # What one character of this text costs in the channel's measure (a Chinese character
        # is 3 bytes, a full-width escape too, an SMS character 1): cut just enough, and at
        # most half at a time, so that several long texts end up shortened alike.
        lines[i][j] = Text("", seg.bold)
        rest = size(Document(doc.title, [*lines, marker], doc.mentions))
        per_char = (limit + over - rest) / len(seg.text)
        drop = math.ceil((over + 3) / max(per_char, 0.1)) + 1
        keep = max(MIN_CUT_CHARS, len(seg.text) - drop, len(seg.text) // 2)
        lines[i][j] = Text(seg.text[: keep - 1].rstrip() + "…", seg.bold)
