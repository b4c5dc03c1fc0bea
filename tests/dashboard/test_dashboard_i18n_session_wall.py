"""The login branch's screens in zh-CN and on the viewer's clock (issue #15, items 3, 8, 9,
12): the wall screen from ``?lang=zh-CN``, the session notices and logout, the confirmation
before a window ends early, the expected-recovery default two hours ahead in the viewer's
zone (stored UTC). The seeded store's clock is 2026-11-22 09:00 UTC, 17:00 in Shanghai."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from collector.store import db as store_db
from collector.store.times import to_db
from dashboard import i18n
from simulators.stack.seeded_store import NOW

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


def _app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def _log_in(at: AppTest, name: str = "olga") -> None:
    at.sidebar.text_input(key="login_user").input(name)
    at.sidebar.text_input(key="login_password").input(PASSWORD)
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception


def _by_label(widgets: Any, label: str) -> Any:
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r}: {[w.label for w in widgets]}"
    return found[0]


def _one(path: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = store_db.connect(path)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def _take_a_store_down(db: Path) -> str:
    """Every gateway of one store (all online, no window on it) down since 07:45 UTC."""
    conn = store_db.connect(db)
    try:
        site = conn.execute(
            "SELECT g.site_id FROM gateways g GROUP BY g.site_id HAVING SUM(CASE WHEN "
            "g.status = 'online' AND g.registered = 1 AND g.suspended = 0 AND "
            "g.decommissioned = 0 AND NOT EXISTS (SELECT 1 FROM maintenance_windows w "
            "WHERE w.ended_early_at IS NULL AND ("
            " (w.scope_type = 'site' AND w.scope_id = g.site_id) OR"
            " (w.scope_type = 'region' AND w.scope_id = g.region_id) OR"
            " (w.scope_type = 'model' AND w.scope_id = g.model) OR"
            " (w.scope_type = 'gateway' AND w.scope_id = g.gateway_id))) "
            "THEN 1 ELSE 0 END) = COUNT(*) ORDER BY g.site_id LIMIT 1"
        ).fetchone()[0]
        with conn:
            conn.execute(
                "UPDATE gateways SET status = 'down', status_since = ? WHERE site_id = ?",
                (to_db(NOW - timedelta(minutes=75)), site),
            )
    finally:
        conn.close()
    return str(site)


def _wall(at: AppTest) -> str:
    at.switch_page("views/wall.py").run()
    assert not at.exception, at.exception
    return "".join(str(e.proto.body) for e in at.get("html"))


def test_the_wall_in_chinese_from_the_url_on_the_consoles_clock(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    site = _take_a_store_down(fleet.path)
    page = _wall(_app({"lang": "zh-CN"}))
    assert "<span>设备监控大屏</span><span>更新于 2026-11-22 17:00（Asia/Shanghai）</span>" in page
    labels = re.findall(r'<div class="wall-label">(.*?)</div>', page)
    assert labels == ["网关", "终端", "交易"]
    tiles = re.findall(r'data-status="(\w+)".*?<div class="wall-l">(.*?)</div>', page)
    assert (
        tiles == [("down", "离线"), ("late", "延迟"), ("online", "在线"), ("unknown", "未知")] * 2
    )
    assert "维护中 " in page
    assert " · 已停用 " in page
    assert "离线门店：1 家" in page
    assert re.findall(r"<th>(.*?)</th>", page) == ["门店", "区域", "商户", "离线起始"]
    row = re.findall(r"<tr><td>(.*?)</td></tr>", page)
    assert len(row) == 1
    assert row[0].startswith(f"{site} ")
    # Down since 07:45 UTC: 15:45 on the Shanghai clock, 75 minutes ago in Chinese.
    assert row[0].endswith("<td>15:45（75分钟前）")
    # No English word of the page is left (CSS, ids and names aside).
    visible = re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)
    for english in (
        "Fleet wall", "updated", "Gateways", "Stores down", "down since", "online", "Sales",
        "no sales", "Shortfall",
    ):  # fmt: skip
        assert english not in visible


def test_the_wall_in_english_by_default_on_the_consoles_clock(fleet: Any) -> None:
    _take_a_store_down(fleet.path)
    page = _wall(_app())
    assert "<span>Fleet wall</span><span>updated 2026-11-22 09:00 (UTC)</span>" in page
    assert re.findall(r'<div class="wall-label">(.*?)</div>', page) == [
        "Gateways",
        "Terminals",
        "Sales",
    ]
    assert "Stores down: 1" in page
    assert re.findall(r"<th>(.*?)</th>", page) == ["store", "region", "merchant", "down since"]
    assert "<td>07:45 (75 minutes ago)</td></tr>" in page


def test_session_notices_and_logout_in_chinese(fleet: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    at = _app()
    _log_in(at)
    assert any(m.value == "已登录：**olga**（操作员）" for m in at.sidebar.markdown)
    assert [b.label for b in at.sidebar.button] == ["退出登录"]
    # Eight idle hours later the session is over, and the sidebar says why, in Chinese.
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(NOW + timedelta(hours=8)))
    at.run()
    assert [i.value for i in at.sidebar.info] == [
        "登录已失效（长时间无操作，或距登录时间过长），请重新登录。"
    ]
    _log_in(at)
    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert not at.exception
    assert _by_label(at.sidebar.button, "登录")  # the login form again


def test_ending_a_window_early_asks_first_in_chinese(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    # AppTest formats a picker's value with the page's ``format_func`` (``i18n.value``) in the
    # test's own thread, outside the script run, where the language is the default: the
    # options (drawn in Chinese) would not match. Say zh-CN there too; a browser needs nothing.
    monkeypatch.setattr(i18n, "current_lang", lambda: "zh-CN")
    at = _app()
    _log_in(at)
    at.switch_page("views/maintenance.py").run()
    picker = _by_label(at.selectbox, "维护窗口")
    picker.select(1)
    _by_label(at.button, "立即结束维护窗口").click().run()
    assert not at.exception, at.exception
    shown = [w.value.replace("\\", "") for w in at.warning]  # Markdown escapes aside
    asked = [w for w in shown if w.startswith("立即结束维护窗口 #1 门店 S000001 · ")]
    assert len(asked) == 1
    assert asked[0].endswith("窗口内仍处于离线状态的设备将作为新告警通知值班人员。")
    assert _by_label(at.button, "确定，立即结束")
    assert _by_label(at.button, "取消")
    _by_label(at.button, "确定，立即结束").click().run()
    assert not at.exception, at.exception
    assert _one(fleet.path, "SELECT ended_early_at FROM maintenance_windows WHERE id = 1") == (
        to_db(NOW),
    )
    assert [s.value for s in at.success] == ["提前结束维护窗口：已完成，已记入审计日志。"]


def test_the_recovery_default_is_two_hours_ahead_on_the_viewers_clock_and_stored_utc(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    at = _app({"open": "1"})
    _log_in(at)
    at.switch_page("views/incidents.py").run()
    day = _by_label(at.date_input, "预计恢复日期（Asia/Shanghai）").value
    hour = _by_label(at.time_input, "预计恢复时间（Asia/Shanghai）").value
    assert (str(day), str(hour)) == ("2026-11-22", "19:00:00")  # 17:00 in Shanghai + 2 h
    picker = _by_label(at.selectbox, "故障")
    picker.select(fleet.incident_id)
    started = _one(
        fleet.path, "SELECT started_at FROM incidents WHERE id = ?", (fleet.incident_id,)
    )
    label = next(o for o in picker.options if o.startswith(f"#{fleet.incident_id} "))
    # The start on the Shanghai clock (UTC + 8 h), in Chinese.
    from collector.store.times import from_db

    local = (from_db(started[0]) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert label.endswith(f" · 始于 {local}"), label
    _by_label(at.text_input, "原因").input("商场停电")
    _by_label(at.button, "保存").click().run()
    assert not at.exception, at.exception
    assert _one(
        fleet.path,
        "SELECT cause, expected_recovery_at FROM incidents WHERE id = ?",
        (fleet.incident_id,),
    ) == ("商场停电", "2026-11-22T11:00:00.000000+00:00")


def test_a_past_recovery_is_refused_on_the_viewers_clock_in_chinese_and_the_form_kept(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    at = _app({"open": "1"})
    _log_in(at)
    at.switch_page("views/incidents.py").run()
    _by_label(at.selectbox, "故障").select(fleet.incident_id)
    _by_label(at.text_input, "原因").input("商场停电")
    # 16:45 in Shanghai is 08:45 UTC: a quarter of an hour before the store's 09:00.
    _by_label(at.time_input, "预计恢复时间（Asia/Shanghai）").set_value(time(16, 45))
    _by_label(at.button, "保存").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "预计恢复时间 2026-11-22 16:45 已过：不能将已过去的时间告知商户，请选择一个将来的时间。"
    ]
    assert _by_label(at.text_input, "原因").value == "商场停电"  # kept, to be fixed
    assert _one(
        fleet.path, "SELECT expected_recovery_at FROM incidents WHERE id = ?", (fleet.incident_id,)
    ) == (None,)
