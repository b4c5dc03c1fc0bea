"""The console in zh-CN and English, in the viewer's zone, through Streamlit's AppTest
(the seeded store of tests/dashboard/conftest.py; its clock is 2026-11-22 09:00 UTC, which
is 17:00 in Shanghai)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from collector.store import db as store_db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


def _app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> Iterator[str]:
    for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning"):
        for e in at.get(kind):
            yield str(e.value)
    for m in at.metric:
        yield str(m.label)
        yield str(m.value)


def _metric(at: AppTest, label: str) -> str:
    found = [m for m in at.metric if m.label == label]
    assert found, [m.label for m in at.metric]
    return str(found[0].value)


def test_the_overview_is_english_and_in_the_consoles_zone_by_default(fleet: Any) -> None:
    at = _app()
    assert at.title[0].value == "Fleet overview"
    assert _metric(at, "down") != ""  # the status labels are the English words
    captions = [str(c.value) for c in at.caption]
    assert "As of 2026-11-22 09:00 (UTC (UTC+00:00)); refreshed every 30 s" in captions
    assert "lang" not in at.query_params


def test_the_overview_in_chinese_from_posfleet_lang_with_shanghai_time(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    at = _app()
    assert at.title[0].value == "设备总览"
    assert [s.value for s in at.subheader][:2] == ["网关", "终端"]
    labels = [m.label for m in at.metric]
    assert labels[:7] == ["在线", "延迟", "离线", "未知", "维护中", "已停用", "已退役"]
    assert {"今日可用率", "本月可用率", "今日新增故障"} <= set(labels)
    # The availability is the value, short enough not to be cut; its downtime the line under.
    (month,) = [m for m in at.metric if m.label == "本月可用率"]
    assert re.fullmatch(r"\d+\.\d{3} %", str(month.value)), month.value
    assert re.fullmatch(r"离线 \d+ 分钟|离线不足 1 分钟", str(month.delta)), month.delta
    captions = [str(c.value) for c in at.caption]
    # 09:00 UTC is 17:00 in Shanghai: local wall time, the zone said once.
    assert "截至 2026-11-22 17:00（Asia/Shanghai (CST, UTC+08:00)），每 30 秒刷新" in captions
    assert "Fleet overview" not in "\n".join(_texts(at))
    # The sidebar too.
    assert at.sidebar.text_input[0].label == "搜索编号、序列号或商户"


def test_lang_in_the_url_wins_and_survives_a_page_switch(fleet: Any) -> None:
    at = _app({"lang": "zh-CN"})
    assert at.title[0].value == "设备总览"
    at.switch_page("views/alerts.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "告警"
    assert at.query_params["lang"] == "zh-CN"  # a link copied from here keeps the language
    # Filters show stored values translated, and keep the stored value in the URL.
    severity = next(s for s in at.selectbox if s.label == "级别")
    assert "严重" in severity.options
    severity.select("严重").run()  # AppTest picks by the text shown
    assert at.query_params["severity"] == "critical"
    table = at.dataframe[0].value
    assert set(table["severity"]) == {"严重"}
    # The store is untouched: stored values stay English ids.
    conn = store_db.connect(fleet.path)
    try:
        stored = {r[0] for r in conn.execute("SELECT DISTINCT severity FROM alerts")}
    finally:
        conn.close()
    assert "critical" in stored
    assert "严重" not in stored


def test_the_sidebar_switches_language_and_zone_for_this_viewer(fleet: Any) -> None:
    at = _app()
    lang = next(s for s in at.sidebar.selectbox if s.label == "Language")
    lang.select("中文").run()
    assert at.title[0].value == "设备总览"
    assert at.query_params["lang"] == "zh-CN"
    zone = next(s for s in at.sidebar.selectbox if s.label == "时区")
    zone.select("Europe/Berlin").run()
    captions = [str(c.value) for c in at.caption]
    assert "截至 2026-11-22 10:00（Europe/Berlin (CET, UTC+01:00)），每 30 秒刷新" in captions
    # Back to English from the sidebar: the URL forgets the language again.
    next(s for s in at.sidebar.selectbox if s.label == "语言").select("English").run()
    assert at.title[0].value == "Fleet overview"
    assert "lang" not in at.query_params


def test_a_gateway_page_in_chinese_shows_local_times_and_translated_status(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    at = _app({"lang": "zh-CN", "id": fleet.down_gateway})
    at.switch_page("views/detail.py")
    at.run()
    assert not at.exception
    assert at.header[0].value == f"网关 {fleet.down_gateway}"
    assert _metric(at, "状态") == "离线"
    conn = store_db.connect(fleet.path)
    try:
        since = conn.execute(
            "SELECT status_since FROM gateways WHERE gateway_id = ?", (fleet.down_gateway,)
        ).fetchone()[0]
    finally:
        conn.close()
    assert since.endswith("+00:00")  # stored: ISO UTC with microseconds
    # Shanghai is UTC+8 all year: the stored time plus eight hours, to the minute.
    expected = (datetime.fromisoformat(since) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert _metric(at, "状态起始").replace("\\", "") == expected
    # The timeline: local wall times and Chinese statuses, newest first.
    timeline = next(d.value for d in at.dataframe if "to_status" in d.value.columns)
    assert set(timeline["to_status"]) <= {"在线", "延迟", "离线", "未知"}
    stored_times = _column(fleet.path, fleet.down_gateway)
    assert list(timeline["at"]) == [
        (datetime.fromisoformat(v) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
        for v in stored_times
    ]


def _column(path: Any, gateway: str) -> list[str]:
    conn = store_db.connect(path)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT at FROM state_changes WHERE subject_type = 'gateway' AND subject_id = ? "
                "AND at >= ? ORDER BY at DESC LIMIT 500",  # the page's 30 days
                (gateway, to_db(NOW.replace(second=0, microsecond=0) - timedelta(days=30))),
            )
        ]
    finally:
        conn.close()


def test_today_starts_at_midnight_in_the_consoles_zone(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """09:00 UTC on 22 November is 17:00 in Shanghai: that day began at 16:00 UTC on the 21st
    (not at 00:00 UTC, which is 08:00 in Beijing)."""
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    at = _app()
    conn = store_db.connect(fleet.path)
    try:
        (shanghai_day,) = conn.execute(
            "SELECT COUNT(*) FROM state_changes WHERE to_status = 'down' AND at >= ? AND at <= ?",
            ("2026-11-21T16:00:00.000000+00:00", to_db(NOW)),
        ).fetchone()
        (utc_day,) = conn.execute(
            "SELECT COUNT(*) FROM state_changes WHERE to_status = 'down' AND at >= ? AND at <= ?",
            ("2026-11-22T00:00:00.000000+00:00", to_db(NOW)),
        ).fetchone()
    finally:
        conn.close()
    assert shanghai_day != utc_day  # the seeded store tells the two days apart
    assert _metric(at, "New outages today") == str(shanghai_day)


PAGES = {
    "views/overview.py": "设备总览",
    "views/alerts.py": "告警",
    "views/incidents.py": "故障与 SLA",
    "views/firmware.py": "固件",
    "views/maintenance.py": "维护",
    "views/oncall.py": "值班",
    "views/inventory.py": "资产清单",
    "views/audit.py": "审计日志",
    "views/detail.py": "网关 / 终端 / 门店",
}


@pytest.mark.parametrize(("page", "title"), PAGES.items())
def test_every_page_renders_in_chinese_for_an_operator(
    fleet: Any, page: str, title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    at = _app()
    at.sidebar.text_input(key="login_user").input("ada")
    at.sidebar.text_input(key="login_password").input("correct horse battery")
    at.sidebar.button[0].click()
    at.run()
    if page == "views/detail.py":
        at.query_params["id"] = "S000001"  # a store's page
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == title
    # Every label of every widget an admin sees on the page is Chinese (ids aside).
    widgets = [
        *at.button, *at.selectbox, *at.text_input, *at.number_input, *at.date_input,
        *at.time_input, *at.text_area, *at.toggle,
    ]  # fmt: skip
    english = [
        w.label
        for w in widgets
        if w.label and re.fullmatch(r"[\x00-\x7f]+", w.label) and w.label not in {"#"}
    ]
    assert not english, english
