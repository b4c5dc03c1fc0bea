"""Silent terminals: the baseline arithmetic (values worked out by hand), then the whole path
on a real SQLite store: transaction windows through the collector's processor, the alert
listener's fold and judgement, a ``terminal_silent`` alert in open hours and none at night."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.alerts.silence import (
    SilenceSettings,
    expected_count,
    hour_of_week,
    is_silent,
    rates_of,
    split_hours,
)
from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.store.store import open_store
from telemetry.clock import FakeClock
from telemetry.codec import encode
from telemetry.models import Heartbeat
from telemetry.topics import Kind as TopicKind
from telemetry.topics import topic_for

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def _sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


# ---------------------------------------------------------------- arithmetic


def test_hour_of_week_is_local_monday_based() -> None:
    # 2026-11-30 is a Monday: 10:40 in Shanghai is bucket 10; 02:40 UTC the same instant.
    assert hour_of_week(_sh("2026-11-30T10:40"), SH) == 10
    assert hour_of_week(datetime(2026, 11, 29, 23, 0, tzinfo=UTC), SH) == 7  # Mon 07:00 SH
    assert hour_of_week(_sh("2026-12-06T23:59"), SH) == 167  # Sunday 23:59


def test_split_hours_cuts_at_local_hours_and_across_a_dst_switch() -> None:
    assert split_hours(_sh("2026-11-30T09:40"), _sh("2026-11-30T10:20"), SH) == [
        (9, 20 / 60),
        (10, 20 / 60),
    ]
    # Berlin springs forward on Sunday 2026-03-29 at 02:00 -> 03:00: 01:30..03:30 local is
    # 1 real hour and a half: 01:30-02:00 (bucket Sun 01 = 145), 03:00-03:30 (Sun 03 = 147).
    start = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    end = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == 3600.0
    pieces = split_hours(start.astimezone(UTC), end.astimezone(UTC), BERLIN)
    assert pieces == [(145, 0.5), (147, 0.5)]


_QUARTER = timedelta(minutes=15)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _split_by_quarters(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[int, float]]:
    """The definition, from UTC only: every instant's local hour of week, runs of the same
    hour joined. Zone offsets are whole quarter hours, and so are the UTC instants they
    change at, so a local hour can begin or end only on a UTC quarter hour: each quarter's
    hour is that of its first instant (it must be that of its last, asserted). No local time
    is ever turned back into UTC, as the walk under test does."""
    runs: list[list[Any]] = []  # [hour of week, from, to]
    t = start
    while t < end:
        quarter_end = min(_EPOCH + ((t - _EPOCH) // _QUARTER + 1) * _QUARTER, end)
        first, last = t.astimezone(tz), (quarter_end - timedelta(microseconds=1)).astimezone(tz)
        assert first.utcoffset() == last.utcoffset(), "an offset changed inside a quarter"
        assert first.utcoffset() % _QUARTER == timedelta(0), "not a quarter-hour offset"
        how = first.weekday() * 24 + first.hour
        assert how == last.weekday() * 24 + last.hour
        if runs and runs[-1][0] == how:
            runs[-1][2] = quarter_end
        else:
            runs.append([how, t, quarter_end])
        t = quarter_end
    return [(how, (to - fro).total_seconds() / 3600) for how, fro, to in runs]


def test_split_hours_when_clocks_go_back_two_hours() -> None:
    # Troll station goes back from +02 to +00 at 01:00 UTC on Sunday 2026-10-25: 00:30-03:30
    # UTC is 02:30-03:00 local (Sun 02 = 146), then 01:00-02:00 (145), 02:00-03:00 (146)
    # and 03:00-03:30 (147). Cutting at the next wall hour, 03:00, made it 146 for 2.5 h.
    troll = ZoneInfo("Antarctica/Troll")
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert split_hours(start, start + timedelta(hours=3), troll) == [
        (146, 0.5),
        (145, 1.0),
        (146, 1.0),
        (147, 0.5),
    ]


def test_split_hours_across_a_change_of_offset_inside_a_local_hour() -> None:
    # Chatham goes back from +13:45 to +12:45 at 14:00 UTC on Sunday 2026-04-05 local (03:45
    # -> 02:45): 14:00-14:15 UTC is 02:45-03:00 (Sun 02 = 146), 14:15-15:00 is 03:00-03:45
    # (147). It was one hour of 146.
    chatham = ZoneInfo("Pacific/Chatham")
    start = datetime(2026, 4, 4, 14, tzinfo=UTC)
    assert split_hours(start, start + timedelta(hours=1), chatham) == [(146, 0.25), (147, 0.75)]


def test_split_hours_at_half_hour_offsets_keeps_a_local_hour_across_two_utc_hours_whole() -> None:
    # Kolkata is +05:30: its 10:00-11:00 is 04:30-05:30 UTC, one piece, not two.
    kolkata = ZoneInfo("Asia/Kolkata")
    start = datetime(2026, 11, 30, 4, 40, tzinfo=UTC)  # Mon 10:10 local
    assert split_hours(start, start + timedelta(minutes=60), kolkata) == [
        (10, 50 / 60),
        (11, 10 / 60),
    ]


def test_split_hours_in_a_repeated_wall_hour_after_clocks_go_back() -> None:
    # Chatham goes back from +13:45 to +12:45 at 03:45 local on Sunday 2026-04-05 (14:00
    # UTC): 14:59:59-15:00 UTC is 03:44:59 local, Sunday's hour 3 (6 * 24 + 3), though the
    # walk from 14:00 UTC (02:45 local, again) cuts no boundary in that hour. Found by the
    # property test below.
    chatham = ZoneInfo("Pacific/Chatham")
    start = datetime(2026, 4, 4, 14, 59, 59, tzinfo=UTC)
    split_hours(datetime(2026, 4, 4, 14, tzinfo=UTC), start, chatham)  # the hour seen first
    assert split_hours(start, start + timedelta(seconds=1), chatham) == [(147, 1 / 3600)]


@settings(max_examples=400, deadline=None)
@given(
    zone_name=st.sampled_from(
        [
            "UTC",
            "Asia/Shanghai",
            "Europe/Berlin",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",  # a 30-minute DST shift
            "Antarctica/Troll",  # a two-hour DST shift (Europe's dates, from +00 to +02)
            "America/St_Johns",
            "Pacific/Chatham",
            "Pacific/Apia",  # skipped 2011-12-30 whole
        ]
    ),
    near=st.sampled_from(
        [
            datetime(2026, 3, 29, 1, tzinfo=UTC),  # Europe springs forward
            datetime(2026, 10, 25, 1, tzinfo=UTC),  # ... and falls back
            datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe falls back half an hour
            datetime(2026, 10, 3, 15, tzinfo=UTC),  # ... and springs forward
            datetime(2011, 12, 30, 10, tzinfo=UTC),  # Apia's missing day
            datetime(2026, 11, 30, 0, tzinfo=UTC),
        ]
    ),
    start_s=st.floats(min_value=-6 * 3600, max_value=6 * 3600),
    length_s=st.one_of(
        st.sampled_from([0.0, 1.0, 1200.0, 3600.0]), st.floats(min_value=0, max_value=8 * 86400)
    ),
)
def test_split_hours_cuts_where_the_local_hour_of_the_week_changes(
    zone_name: str, near: datetime, start_s: float, length_s: float
) -> None:
    # split_hours reuses each UTC hour's local cuts across windows: the pieces and their
    # lengths must be exactly the definition's, around every kind of zone transition.
    tz = ZoneInfo(zone_name)
    start = near + timedelta(seconds=start_s)
    end = start + timedelta(seconds=length_s)
    assert split_hours(start, end, tz) == _split_by_quarters(start, end, tz)
    assert split_hours(start.astimezone(tz), end, tz) == _split_by_quarters(start, end, tz)


def test_expected_count_sums_each_hours_rate() -> None:
    rates = {9: 12.0, 10: 30.0}  # Monday 09:00 12/h, 10:00 30/h
    # 09:30..10:20: half an hour at 12/h (6) + 20 minutes at 30/h (10) = 16
    assert expected_count(
        rates, _sh("2026-11-30T09:30"), _sh("2026-11-30T10:20"), SH
    ) == pytest.approx(16.0)


def test_rates_need_enough_history_and_a_closed_hour_is_zero() -> None:
    assert rates_of([(9, 24.0, 2.0), (10, 5.0, 1.0), (22, 0.0, 3.0)], 1.5) == {9: 12.0, 22: 0.0}


def test_silence_needs_the_floor_and_the_expected_count() -> None:
    s = SilenceSettings(expected=7, floor_s=1800)
    rates = {10: 30.0}
    last = _sh("2026-11-30T10:00")
    # 20 minutes at 30/h = 10 expected, but under the 30-minute floor: not yet.
    assert is_silent(rates, last, _sh("2026-11-30T10:20"), SH, s)[0] is False
    silent, expected = is_silent(rates, last, _sh("2026-11-30T10:30"), SH, s)
    assert silent is True
    assert expected == pytest.approx(15.0)
    # A quiet terminal (2/h): 3 hours without a sale is 6 expected: still normal.
    quiet = {h: 2.0 for h in range(9, 13)}
    quiet_silent, quiet_expected = is_silent(quiet, last, _sh("2026-11-30T13:00"), SH, s)
    assert quiet_silent is False
    assert quiet_expected == pytest.approx(6.0)


# ---------------------------------------------------------------- the whole path


class Rig:
    """A Shanghai store trading 09:00-21:00 (10 sales per 20-minute window): PIN pad pp-1
    behind gateway gw-1, and pos-9, an all-in-one POS (the gateway is the payment device)."""

    DEVICES = ("pp-1", "pos-9")

    def __init__(self, target: str, start: datetime) -> None:
        self.store = open_store(target)
        with self.store.transaction() as conn:
            upsert_rows(conn, "regions", [{"region_id": "east"}])
            upsert_rows(
                conn, "sites", [{"site_id": "s-sh", "region_id": "east", "tz": "Asia/Shanghai"}]
            )
            upsert_rows(
                conn,
                "gateways",
                [
                    {"gateway_id": g, "site_id": "s-sh", "region_id": "east"}
                    for g in ("gw-1", "pos-9")
                ],
            )
            upsert_rows(
                conn,
                "terminals",
                [
                    {
                        "terminal_id": "pp-1",
                        "gateway_id": "gw-1",
                        "site_id": "s-sh",
                        "region_id": "east",
                    }
                ],
            )
        self.clock = FakeClock(start.astimezone(UTC))
        settings = AlertSettings(poll_silence_s=30)
        listener = build_listener(
            self.store.conn, settings, now=self.clock.now(), monotonic=self.clock.monotonic
        )
        self.processor = Processor(
            self.store,
            LivenessTracker(),
            CollectorMetrics(CollectorRegistry()),
            queue.SimpleQueue(),
            listeners=[listener],
            clock=self.clock,
        )
        self.seq = 0
        self.stuck: dict[str, datetime] = {}  # device -> stuck from (no sale from then on)
        self.next_window = start.astimezone(UTC)
        self.send([LinkEvent(True, self.clock.now(), self.clock.monotonic())])

    def send(self, items: list[Any]) -> None:
        self.processor.process(items)

    def _rx(self, topic: str, body: bytes) -> Received:
        return Received(topic, body, self.clock.now(), self.clock.monotonic())

    def windows(self, start: datetime, end: datetime, *, historical: bool = False) -> None:
        """Every device's 20-minute windows in [start, end): 10 sales in open hours, none
        closed or stuck, the last sale 2 minutes before a window ends."""
        items = []
        t = start
        while t < end:
            until = t + timedelta(minutes=20)
            for dev in self.DEVICES:
                stuck = self.stuck.get(dev)
                local = t.astimezone(SH)
                n = 10 if 9 <= local.hour < 21 and (stuck is None or t < stuck) else 0
                body: dict[str, Any] = {
                    "v": 1,
                    "gw": "gw-1" if dev == "pp-1" else dev,
                    "ts": int(until.timestamp()),
                    "since": int(t.timestamp()),
                    "until": int(until.timestamp()),
                    "outcomes": {"approved": n},
                    "responses": {"approved": n},
                }
                if historical:
                    body["historical"] = True
                topic = f"posfleet/v1/{dev}/transactions"
                if dev == "pp-1":
                    body["terminal"] = dev
                    topic = "posfleet/v1/gw-1/terminal/pp-1/transactions"
                if n:
                    body["last_txn_at"] = int((until - timedelta(minutes=2)).timestamp())
                    body["approved_amount"] = 100 * n
                    body["currency"] = "CNY"
                items.append(self._rx(topic, json.dumps(body).encode()))
            t = until
        self.send(items)

    def beat(self) -> None:
        self.seq += 1
        now = self.clock.now()
        beats = [
            Heartbeat(gw="gw-1", ts=now, session=1, seq=self.seq, interval=60),
            Heartbeat(gw="gw-1", terminal="pp-1", ts=now, session=1, seq=self.seq, interval=60),
            Heartbeat(gw="pos-9", ts=now, session=1, seq=self.seq, interval=60),
        ]
        self.send(
            [
                self._rx(topic_for(hb.gw, TopicKind.HEARTBEAT, hb.terminal), encode(hb))
                for hb in beats
            ]
        )

    def history(self, days: int) -> None:
        self.windows(self.next_window - timedelta(days=days), self.next_window)
        self.beat()

    def live(self, until: datetime, *, windows: bool = True) -> None:
        """Time passes a minute at a time with heartbeats (everything stays online); each
        window is sent when it closes (unless ``windows`` is False: the reports stop)."""
        while self.clock.now() < until:
            self.clock.advance(60)
            self.beat()
            if windows and self.clock.now() >= self.next_window + timedelta(minutes=20):
                self.windows(self.next_window, self.next_window + timedelta(minutes=20))
                self.next_window += timedelta(minutes=20)

    def silent(self) -> list[tuple[str, str, str]]:
        return list(
            self.store.conn.execute(
                "SELECT subject_type, subject_id, state FROM alerts "
                "WHERE kind = 'terminal_silent' ORDER BY id"
            )
        )

    def fired_at(self, dev: str) -> datetime | None:
        row = self.store.conn.execute(
            "SELECT fired_at FROM alerts WHERE kind = 'terminal_silent' AND subject_id = ? "
            "AND fired_at IS NOT NULL",
            (dev,),
        ).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])


@pytest.fixture
def open_hours(store_url: str) -> Iterator[Rig]:
    # Monday 2026-11-30, 10:00 Shanghai; two weeks of history before it.
    rig = Rig(store_url, _sh("2026-11-30T10:00"))
    rig.history(14)
    yield rig
    rig.store.close()


def test_an_online_terminal_that_stops_taking_money_in_open_hours_is_silent(
    open_hours: Rig,
) -> None:
    rig = open_hours
    # pp-1's last sale is at 09:58; its agent keeps reporting empty windows; it stays online.
    rig.stuck["pp-1"] = _sh("2026-11-30T10:00")
    rig.live(_sh("2026-11-30T10:39"))
    # Its reports go to 10:20 so far: 22 minutes without a sale, under the 30-minute floor.
    assert rig.silent() == []
    rig.live(_sh("2026-11-30T10:42"))  # the 10:20-10:40 window arrives: 42 minutes
    assert rig.silent() == [("terminal", "pp-1", "firing")]
    fired = rig.fired_at("pp-1")
    assert fired is not None
    assert _sh("2026-11-30T10:40") <= fired <= _sh("2026-11-30T10:41")
    summary = rig.store.conn.execute(
        "SELECT summary FROM alerts WHERE kind = 'terminal_silent'"
    ).fetchone()[0]
    assert "Terminal pp-1 at site s-sh" in summary
    assert "since 2026-11-30 09:58 store time" in summary
    # It takes money again: the next window clears it.
    del rig.stuck["pp-1"]
    rig.live(_sh("2026-11-30T11:02"))
    assert rig.silent() == [("terminal", "pp-1", "resolved")]


def test_an_all_in_one_pos_is_judged_as_a_payment_device(open_hours: Rig) -> None:
    rig = open_hours
    rig.stuck["pos-9"] = _sh("2026-11-30T10:00")
    rig.live(_sh("2026-11-30T10:42"))
    assert rig.silent() == [("gateway", "pos-9", "firing")]
    summary = rig.store.conn.execute(
        "SELECT summary FROM alerts WHERE kind = 'terminal_silent'"
    ).fetchone()[0]
    assert summary.startswith("POS pos-9 at site s-sh is online but has taken no transaction")


def test_when_the_reports_stop_altogether_it_is_silent_two_windows_later(
    open_hours: Rig,
) -> None:
    rig = open_hours
    rig.stuck["pp-1"] = _sh("2026-11-30T10:00")
    rig.live(_sh("2026-11-30T10:20"))  # the last report: the 10:00-10:20 window, empty
    rig.live(_sh("2026-11-30T11:06"), windows=False)
    assert rig.silent() == []  # judged up to 10:26: 28 minutes, 14 sales expected
    rig.live(_sh("2026-11-30T11:20"), windows=False)
    # Judged up to 40 minutes behind now: never before 11:08 (10:28, the 30-minute floor);
    # 15 sales expected a few minutes later (the empty 10:00 window lowered the baseline).
    fired = rig.fired_at("pp-1")
    assert fired is not None
    assert _sh("2026-11-30T11:08") <= fired <= _sh("2026-11-30T11:20")


def test_a_busy_store_opening_is_not_silent_before_its_first_window_arrives(store_url: str) -> None:
    rig = Rig(store_url, _sh("2026-11-30T08:00"))
    try:
        rig.history(14)  # the last sale was yesterday at 20:58
        rig.live(_sh("2026-11-30T09:30"))  # opens 09:00; the 09:00-09:20 window comes at 09:20
        assert rig.silent() == []
    finally:
        rig.store.close()


def test_a_closed_shop_is_never_silent_at_night(store_url: str) -> None:
    rig = Rig(store_url, _sh("2026-11-30T21:00"))
    try:
        rig.history(14)  # last sale 20:58
        rig.live(_sh("2026-12-01T00:30"))  # three and a half hours of closed shop
        assert rig.silent() == []
    finally:
        rig.store.close()


def test_a_terminal_without_history_is_not_judged(store_url: str) -> None:
    rig = Rig(store_url, _sh("2026-11-30T10:00"))
    try:
        rig.history(0)
        rig.windows(_sh("2026-11-30T09:00"), _sh("2026-11-30T10:00"))  # one hour: no baseline
        rig.stuck["pp-1"] = _sh("2026-11-30T10:00")
        rig.live(_sh("2026-11-30T11:30"))
        assert rig.silent() == []
    finally:
        rig.store.close()


def test_a_device_with_only_back_filled_history_is_not_judged_beyond_it(store_url: str) -> None:
    # Its history came (back-filled, e.g. after the agent's spool replay) but its first live
    # report is still queued somewhere: not silent, however long that takes.
    rig = Rig(store_url, _sh("2026-11-30T10:00"))
    try:
        rig.windows(rig.next_window - timedelta(days=14), rig.next_window, historical=True)
        rig.beat()
        rig.live(_sh("2026-11-30T11:30"), windows=False)
        assert rig.silent() == []
    finally:
        rig.store.close()


def test_one_window_from_a_clock_far_ahead_does_not_mask_the_silence_for_ever(
    open_hours: Rig,
) -> None:
    # The device's clock jumped to 2100 for one report (accepted: a live message may be
    # dated in the future). Its last_txn_at was kept as the latest sale, so every later
    # silence was "negative" and never judged, until 2100.
    ahead = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
    body = {
        "v": 1, "gw": "gw-1", "terminal": "pp-1", "ts": ahead + 1200, "since": ahead,
        "until": ahead + 1200, "outcomes": {"approved": 1}, "responses": {"approved": 1},
        "last_txn_at": ahead + 600,
    }  # fmt: skip
    rig = open_hours
    rig.send([rig._rx("posfleet/v1/gw-1/terminal/pp-1/transactions", json.dumps(body).encode())])
    rig.stuck["pp-1"] = _sh("2026-11-30T10:00")
    rig.live(_sh("2026-11-30T10:50"))
    assert rig.silent() == [("terminal", "pp-1", "firing")]
