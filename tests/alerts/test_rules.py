"""Telemetry alert kinds: network degraded, hardware, clock skew, firmware compliance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.alerts.model import AlertState, Key, Kind
from collector.alerts.rules import TelemetryRules
from collector.alerts.versions import FirmwarePolicy, compare
from collector.model import SubjectType
from telemetry.codec import Decoded
from telemetry.models import Firmware, Hardware, Heartbeat, Network, PrinterState
from telemetry.topics import Kind as TopicKind
from telemetry.topics import TopicRef

from .helpers import T0, Sim, site_engine


class Feed:
    """Messages through rules into the engine, as the listener does."""

    def __init__(self, **cfg: object) -> None:
        self.sim = Sim(site_engine({"s1": ["gw1"]}, {"gw1": ["t1"]}, **cfg))
        self.rules = TelemetryRules(self.sim.engine.settings)

    def send(self, msg: object, kind: TopicKind, terminal: str | None = None) -> None:
        decoded = Decoded(TopicRef("gw1", kind, terminal), msg)  # type: ignore[arg-type]
        engine = self.sim.engine
        verdicts = self.rules.evaluate(
            decoded, self.sim.now, engine.topology, engine.active.__contains__
        )
        engine.apply_verdicts(verdicts, self.sim.now)
        self.sim.tick()

    def state(self, kind: Kind, sid: str = "gw1") -> AlertState | None:
        return self.sim.state(kind, sid)


def net(feed: Feed, **values: float) -> None:
    feed.send(Network(gw="gw1", ts=feed.sim.now, **values), TopicKind.NETWORK)  # type: ignore[arg-type]


def test_network_degraded_raises_on_the_window_mean_and_clears_only_below_the_clear_threshold() -> (
    None
):
    feed = Feed(pending_network_degraded_s=0, network_window_s=300)
    for _ in range(5):
        net(feed, latency_ms=100)
        feed.sim.advance(30, step=30)
    net(feed, latency_ms=2000)  # one spike: mean (100*5+2000)/6 = 417 > 400
    assert feed.state(Kind.NETWORK_DEGRADED) is AlertState.FIRING
    for _ in range(4):
        feed.sim.advance(30, step=30)
        net(feed, latency_ms=300)
    # mean now within (250, 400): hysteresis keeps it raised
    assert feed.state(Kind.NETWORK_DEGRADED) is AlertState.FIRING
    for _ in range(12):
        feed.sim.advance(30, step=30)
        net(feed, latency_ms=100)
    assert feed.state(Kind.NETWORK_DEGRADED) is None


def test_weak_cellular_signal_and_loss_are_network_degraded() -> None:
    feed = Feed(pending_network_degraded_s=0)
    net(feed, rsrp_dbm=-120)
    assert feed.state(Kind.NETWORK_DEGRADED) is AlertState.FIRING
    alert = feed.sim.engine.active[Key(Kind.NETWORK_DEGRADED, SubjectType.GATEWAY, "gw1")]
    assert "signal -120 dBm" in alert.summary


def test_network_degraded_waits_its_pending_for_before_paging() -> None:
    feed = Feed(pending_network_degraded_s=120)
    net(feed, loss_pct=30)
    feed.sim.advance(119)
    assert feed.state(Kind.NETWORK_DEGRADED) is AlertState.PENDING
    feed.sim.advance(1)
    assert feed.state(Kind.NETWORK_DEGRADED) is AlertState.FIRING


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"printer": PrinterState.PAPER_OUT}, "printer paper_out"),
        ({"printer": PrinterState.ERROR}, "printer error"),
        ({"battery_pct": 5, "charging": False}, "battery 5 % and not charging"),
        ({"battery_health_pct": 40}, "battery health 40 %"),
        ({"temperature_c": 80}, "temperature 80 °C"),
        ({"storage_used_pct": 99}, "storage 99 % used"),
    ],
)
def test_terminal_hardware_faults_raise_a_hardware_fault_saying_what(
    fields: dict[str, object], why: str
) -> None:
    feed = Feed()
    feed.send(Hardware(gw="gw1", terminal="t1", ts=T0, **fields), TopicKind.HARDWARE, "t1")  # type: ignore[arg-type]
    alert = feed.sim.engine.active[Key(Kind.HARDWARE_FAULT, SubjectType.TERMINAL, "t1")]
    assert alert.state is AlertState.FIRING
    assert alert.summary == f"Terminal t1 (site s1) hardware fault: {why}"


def test_two_hardware_faults_are_one_alert_that_clears_when_both_are_fixed() -> None:
    feed = Feed()

    def hw(**fields: object) -> None:
        msg = Hardware(gw="gw1", terminal="t1", ts=T0, **fields)  # type: ignore[arg-type]
        feed.send(msg, TopicKind.HARDWARE, "t1")

    hw(printer=PrinterState.PAPER_OUT)
    hw(storage_used_pct=97)  # a message about storage only: the printer is still out
    alert = feed.sim.engine.active[Key(Kind.HARDWARE_FAULT, SubjectType.TERMINAL, "t1")]
    assert alert.summary.endswith("printer paper_out; storage 97 % used")
    hw(printer=PrinterState.OK)
    assert feed.state(Kind.HARDWARE_FAULT, "t1") is AlertState.FIRING
    hw(storage_used_pct=50)
    assert feed.state(Kind.HARDWARE_FAULT, "t1") is None
    assert feed.sim.pages() == [("hardware_fault", "t1")]


def test_paper_refilled_resolves_the_printer_alert() -> None:
    feed = Feed()
    feed.send(
        Hardware(gw="gw1", terminal="t1", ts=T0, printer=PrinterState.PAPER_OUT),
        TopicKind.HARDWARE,
        "t1",
    )
    feed.send(
        Hardware(gw="gw1", terminal="t1", ts=T0, printer=PrinterState.OK), TopicKind.HARDWARE, "t1"
    )
    assert feed.state(Kind.HARDWARE_FAULT, "t1") is None
    assert feed.sim.loud_resolves() == [("hardware_fault", "t1")]


def test_low_battery_while_charging_is_not_a_fault() -> None:
    feed = Feed()
    feed.send(Hardware(gw="gw1", ts=T0, battery_pct=5, charging=True), TopicKind.HARDWARE)
    assert feed.state(Kind.HARDWARE_FAULT) is None


def test_temperature_hysteresis_holds_between_thresholds() -> None:
    feed = Feed()
    for temp, expected in [(72, True), (67, True), (64, False), (69, False), (70, True)]:
        feed.send(Hardware(gw="gw1", ts=T0, temperature_c=temp), TopicKind.HARDWARE)
        assert (feed.state(Kind.HARDWARE_FAULT) is not None) is expected, temp


def heartbeat(feed: Feed, skew_s: float, historical: bool = False) -> None:
    ts = feed.sim.now + timedelta(seconds=skew_s)
    hb = Heartbeat(gw="gw1", ts=ts, session=1, seq=1, interval=30, historical=historical)
    feed.send(hb, TopicKind.HEARTBEAT)


def test_clock_skew_beyond_the_threshold_alerts_and_clears_with_hysteresis() -> None:
    feed = Feed()
    heartbeat(feed, -100)
    assert feed.state(Kind.CLOCK_SKEW) is None
    heartbeat(feed, -300)
    assert feed.state(Kind.CLOCK_SKEW) is AlertState.FIRING
    heartbeat(feed, 90)
    assert feed.state(Kind.CLOCK_SKEW) is AlertState.FIRING
    heartbeat(feed, 5)
    assert feed.state(Kind.CLOCK_SKEW) is None


def test_historical_backfill_is_not_clock_skew() -> None:
    feed = Feed()
    heartbeat(feed, -3600, historical=True)
    assert feed.sim.engine.active == {}


def test_firmware_below_minimum_or_not_approved_is_noncompliant() -> None:
    feed = Feed()
    feed.rules.policies = {"R1": FirmwarePolicy("R1", min_version="3.2.0")}
    feed.send(Firmware(gw="gw1", ts=T0, model="R1", os="3.10.1"), TopicKind.FIRMWARE)
    assert feed.state(Kind.FIRMWARE_NONCOMPLIANT) is None
    feed.send(Firmware(gw="gw1", ts=T0, model="R1", os="3.2.0-rc2"), TopicKind.FIRMWARE)
    assert feed.state(Kind.FIRMWARE_NONCOMPLIANT) is AlertState.FIRING
    feed.rules.policies = {"R1": FirmwarePolicy("R1", approved=frozenset({"3.3"}))}
    feed.send(Firmware(gw="gw1", ts=T0, model="R1", os="3.3"), TopicKind.FIRMWARE)
    assert feed.state(Kind.FIRMWARE_NONCOMPLIANT) is None


def test_model_past_end_of_support_is_noncompliant_whatever_the_version() -> None:
    policy = FirmwarePolicy("R1", min_version="1.0", end_of_support=T0 - timedelta(days=1))
    assert policy.violation("9.9", T0) == "model R1 is past end of support (2026-03-01)"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.10", "1.9", 1),
        ("v2.0", "2.0.0", 0),
        ("2.0-rc1", "2.0", -1),
        ("2.0.1", "2.0-rc1", 1),
        ("10.0.0", "9.99.99", 1),
        ("1.2a", "1.2b", -1),
    ],
)
def test_versions_compare_numerically_with_prereleases_first(a: str, b: str, expected: int) -> None:
    assert compare(a, b) == expected


versions = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(
    lambda xs: ".".join(map(str, xs))
)


@given(versions, versions, versions)
def test_version_order_is_a_total_order(a: str, b: str, c: str) -> None:
    assert compare(a, b) == -compare(b, a)
    if compare(a, b) <= 0 and compare(b, c) <= 0:
        assert compare(a, c) <= 0
    as_ints = [int(x) for x in a.split(".")]
    bs_ints = [int(x) for x in b.split(".")]
    n = max(len(as_ints), len(bs_ints))
    pad_a, pad_b = as_ints + [0] * (n - len(as_ints)), bs_ints + [0] * (n - len(bs_ints))
    assert compare(a, b) == (pad_a > pad_b) - (pad_a < pad_b)
