"""An offline with a reason this version does not know is kept, as an unplanned offline."""

from __future__ import annotations

import json
import queue
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry import FakeClock, Kind, topic_for
from telemetry.codec import Decoded, Rejected, decode
from telemetry.models import OfflineReason, Status

TOPIC = "posfleet/v1/gw-1/status"


def _offline(reason: object) -> bytes:
    body = {"v": 1, "gw": "gw-1", "ts": 1795339200, "state": "offline", "session": 3}
    return json.dumps({**body, "reason": reason}).encode()


def _status(payload: bytes) -> Status:
    result = decode(TOPIC, payload)
    assert isinstance(result, Decoded), result
    assert isinstance(result.message, Status)
    return result.message


def test_an_unknown_offline_reason_is_accepted_and_kept_as_sent() -> None:
    status = _status(_offline("power_cut"))
    assert status.reason == "power_cut"
    assert not isinstance(status.reason, OfflineReason)


@pytest.mark.parametrize("reason", [r.value for r in OfflineReason])
def test_a_known_offline_reason_stays_the_enum_member(reason: str) -> None:
    assert _status(_offline(reason)).reason is OfflineReason(reason)


def test_an_unknown_reason_is_cut_to_64_characters_and_made_safe_for_logs_and_labels() -> None:
    status = _status(_offline('power "cut"/\n' + "é" * 100))
    assert status.reason == "power__cut___" + "_" * 51
    assert len(status.reason) == 64


@pytest.mark.parametrize("reason", [5, True, ["power_cut"], {"a": 1}])
def test_a_reason_that_is_not_a_string_is_still_a_schema_error(reason: object) -> None:
    result = decode(TOPIC, _offline(reason))
    assert isinstance(result, Rejected)
    assert result.reason.value == "schema"


def test_the_collector_takes_an_unknown_reason_as_an_unplanned_fault_and_counts_it(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    store = SqliteStore(tmp_path / "p.sqlite")
    with store.conn:  # only a gateway in the inventory is tracked
        upsert_rows(store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
        upsert_rows(store.conn, "gateways", [{"gateway_id": "gw-1", "site_id": "S1"}])
    p = Processor(
        store, LivenessTracker(), CollectorMetrics(registry), queue.SimpleQueue(), clock=clock
    )
    birth = b'{"v":1,"gw":"gw-1","ts":1795339200,"state":"online","session":3}'
    topic = topic_for("gw-1", Kind.STATUS)
    p.process(
        [
            LinkEvent(True, clock.now(), clock.monotonic()),
            Received(topic, birth, clock.now(), clock.monotonic()),
        ]
    )
    went_offline = clock.now()
    p.process([Received(topic, _offline("power_cut"), went_offline, clock.monotonic())])
    clock.advance(5)  # past the will hold
    p.process([])
    conn = store.conn
    assert conn.execute("SELECT status, status_reason FROM gateways").fetchall() == [
        ("down", "will:power_cut")
    ]
    ((cls, category, started),) = conn.execute(
        "SELECT class, fault_category, started_at FROM incidents"
    ).fetchall()
    assert (cls, category) == ("fault", "network")  # unplanned: it pages like a will
    assert datetime.fromisoformat(started) == went_offline  # the outage began at the message
    assert registry.get_sample_value("posfleet_collector_unknown_offline_reasons_total") == 1.0
    assert registry.get_sample_value("posfleet_collector_rejected_total", {"reason": "schema"}) == 0
    store.close()
