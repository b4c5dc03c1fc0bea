"""The morning check's money tiles (issue #16): terminals online but taking no payment, stores
whose sales fail, shortfall cases past their follow-up, each counted from what the collector's
own processor and alert listener (tests/alerts' rigs) and the real reconciler wrote, each a
link to the list behind it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alerts import test_silence, test_spikes
from streamlit.testing.v1 import AppTest
from support.cases import open_case
from test_dashboard_morning import APP, morning

from collector.store.times import to_db

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RED, ORANGE, GREEN = "#d62728", "#ff7f0e", "#2ca02c"


def money(at: AppTest) -> dict[str, tuple[str, str, str]]:
    """count key -> (figure, colour, link) of the linked tiles."""
    body = next(h.proto.body for h in at.get("html") if "mc-tiles" in h.proto.body)
    return {
        key: (n, colour, href)
        for href, key, colour, n in re.findall(
            r'<a class="mc-tile" href="([^"]+)" target="_self" data-count="(\w+)" '
            r'style="background:(#\w+)"><div class="mc-n">([\d,]+)</div>',
            body,
        )
    }


def wall(path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, str]]:
    """The wall's money row in zh-CN: count key -> (figure, colour)."""
    monkeypatch.setenv("POSFLEET_DB", str(path))
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(now))
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/wall.py").run()
    assert not at.exception, at.exception
    body = next(h.proto.body for h in at.get("html") if "wall-row" in h.proto.body)
    assert '<div class="wall-label">交易</div>' in body
    return {
        key: (n, colour)
        for key, colour, n in re.findall(
            r'data-count="(\w+)" style="background:(#\w+)"><div class="wall-n">([\d,]+)</div>',
            body,
        )
    }


def test_a_stores_failing_sales_and_an_overdue_shortfall_case_are_counted_and_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "spike.sqlite"
    start = test_spikes._sh("2026-11-29T19:00")
    rig = test_spikes.Rig(str(path), start)
    try:
        rig.windows(start - timedelta(days=14), start, test_spikes.normal)
        rig.live(start + timedelta(hours=1), test_spikes.normal)
        rig.live(start + timedelta(hours=1, minutes=40), test_spikes.issuer_down)
        assert [(s, st) for s, st, _ in rig.spikes()] == [("s-sh", "firing")]
        now = rig.clock.now()
    finally:
        rig.store.close()
    at = morning(path, now, monkeypatch)
    tiles = money(at)
    assert tiles == {
        "terminals_silent": ("0", GREEN, "/alerts?kind=terminal_silent"),
        "txn_spikes": ("1", RED, "/alerts?kind=txn_failure_spike"),
        "cases_overdue": ("0", GREEN, "/cases?overdue=1"),
    }
    # A batch the acquirer settled 20.00 CNY short: a case opened now, its first follow-up
    # due a day later; nobody called by then.
    open_case(path, "gw-1", "pp-1", "B9", 500_000, "4980.00", now)
    assert money(morning(path, now + timedelta(hours=23), monkeypatch))["cases_overdue"][:2] == (
        "0",
        GREEN,
    )
    later = morning(path, now + timedelta(days=1, minutes=1), monkeypatch, lang="zh-CN")
    assert money(later)["cases_overdue"][:2] == ("1", ORANGE)
    body = next(h.proto.body for h in later.get("html") if "mc-tiles" in h.proto.body)
    assert "交易失败激增门店" in body
    assert "少刷钱案件跟进逾期" in body
    # The wall says the same, from across the room.
    assert wall(path, now + timedelta(days=1, minutes=1), monkeypatch) == {
        "terminals_silent": ("0", GREEN),
        "txn_spikes": ("1", RED),
        "cases_overdue": ("1", ORANGE),
    }


def test_a_terminal_online_without_sales_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "silent.sqlite"
    rig = test_silence.Rig(str(path), test_silence._sh("2026-11-30T10:00"))
    try:
        rig.history(14)
        rig.stuck["pp-1"] = test_silence._sh("2026-11-30T10:00")
        rig.live(test_silence._sh("2026-11-30T10:42"))
        assert rig.silent() == [("terminal", "pp-1", "firing")]
        now = rig.clock.now()
    finally:
        rig.store.close()
    tiles = money(morning(path, now, monkeypatch, lang="zh-CN", tz="Asia/Shanghai"))
    assert tiles["terminals_silent"] == ("1", RED, "/alerts?kind=terminal_silent")
    assert tiles["txn_spikes"][:2] == ("0", GREEN)
