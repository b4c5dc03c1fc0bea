"""Message factories for sink tests (accepted messages, as the processing loop sees them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemetry.codec import Decoded
from telemetry.models import Event, Firmware, Hardware, Heartbeat, Network, Status
from telemetry.topics import Kind, TopicRef


def recent(seconds_ago: float = 60.0) -> datetime:
    # Timestamps near now: victoria-metrics rejects samples outside its retention window.
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).replace(microsecond=0)


def heartbeat(gw: str, seq: int, ts: datetime, terminal: str | None = None) -> Decoded:
    msg = Heartbeat(
        gw=gw,
        ts=ts,
        terminal=terminal,
        session=1,
        seq=seq,
        interval=1.0,
        load1=seq / 100,
        mem_used_pct=42.5,
    )
    return Decoded(TopicRef(gw, Kind.HEARTBEAT, terminal), msg)


def network(gw: str, ts: datetime) -> Decoded:
    msg = Network(gw=gw, ts=ts, link="cellular", rsrp_dbm=-97.0, latency_ms=81.5, dns_ok=True)
    return Decoded(TopicRef(gw, Kind.NETWORK), msg)


def hardware(gw: str, ts: datetime, terminal: str) -> Decoded:
    msg = Hardware(
        gw=gw,
        ts=ts,
        terminal=terminal,
        battery_pct=64.0,
        battery_cycles=311,
        charging=False,
        printer="paper_low",
    )
    return Decoded(TopicRef(gw, Kind.HARDWARE, terminal), msg)


def status(gw: str, ts: datetime, online: bool) -> Decoded:
    msg = Status(
        gw=gw,
        ts=ts,
        state="online" if online else "offline",
        session=3,
        reason=None if online else "connection_lost",
    )
    return Decoded(TopicRef(gw, Kind.STATUS), msg)


def firmware(gw: str, ts: datetime) -> Decoded:
    msg = Firmware(gw=gw, ts=ts, model="A920 Pro", os="Android 10", payment_app="pay=2.1")
    return Decoded(TopicRef(gw, Kind.FIRMWARE), msg)


def event(gw: str, ts: datetime) -> Decoded:
    msg = Event(
        gw=gw,
        ts=ts,
        type="card_reader_error",
        severity="error",
        message="free text never becomes a tag",
        data={"code": 17, "slot": "chip", "retries": 2.0},
    )
    return Decoded(TopicRef(gw, Kind.EVENT), msg)
