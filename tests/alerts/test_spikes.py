"""Failure spikes at a store: the thresholds (worked out by hand), then the whole path on a
real SQLite store (windows through the processor, the listener's fold and judgement): an
issuer outage at a store is one ``txn_failure_spike``; what is normal for that store at that
hour of the week (a Sunday is not a Monday) is not; cardholder declines never count."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from support.fleet_metrics import firing_labels

from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.alerts.spikes import SpikeSettings, dominant, spiking, threshold
from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.store.store import open_store
from telemetry.clock import FakeClock

SH = ZoneInfo("Asia/Shanghai")
S = SpikeSettings()


def _sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_threshold_is_the_floor_or_four_times_the_stores_usual_share() -> None:
    # No history: (0 + 0.01 * 50) / (0 + 50) = 1 %; x4 = 4 % < the 20 % floor.
    assert threshold(0, 0, S) == pytest.approx(0.2)
    # A store that usually times out 10 %: (100 + 0.5) / (1000 + 50) = 9.57 %; x4 = 38.3 %.
    assert threshold(100, 1000, S) == pytest.approx(4 * 100.5 / 1050)


def test_spiking_needs_volume_failures_and_share_and_clears_at_half() -> None:
    assert spiking(5, 10, 0.2, S, active=False) is True  # 50 % of 10
    assert spiking(4, 10, 0.2, S, active=False) is False  # under 5 failures
    assert spiking(5, 9, 0.2, S, active=False) is False  # under 10 attempts
    assert spiking(5, 30, 0.2, S, active=False) is False  # 16.7 % < 20 %
    assert spiking(3, 30, 0.2, S, active=True) is True  # 10 %: still above half (10 %)
    assert spiking(2, 30, 0.2, S, active=True) is False  # 6.7 %: cleared


class Rig:
    """One Shanghai store, terminal pp-1, 30 sales per 20-minute window around the clock."""

    def __init__(self, target: str, start: datetime) -> None:
        self.store = open_store(target)
        with self.store.transaction() as conn:
            upsert_rows(conn, "regions", [{"region_id": "east"}])
            upsert_rows(
                conn, "sites", [{"site_id": "s-sh", "region_id": "east", "tz": "Asia/Shanghai"}]
            )
            upsert_rows(
                conn, "gateways", [{"gateway_id": "gw-1", "site_id": "s-sh", "region_id": "east"}]
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
        listener = build_listener(
            self.store.conn,
            AlertSettings(poll_spikes_s=30),
            now=self.clock.now(),
            monotonic=self.clock.monotonic,
        )
        self.processor = Processor(
            self.store,
            LivenessTracker(),
            CollectorMetrics(CollectorRegistry()),
            queue.SimpleQueue(),
            listeners=[listener],
            clock=self.clock,
        )
        self.processor.process([LinkEvent(True, self.clock.now(), self.clock.monotonic())])

    def windows(
        self,
        start: datetime,
        end: datetime,
        mix: Any,
        acquirers: dict[str, Any] | None = None,
        terminal: str = "pp-1",
    ) -> None:
        """20-minute windows of ``terminal`` (behind gw-1); ``mix(local start) -> (outcomes,
        responses)``; with ``acquirers`` (name -> mix), one window per acquirer instead."""
        items = []
        t = start
        while t < end:
            until = t + timedelta(minutes=20)
            for acquirer, how in (acquirers or {"": mix}).items():
                outcomes, responses = how(t.astimezone(SH))
                body = {
                    "v": 1,
                    "gw": "gw-1",
                    "terminal": terminal,
                    "ts": int(until.timestamp()),
                    "since": int(t.timestamp()),
                    "until": int(until.timestamp()),
                    "outcomes": outcomes,
                    "responses": responses,
                    **({"acquirer": acquirer} if acquirer else {}),
                }
                items.append(
                    Received(
                        f"posfleet/v1/gw-1/terminal/{terminal}/transactions",
                        json.dumps(body).encode(),
                        self.clock.now(),
                        self.clock.monotonic(),
                    )
                )
            t = until
        self.processor.process(items)

    def live(self, until: datetime, mix: Any, acquirers: dict[str, Any] | None = None) -> None:
        """Windows as they happen: one every 20 minutes, the clock running."""
        while self.clock.now() < until:
            start = self.clock.now()
            self.clock.advance(20 * 60)
            self.windows(start, self.clock.now(), mix, acquirers)
            for _ in range(4):  # the listener's ticks between windows
                self.clock.advance(1)
                self.processor.process([])

    def spikes(self) -> list[tuple[str, str, str]]:
        return list(
            self.store.conn.execute(
                "SELECT subject_id, state, summary FROM alerts "
                "WHERE kind = 'txn_failure_spike' ORDER BY id"
            )
        )


def normal(local: datetime) -> tuple[dict[str, int], dict[str, int]]:
    # 30 sales: 1 issuer decline, 2 cardholder declines; Sunday 20:00-21:00 the line is
    # saturated by a nightly upload and 10 of 30 time out (normal for this store then).
    if local.weekday() == 6 and local.hour == 20:
        return {"approved": 20, "timed_out": 10}, {"approved": 20}
    return (
        {"approved": 27, "declined": 3},
        {"approved": 27, "cardholder_decline": 2, "issuer_unavailable": 1},
    )


def issuer_down(local: datetime) -> tuple[dict[str, int], dict[str, int]]:
    return {"approved": 18, "declined": 12}, {"approved": 18, "issuer_unavailable": 12}


def cardholders(local: datetime) -> tuple[dict[str, int], dict[str, int]]:
    return {"approved": 10, "declined": 20}, {"approved": 10, "cardholder_decline": 20}


def monday_saturated(local: datetime) -> tuple[dict[str, int], dict[str, int]]:
    return {"approved": 20, "timed_out": 10}, {"approved": 20}


@pytest.fixture
def rig(store_url: str) -> Iterator[Rig]:
    now = _sh("2026-11-29T19:00")  # a Sunday
    r = Rig(store_url, now)
    r.windows(now - timedelta(days=14), now, normal)
    yield r
    r.store.close()


def test_an_issuer_outage_at_the_store_is_one_spike_and_clears(rig: Rig) -> None:
    rig.live(_sh("2026-11-29T20:00"), normal)
    assert rig.spikes() == []
    rig.live(_sh("2026-11-29T20:00") + timedelta(minutes=40), issuer_down)
    ((site, state, summary),) = rig.spikes()
    assert (site, state) == ("s-sh", "firing")
    assert "issuer/network declines" in summary
    rig.live(_sh("2026-11-29T22:00"), normal)
    assert [(s, st) for s, st, _ in rig.spikes()] == [("s-sh", "resolved")]


def test_what_is_normal_on_sunday_evening_is_a_spike_on_monday(rig: Rig) -> None:
    rig.live(_sh("2026-11-29T21:00"), normal)  # Sunday 20:00-21:00: 1 in 3 time out, as usual
    assert rig.spikes() == []
    rig.live(_sh("2026-11-30T20:00"), normal)
    rig.live(_sh("2026-11-30T21:00"), monday_saturated)  # Monday 20:00: not usual
    ((site, state, summary),) = rig.spikes()
    assert (site, state) == ("s-sh", "firing")
    assert "time-outs" in summary


def test_cardholder_declines_are_never_a_spike(rig: Rig) -> None:
    rig.live(_sh("2026-11-29T21:00"), cardholders)
    assert rig.spikes() == []


def test_a_spike_names_the_acquirer_with_at_least_80_percent_of_its_failures() -> None:
    assert dominant({"acq-a": 8, "acq-b": 2}, 0.8) == "acq-a"  # 80 %: named
    assert dominant({"acq-a": 7, "acq-b": 3}, 0.8) == ""  # 70 %: spread
    assert dominant({"acq-a": 5, "acq-b": 5}, 0.8) == ""
    assert dominant({"acq-a": 0, "acq-b": 0}, 0.8) == ""


def _page(rig: Rig, url: str) -> tuple[str, dict[str, str]]:
    """The spike's stored acquirer and its posfleet_alert_firing labels, as scraped."""
    (details,) = rig.store.conn.execute(
        "SELECT details FROM alerts WHERE kind = 'txn_failure_spike' AND state = 'firing'"
    ).fetchone()
    (labels,) = firing_labels(url)
    return json.loads(details)["acquirer"], labels


def test_a_store_spike_on_one_acquirer_names_it_so_that_acquirers_spike_can_inhibit_it(
    rig: Rig, store_url: str
) -> None:
    rig.live(_sh("2026-11-29T20:00"), normal)
    # The store's issuer declines all come through acq-a; acq-b's sales there go through.
    both = {"acq-a": issuer_down, "acq-b": lambda _: ({"approved": 5}, {"approved": 5})}
    rig.live(_sh("2026-11-29T20:40"), normal, both)
    acquirer, labels = _page(rig, store_url)
    assert acquirer == "acq-a"
    assert (labels["alertname"], labels["site"], labels["region"]) == (
        "txn_failure_spike", "s-sh", "east"
    )  # fmt: skip
    assert labels["acquirer"] == "acq-a"
    assert labels["summary"].endswith("(on acquirer acq-a)")


def test_a_spikes_details_row_that_is_not_json_names_no_acquirer_and_the_scrape_goes_on(
    rig: Rig, store_url: str
) -> None:
    rig.live(_sh("2026-11-29T20:00"), normal)
    rig.live(_sh("2026-11-29T20:40"), issuer_down)
    for bad in ("not json", "[1, 2]", "null"):
        with rig.store.transaction() as conn:
            conn.execute("UPDATE alerts SET details = ? WHERE kind = 'txn_failure_spike'", (bad,))
        (labels,) = firing_labels(store_url)
        assert (labels["alertname"], labels["site"], labels["acquirer"]) == (
            "txn_failure_spike", "s-sh", ""
        )  # fmt: skip


def test_a_store_spike_spread_over_acquirers_names_none(rig: Rig, store_url: str) -> None:
    rig.live(_sh("2026-11-29T20:00"), normal)
    rig.live(_sh("2026-11-29T20:40"), normal, {"acq-a": issuer_down, "acq-b": issuer_down})
    acquirer, labels = _page(rig, store_url)
    assert acquirer == ""
    assert labels["acquirer"] == ""  # no label: no acquirer's spike inhibits it


def test_a_spike_on_an_acquirer_the_counters_call_other_names_none(
    rig: Rig, store_url: str
) -> None:
    # 20 acquirers counted by name already: a 21st counts as 'other' (ACQUIRERS_MAX), a
    # label shared with others, whose spike would not explain this store.
    with rig.store.transaction() as conn:
        for i in range(20):
            conn.execute(
                "INSERT INTO txn_totals (dim, key, region_id, acquirer, n) "
                "VALUES ('class', 'approved', 'east', ?, 1)",
                (f"acq-{i:02d}",),
            )
    rig.live(_sh("2026-11-29T20:00"), normal)
    rig.live(_sh("2026-11-29T20:40"), normal, {"acq-late": issuer_down})
    acquirer, labels = _page(rig, store_url)
    assert acquirer == ""
    assert labels["acquirer"] == ""


@pytest.mark.parametrize("west", ["acq-a", "acq-b"])
def test_a_store_spike_goes_to_one_region_whatever_its_acquirers_are_called(
    rig: Rig, store_url: str, west: str
) -> None:
    """A store whose terminals disagree on their region (pp-2 has one of its own) pages one
    region, the greatest its windows give (as before acquirers were told apart), whichever
    acquirer's windows the store reads first: not the region of the first row read."""
    with rig.store.transaction() as conn:
        upsert_rows(
            conn,
            "terminals",
            [{"terminal_id": "pp-2", "gateway_id": "gw-1", "site_id": "s-sh", "region_id": "west"}],
        )
    east = "acq-b" if west == "acq-a" else "acq-a"
    rig.live(_sh("2026-11-29T20:00"), normal)
    while rig.clock.now() < _sh("2026-11-29T20:40"):
        start = rig.clock.now()
        rig.clock.advance(20 * 60)
        fine = {west: lambda _: ({"approved": 5}, {"approved": 5})}
        rig.windows(start, rig.clock.now(), normal, fine, terminal="pp-2")
        rig.windows(start, rig.clock.now(), normal, {east: issuer_down})
        rig.clock.advance(31)  # the spike poll after both terminals' windows
        rig.processor.process([])
    acquirer, labels = _page(rig, store_url)
    assert acquirer == east
    assert (labels["site"], labels["region"]) == ("s-sh", "west")
