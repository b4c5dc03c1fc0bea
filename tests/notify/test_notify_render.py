"""What a person reads: zh-CN and English, local time, store and merchant, no injection."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notify_fakes import FakeRobot, alert, drain, post, webhook

from collector.store import db
from collector.store.migrate import ensure_schema
from notify.payload import Notification, parse
from notify.render import (
    Document,
    SiteInfo,
    Text,
    fit,
    render_digest,
    render_single,
    to_feishu_post,
    to_markdown,
    to_plain,
)

HOSTILE = {
    "site": "s1](http://evil.example/x) **boom** <@all> <font color=red>",
    "gateway": "gw-0007\n### injected heading\n> quote [click](http://evil.example)",
}


def _store(target: str) -> str:
    conn = db.connect(target)
    ensure_schema(conn)
    with conn:
        conn.execute("INSERT INTO regions (region_id, name) VALUES ('north', '华北一区')")
        conn.execute(
            "INSERT INTO sites (site_id, region_id, name, address, merchant_name, "
            "merchant_contact) VALUES ('site-1', 'north', '人民路店', "
            "'上海市黄浦区人民路 1 号 **B1** [x](http://evil.example)', '张三便利店', "
            "'13800138000')"
        )
    conn.close()
    return target


def _one_message(make_relay, clock, robot_kind: str, lang: str, page: dict, **relay) -> str:
    with FakeRobot(robot_kind, monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay({"noc": {"type": robot_kind, "url": robot.url, "lang": lang}}, **relay)
        assert post(f"http://127.0.0.1:{r.port}/alertmanager", page) == 200
        drain(r, clock)
    [msg] = robot.accepted()
    return msg.text()


def test_chinese_page_says_what_where_since_when_store_merchant_phone_runbook_and_ack(
    make_relay, clock, store_url
):
    # The fake clock stands at 2026-11-30 08:00 UTC; the outage began 07:48 UTC.
    page = webhook([alert(7, extra_labels={"since": "2026-11-30T07:48:00+00:00"})])
    text = _one_message(
        make_relay,
        clock,
        "dingtalk",
        "zh-CN",
        page,
        db=_store(store_url),
        public_url="https://noc.example/notify",
    )
    assert "【告警】GatewayDown" in text
    assert "Gateway gw-0007 at site site-1 （north） is down" in text  # summary, markup-neutral
    assert "区域 north （华北一区）" in text
    assert "门店 人民路店 （site-1）" in text
    assert "网关 gw-0007" in text
    assert "2026-11-30 15:48 （Asia/Shanghai）" in text
    assert "已持续 12 分钟" in text
    assert "**商户:** 张三便利店" in text
    assert "**电话:** 13800138000" in text
    assert "[处理手册](https://runbooks.example/gateway-down.md)" in text
    assert re.search(r"\[确认（认领）\]\(https://noc\.example/notify/ack\?t=[\w.%-]+\)", text)


def test_english_page_in_a_configured_zone(make_relay, clock):
    page = webhook([alert(7, starts_at="2026-11-30T05:30:00Z")])
    with FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay(
            {"noc": {"type": "wecom", "url": robot.url, "lang": "en", "tz": "Europe/Berlin"}}
        )
        assert post(f"http://127.0.0.1:{r.port}/alertmanager", page) == 200
        drain(r, clock)
    text = robot.accepted()[0].text()
    assert "FIRING: GatewayDown" in text
    assert "2026-11-30 06:30 （Europe/Berlin）" in text
    assert "for 2 h 30 min" in text
    assert "[Runbook](https://runbooks.example/gateway-down.md)" in text
    assert "[Acknowledge](" in text


def test_resolved_page_says_how_long_it_lasted(make_relay, clock):
    a = alert(7, status="resolved", starts_at="2026-11-30T07:00:00Z")
    a["endsAt"] = "2026-11-30T07:45:30.123456789Z"
    text = _one_message(make_relay, clock, "dingtalk", "en", webhook([a], status="resolved"))
    assert "RESOLVED: GatewayDown" in text
    assert "Resolved at 2026-11-30 15:45" in text
    assert "lasted 45 min" in text
    assert "Acknowledge" not in text  # nothing to acknowledge once it is over


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)]*)\)", markdown)


def test_hostile_labels_cannot_add_links_markup_or_mentions_in_markdown(make_relay, clock):
    page = webhook(
        [
            alert(
                7,
                extra_labels=HOSTILE,
                annotations={
                    "summary": "**x** [y](http://evil.example) <@all>",
                    "runbook_url": "javascript:alert(1)",
                },
            )
        ]
    )
    for kind, lang in (("dingtalk", "zh-CN"), ("wecom", "en")):
        text = _one_message(make_relay, clock, kind, lang, page, public_url="https://noc.example/n")
        assert all(url.startswith("https://noc.example/n/ack?t=") for url in _links(text)), _links(
            text
        )
        assert "evil.example" in text  # shown, as text
        assert "<" not in text
        assert "**boom**" not in text
        assert "**x**" not in text
        assert "@all" not in text
        body_lines = text.split("\n")[1:]
        assert not any(line.lstrip().startswith(("#", ">")) for line in body_lines), body_lines
        assert "javascript" not in text


def test_a_runbook_url_cannot_close_its_markdown_link(make_relay, clock):
    page = webhook(
        [alert(7, annotations={"runbook_url": "https://ok.example/a) [x](http://evil.example"})]
    )
    text = _one_message(make_relay, clock, "dingtalk", "en", page)
    runbook = [u for u in _links(text) if "ok.example" in u]
    assert runbook == ["https://ok.example/a%29%20%5Bx%5D%28http://evil.example"]
    assert not any("evil" in u and "ok.example" not in u for u in _links(text))


def test_feishu_post_carries_hostile_text_only_in_text_nodes(make_relay, clock):
    page = webhook([alert(7, extra_labels=HOSTILE)])
    with FakeRobot("feishu", monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay(
            {"noc": {"type": "feishu", "url": robot.url, "lang": "zh-CN"}},
            public_url="https://noc.example/n",
        )
        assert post(f"http://127.0.0.1:{r.port}/alertmanager", page) == 200
        drain(r, clock)
    post_body = robot.accepted()[0].body["content"]["post"]["zh_cn"]
    nodes = [n for row in post_body["content"] for n in row]
    assert {n["tag"] for n in nodes} <= {"text", "a"}
    hrefs = [n["href"] for n in nodes if n["tag"] == "a"]
    assert all(
        h.startswith(("https://runbooks.example/", "https://noc.example/n/ack?t=")) for h in hrefs
    )
    assert any("evil.example" in n["text"] for n in nodes if n["tag"] == "text")
    assert not any("\n" in n["text"] for n in nodes)


def test_a_big_group_fits_wecoms_4096_bytes_by_listing_fewer_alerts_in_full(make_relay, clock):
    long = "长" * 400  # 1200 bytes of summary per alert, cut to 300 characters when shown
    alerts = [alert(i, annotations={"summary": long}) for i in range(8)]
    with FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay({"noc": {"type": "wecom", "url": robot.url, "lang": "zh-CN"}})
        assert post(f"http://127.0.0.1:{r.port}/alertmanager", webhook(alerts)) == 200
        drain(r, clock)
    [msg] = robot.received
    assert msg.accepted, msg.answer
    text = msg.text()
    shown = len(re.findall(r"网关 gw-\d{4}", text))
    assert 1 <= shown < 5
    assert f"另有 {8 - shown} 条告警未列出（见控制台）" in text


def test_an_acquirer_spike_says_which_acquirer_in_both_languages(make_relay, clock):
    """The acquirer is the 'where' of PosfleetAcquirerFailureSpike: the desk calls its NOC."""
    spike = alert(
        1,
        alertname="PosfleetAcquirerFailureSpike",
        severity="critical",
        site="",
        extra_labels={"acquirer": "unionpay-sh", "gateway": ""},
        annotations={"summary": "Acquirer unionpay-sh: 80% of sales in north fail"},
    )
    zh = _one_message(make_relay, clock, "dingtalk", "zh-CN", webhook([spike]))
    assert "区域 north" in zh
    assert "收单机构 unionpay-sh" in zh
    en = _one_message(make_relay, clock, "wecom", "en", webhook([spike]))
    assert "acquirer unionpay-sh" in en


# ------------------------------------------------------------------ the page's language
# Every shipped rule carries `summary_zh` next to `summary` (docs/alerting.md); a zh-CN
# channel shows the Chinese one, an English channel the English one, in every format.

ZH = "门店 site-1（north）的网关 gw-0007 断线"  # PosfleetGatewayDown's summary_zh, filled in
EN = "Gateway gw-0007 at site site-1 (north) is down"  # alert()'s English summary
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _parsed(*alerts: dict[str, Any], status: str = "firing") -> Notification:
    n = parse(json.dumps(webhook(list(alerts), status=status)).encode())
    assert isinstance(n, Notification), n
    return n


def _single(lang: str, **annotations: str) -> Document:
    n = _parsed(alert(7, annotations=annotations))
    return render_single(n, lang, SHANGHAI, NOW, lambda _site: None, lambda _a: None)


def _digest(lang: str, **annotations: str) -> Document:
    carried = _parsed(alert(7, annotations=annotations))
    queued = _parsed(alert(8))
    return render_digest(
        [carried], [queued], lang, SHANGHAI, NOW, lambda _site: None, lambda _a: None
    )


def _feishu_texts(doc: Document, lang: str) -> list[str]:
    post = to_feishu_post(doc, lang)
    (body,) = post.values()
    return [node["text"] for row in body["content"] for node in row if node["tag"] == "text"]


def test_a_chinese_channel_shows_the_rules_chinese_summary_in_markdown_feishu_and_plain():
    doc = _single("zh-CN", summary_zh=ZH)
    _, markdown = to_markdown(doc)
    assert f"**内容:** {ZH}" in markdown
    assert ZH in _feishu_texts(doc, "zh-CN")
    assert f"内容: {ZH}" in to_plain(doc)
    for text in (markdown, "\n".join(_feishu_texts(doc, "zh-CN")), to_plain(doc)):
        assert "is down" not in text


def test_an_english_channel_keeps_the_english_summary_when_the_rule_has_a_chinese_one():
    doc = _single("en", summary_zh=ZH)
    _, markdown = to_markdown(doc)
    assert "**What:** Gateway gw-0007 at site site-1 （north） is down" in markdown
    assert EN in _feishu_texts(doc, "en")
    assert f"What: {EN}" in to_plain(doc)
    for text in (markdown, "\n".join(_feishu_texts(doc, "en")), to_plain(doc)):
        assert "断线" not in text


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, EN),  # an alert from a rule without Chinese text (someone's own rule)
        ({"summary_zh": ""}, EN),
        ({"summary_zh": " \n\t"}, EN),  # blank after cleaning: not an empty "what"
        ({"summary_zh": "", "summary": ""}, "GatewayDown"),  # nothing at all: the alert's name
    ],
)
def test_a_chinese_channel_falls_back_to_the_english_summary_without_a_chinese_one(
    annotations, expected
):
    assert f"内容: {expected}" in to_plain(_single("zh-CN", **annotations))
    assert f"【告警】{expected} · north/site-1/gw-0007" in to_plain(_digest("zh-CN", **annotations))


def test_a_chinese_channel_falls_back_to_the_collectors_summary_label():
    # An alert with no summary annotation at all: the engine's own label is the "what".
    a = alert(7, extra_labels={"summary": "Gateway gw-0007 down (will)"})
    del a["annotations"]["summary"]
    n = _parsed(a)
    doc = render_single(n, "zh-CN", SHANGHAI, NOW, lambda _site: None, lambda _a: None)
    assert "内容: Gateway gw-0007 down (will)" in to_plain(doc)


def test_a_digest_lists_each_alert_with_the_summary_in_the_channels_language():
    zh = to_plain(_digest("zh-CN", summary_zh=ZH))
    assert f"【告警】{ZH} · north/site-1/gw-0007" in zh
    assert "is down" not in zh
    en = to_plain(_digest("en", summary_zh=ZH))
    assert f"FIRING: {EN} · north/site-1/gw-0007" in en
    assert "断线" not in en
    _, markdown = to_markdown(_digest("zh-CN", summary_zh=ZH))
    assert f"**【告警】** {ZH} · north/site-1/gw-0007" in markdown


def test_a_resolved_chinese_page_shows_the_chinese_summary():
    a = alert(7, status="resolved", annotations={"summary_zh": ZH})
    a["endsAt"] = "2026-11-30T07:58:00Z"
    n = _parsed(a, status="resolved")
    doc = render_single(n, "zh-CN", SHANGHAI, NOW, lambda _site: None, lambda _a: None)
    assert doc.title == "【已恢复】GatewayDown"
    assert f"内容: {ZH}" in to_plain(doc)


def test_a_chinese_summary_is_cleaned_and_capped_like_the_english_one():
    # 300 characters in a page, 80 in a digest line; line breaks and controls are spaces.
    long = "断" * 400
    assert f"内容: {'断' * 299}…\n" in to_plain(_single("zh-CN", summary_zh=long))
    assert f"【告警】{'断' * 79}… · north/site-1/gw-0007" in to_plain(
        _digest("zh-CN", summary_zh=long)
    )
    doc = _single("zh-CN", summary_zh="门店\n### 标题\x07 断线")
    assert "内容: 门店 ### 标题 断线\n" in to_plain(doc)
    _, markdown = to_markdown(doc)
    assert "门店 ＃＃＃ 标题 断线" in markdown


def test_a_hostile_chinese_summary_cannot_add_links_or_mentions_in_markdown():
    doc = _single("zh-CN", summary_zh="**断线** [点我](http://evil.example) <@all>")
    _, markdown = to_markdown(doc)
    assert "＊＊断线＊＊ ［点我］（http://evil.example） ＜＠all＞" in markdown
    assert not any("evil" in url for url in _links(markdown))


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "sms"])
def test_every_channel_type_delivers_the_chinese_summary_to_a_chinese_channel(
    make_relay, clock, kind
):
    page = webhook([alert(7, annotations={"summary_zh": ZH})])
    channel: dict[str, Any] = {"type": "http" if kind == "sms" else kind, "lang": "zh-CN"}
    if kind == "sms":
        channel["to"] = ["13800138000"]
        channel["body"] = {"PhoneNumbers": "{to}", "Text": "{text}"}
    with FakeRobot(kind, monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay({"noc": {**channel, "url": robot.url}})
        assert post(f"http://127.0.0.1:{r.port}/alertmanager", page) == 200
        drain(r, clock)
    [msg] = robot.accepted()
    assert ZH in msg.text()
    assert "is down" not in msg.text()


def test_a_digest_to_a_chinese_robot_lists_the_chinese_summaries(make_relay, clock):
    # 30 pages at once: more than a DingTalk robot's window takes singly, so digests.
    pages = [
        webhook(
            [alert(i, annotations={"summary_zh": f"门店 site-1（north）的网关 gw-{i:04d} 断线"})]
        )
        for i in range(30)
    ]
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay({"noc": {"type": "dingtalk", "url": robot.url, "lang": "zh-CN"}})
        for page in pages:
            assert post(f"http://127.0.0.1:{r.port}/alertmanager", page) == 200
        drain(r, clock)
    texts = [m.text() for m in robot.accepted()]
    digests = [t for t in texts if "告警汇总" in t]
    assert digests
    every = "\n".join(texts)
    for i in range(30):
        assert f"门店 site-1（north）的网关 gw-{i:04d} 断线" in every
    assert "is down" not in every


# ------------------------------------------------------------------ the rule's description
# Every shipped rule carries `description` and `description_zh` (deploy/prometheus/rules);
# a page shows the one in the channel's language under its own label, in every format.

DZH = (
    "内容：网关停止应答（遗嘱消息、心跳超时或离线）。位置：区域 north，门店 site-1，网关 gw-0007。"
)
DEN = "What: the gateway stopped answering. Where: region north, site site-1, gateway gw-0007."


def test_a_chinese_page_shows_the_rules_chinese_description_in_markdown_feishu_and_plain():
    doc = _single("zh-CN", description_zh=DZH, description=DEN)
    _, markdown = to_markdown(doc)
    assert f"**说明:** {DZH}" in markdown  # its brackets and colons are full-width already
    assert DZH in _feishu_texts(doc, "zh-CN")
    assert f"说明: {DZH}\n" in to_plain(doc)
    for text in (markdown, "\n".join(_feishu_texts(doc, "zh-CN")), to_plain(doc)):
        assert "stopped answering" not in text


def test_an_english_page_shows_the_rules_english_description():
    doc = _single("en", description_zh=DZH, description=DEN)
    _, markdown = to_markdown(doc)
    assert f"**Details:** {DEN}" in markdown
    assert DEN in _feishu_texts(doc, "en")
    assert f"Details: {DEN}\n" in to_plain(doc)
    assert "停止应答" not in to_plain(doc)
    assert "Details" not in to_plain(_single("en"))  # no description, no empty line for it


@pytest.mark.parametrize("annotations", [{}, {"description_zh": ""}, {"description_zh": " \n"}])
def test_a_chinese_page_without_a_chinese_description_shows_the_english_one_under_a_chinese_label(
    annotations,
):
    doc = _single("zh-CN", description=DEN, **annotations)
    assert f"说明: {DEN}\n" in to_plain(doc)


def test_a_group_shows_its_rules_description_once_and_every_alert():
    n = _parsed(
        *(alert(i, annotations={"description_zh": f"网关 gw-{i:04d} 断线"}) for i in range(3))
    )
    text = to_plain(render_single(n, "zh-CN", SHANGHAI, NOW, lambda _s: None, lambda _a: None))
    assert text.count("说明:") == 1
    assert "说明: 网关 gw-0000 断线" in text
    assert all(f"网关 gw-{i:04d}" in text for i in range(3))


HOSTILE_TEXT = "**x** [点我](http://evil.example) <@all> @all\n### 标题\n> 引用"


def test_a_hostile_description_cannot_add_links_markup_headings_or_mentions_in_markdown():
    doc = _single("zh-CN", description_zh=HOSTILE_TEXT)
    _, markdown = to_markdown(doc)
    assert (
        "**说明:** ＊＊x＊＊ ［点我］（http://evil.example） ＜＠all＞ ＠all ＃＃＃ 标题 ＞ 引用"
        in markdown
    )
    assert not any("evil" in url for url in _links(markdown))
    assert "@all" not in markdown
    assert not any(line.lstrip().startswith(("#", ">")) for line in markdown.split("\n")[1:])


def test_a_hostile_description_stays_literal_text_in_a_feishu_post():
    doc = _single("zh-CN", description_zh=HOSTILE_TEXT)
    (body,) = to_feishu_post(doc, "zh-CN").values()
    nodes = [n for row in body["content"] for n in row]
    assert {n["tag"] for n in nodes} <= {"text", "a"}  # no "at" node: nobody is mentioned
    assert "**x** [点我](http://evil.example) <@all> @all ### 标题 > 引用" in [
        n["text"] for n in nodes
    ]
    assert not any("evil" in n.get("href", "") for n in nodes)


def test_a_digest_links_each_rules_runbook_once():
    carried = [_parsed(alert(7)), _parsed(alert(8))]
    doc = render_digest(carried, [], "zh-CN", SHANGHAI, NOW, lambda _s: None, lambda _a: None)
    _, markdown = to_markdown(doc)
    assert markdown.count("(https://runbooks.example/gateway-down.md)") == 1
    assert "**处理手册:** [GatewayDown](https://runbooks.example/gateway-down.md)" in markdown
    assert "处理手册: GatewayDown https://runbooks.example/gateway-down.md" in to_plain(doc)


def test_the_stores_address_is_on_the_page_and_cannot_add_markup(make_relay, clock, store_url):
    page = webhook([alert(7)])
    text = _one_message(make_relay, clock, "dingtalk", "zh-CN", page, db=_store(store_url))
    assert "**地址:** 上海市黄浦区人民路 1 号 ＊＊B1＊＊ ［x］（http://evil.example）" in text
    assert not any("evil" in url for url in _links(text))
    en = render_single(
        _parsed(alert(7)),
        "en",
        SHANGHAI,
        NOW,
        lambda _s: SiteInfo(name="People's Road", address="1 People's Road, Huangpu"),
        lambda _a: None,
    )
    assert "Address: 1 People's Road, Huangpu\n" in to_plain(en)


# ------------------------------------------------------------------ size limits
# Each robot refuses a message over its limit (the fakes check them independently: DingTalk
# body 20000 bytes, WeCom content 4096 bytes, Feishu body 20 KB); the SMS text is capped at
# 500 characters. A page too big is cut where it is longest, says so, and keeps its links.

LONG = {
    "description": "Long. " * 5000,
    "description_zh": "很长的说明。" * 5000,
}
LONG_LABELS = {k: "长" * 300 for k in ("site_name", "merchant", "terminal", "acquirer")}


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "sms"])
def test_a_page_over_the_channels_size_limit_is_cut_with_a_marker_and_keeps_its_links(
    make_relay, clock, kind
):
    page = webhook([alert(7, extra_labels=LONG_LABELS, annotations=LONG)])
    channel: dict[str, Any] = {"type": "http" if kind == "sms" else kind, "lang": "zh-CN"}
    if kind == "sms":
        channel["to"] = ["13800138000"]
        channel["body"] = {"PhoneNumbers": "{to}", "Text": "{text}"}
    with FakeRobot(kind, monotonic=clock.monotonic, wall=clock.time) as robot:
        r = make_relay({"noc": {**channel, "url": robot.url}}, public_url="https://noc.example/n")
        assert post(f"http://127.0.0.1:{r.port}/alertmanager", page) == 200
        drain(r, clock)
    assert robot.refused() == [], [m.answer for m in robot.refused()]
    [msg] = robot.accepted()
    text = msg.body["Text"] if kind == "sms" else msg.text()
    assert "说明" in text
    assert "很长的说明。很长的说明。" in text
    assert "…" in text  # the description, cut: at 1000 characters, and further if need be
    # Only WeCom's 4096 bytes and the SMS's 500 characters need more than the page's caps.
    assert ("部分内容已截断" in text) == (kind in ("wecom", "sms"))
    assert "https://runbooks.example/gateway-down.md" in text
    assert "https://noc.example/n/ack?t=" in text
    assert "区域 north" in text
    assert "2026-11-30 15:48" in text  # since when, never cut
    if kind == "sms":
        assert len(text) <= 500


def test_fit_leaves_a_message_that_fits_as_it_is_and_cuts_the_longest_text_first():
    doc = _single("en", description="d" * 400)
    assert fit(doc, lambda d: len(to_plain(d)), 10_000, "en") is doc
    small = fit(doc, lambda d: len(to_plain(d)), 500, "en")
    plain = to_plain(small)
    assert len(plain) <= 500
    assert plain.endswith(
        "(The message was over the robot's size limit and was cut: see the runbook or the console.)"
    )
    assert "Details: ddd" in plain
    assert "d…" in plain
    assert "What: " + EN in plain  # shorter texts are left whole
    assert "Runbook https://runbooks.example/gateway-down.md" in plain
    assert [Text("What: ", True), Text(EN)] in small.lines
