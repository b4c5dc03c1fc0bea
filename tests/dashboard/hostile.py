"""Hostile strings put into a console store the way they really arrive: telemetry through the
collector's decode + store path, inventory through the admin import, notes and reasons
through the operators' audited actions. Shared by the AppTest and the Chromium tests."""

from __future__ import annotations

import queue
from datetime import timedelta

from prometheus_client import CollectorRegistry

from collector.actions import (
    Actor,
    Role,
    acknowledge_alert,
    create_window,
    import_inventory,
    record_service,
    set_suspended,
    update_incident,
)
from collector.ingest import LinkEvent, Received
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.store import db
from collector.store.sqlite import SqliteStore
from simulators.stack.seeded_store import NOW, Fleet
from telemetry import FakeClock, Kind, encode, topic_for
from telemetry.models import Firmware

# Every one must show as these very characters, never as bold, a tag, a script or a link.
FIRMWARE = "**PWNED-bold** [support](https://evil.example/x) <b>PWNED-tag</b> www.evil.example"
TERMINAL_FIRMWARE = "<script>alert('PWNED')</script>[x](javascript:alert(1))<svg onload=alert(1)>"
SITE_NAME = "# PWNED-heading <img src=x onerror=alert(1)> :red[PWNED-red] $x^2$"
MERCHANT = "__PWNED-em__ ![img](https://evil.example/i.png) | a | b |"
REASON = "- PWNED-list [call us](https://evil.example/call) ~~PWNED-strike~~"
NOTE = "1. PWNED-ordered <a href='https://evil.example/n'>PWNED-a</a> `code`"
SERIAL = "**PWNED-serial**[s](https://evil.example/s)"
SITE = "S000000"  # the site of the first gateway


def plant(fleet: Fleet) -> None:
    """gw = fleet.gateway_ids[0] reports FIRMWARE, its first terminal TERMINAL_FIRMWARE;
    site S000001 gets SITE_NAME and MERCHANT, the second gateway SERIAL; the down gateway is suspended with REASON,
    its alert acknowledged, its incident explained and a service recorded with NOTE."""
    gw, term = fleet.gateway_ids[0], fleet.terminal_ids[0]
    clock = FakeClock(NOW)
    store = SqliteStore(fleet.path)
    p = Processor(
        store, LivenessTracker(), CollectorMetrics(CollectorRegistry()), queue.SimpleQueue(),
        clock=clock,
    )  # fmt: skip
    gw_fw = Firmware(gw=gw, ts=NOW, terminal_fw=FIRMWARE)
    term_fw = Firmware(gw=gw, ts=NOW, terminal=term, terminal_fw=TERMINAL_FIRMWARE)
    p.process(
        [
            LinkEvent(True, clock.now(), clock.monotonic()),
            Received(topic_for(gw, Kind.FIRMWARE), encode(gw_fw), NOW, clock.monotonic()),
            Received(topic_for(gw, Kind.FIRMWARE, term), encode(term_fw), NOW, clock.monotonic()),
        ]
    )
    store.close()
    admin, operator = Actor("ada", Role.ADMIN), Actor("olga", Role.OPERATOR)
    conn = db.connect(fleet.path)
    try:
        import_inventory(
            conn,
            admin,
            "sites",
            [{"site_id": SITE, "name": SITE_NAME, "merchant_name": MERCHANT}],
            NOW,
        )
        import_inventory(
            conn, admin, "gateways", [{"gateway_id": fleet.gateway_ids[1], "serial": SERIAL}], NOW
        )
        set_suspended(conn, operator, "gateway", fleet.down_gateway, True, REASON, NOW)
        acknowledge_alert(conn, operator, fleet.alert_id, NOTE, NOW)
        update_incident(
            conn, operator, fleet.incident_id, cause=NOTE,
            expected_recovery_at=NOW + timedelta(hours=2), now=NOW,
        )  # fmt: skip
        record_service(
            conn, operator, subject_type="gateway", subject_id=gw, work=NOTE,
            parts_replaced=REASON, fault_category="hardware", now=NOW,
        )  # fmt: skip
        create_window(
            conn, operator, scope_type="site", scope_id=SITE, starts_at=NOW + timedelta(hours=1),
            ends_at=NOW + timedelta(hours=3), reason=REASON, now=NOW,
        )  # fmt: skip
    finally:
        conn.close()
    stored = db.connect(fleet.path)
    try:
        got = stored.execute(
            "SELECT firmware_version FROM gateways WHERE gateway_id = ?", (gw,)
        ).fetchone()
    finally:
        stored.close()
    assert got == (FIRMWARE,), "the firmware string did not reach the store"
