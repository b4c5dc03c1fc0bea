"""Strict types on the wire, end to end: raw payloads published to a real Mosquitto, read by the
real collector process, judged by its /metrics, its log and its store (docs/protocol.md,
"Common fields": the wire version and times are strict like every other field)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.wire import enrolled_collector, rows

from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration

HEARTBEAT = "posfleet/v1/gw-0042/heartbeat"
TRANSACTIONS = "posfleet/v1/gw-0042/terminal/pinpad-2/transactions"
BEAT = {"v": 1, "gw": "gw-0042", "ts": 1795339200, "session": 3, "interval": 120}
WINDOW = {"v": 1, "gw": "gw-0042", "terminal": "pinpad-2", "ts": 1795339260}
BATCH = {"id": "b-1", "count": 3, "amount": 4500, "currency": "CNY", "closed_at": 1795339250}


def test_a_lax_version_or_a_time_in_a_string_is_a_schema_rejection_naming_the_field(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> None:
    log = tmp_path / "collector.log"
    with enrolled_collector(db_path, mosquitto.port, log) as (collector, pub):

        def seen() -> float:
            accepted = sum(
                collector.sample_value("posfleet_collector_messages_total", kind=kind) or 0.0
                for kind in ("heartbeat", "transactions")
            )
            return sum(collector.rejected().values()) + accepted

        def publish(topic: str, body: dict[str, object]) -> None:
            before = seen()
            pub.publish(topic, json.dumps(body).encode(), qos=1).wait_for_publish(5)
            wait_for(lambda: seen() > before or not collector.alive(), 20, what="message judged")

        # Each was taken as valid before: true == 1, and a number in a string as Unix seconds.
        publish(HEARTBEAT, {**BEAT, "v": True, "seq": 1})
        publish(HEARTBEAT, {**BEAT, "v": "1", "seq": 2})
        publish(HEARTBEAT, {**BEAT, "ts": "1795339200", "seq": 3})
        publish(TRANSACTIONS, {**WINDOW, "since": "1795338000", "until": 1795339200})
        publish(
            TRANSACTIONS,
            {
                **WINDOW,
                "since": 1795338000,
                "until": 1795339200,
                "batch": {**BATCH, "closed_at": "1795339250"},
            },
        )
        publish(HEARTBEAT, {**BEAT, "v": 2, "seq": 4})  # a number: a version we do not know
        # Valid traffic, both documented time forms, goes on as before.
        publish(HEARTBEAT, {**BEAT, "seq": 5})
        publish(HEARTBEAT, {**BEAT, "ts": "2026-11-22T09:21:00+08:00", "seq": 6})
        publish(
            TRANSACTIONS,
            {
                **WINDOW,
                "since": "2026-11-22T09:00:00Z",
                "until": 1795339200,
                "outcomes": {"approved": 3},
                "approved_amount": 4500,
                "currency": "CNY",
                "batch": BATCH,
            },
        )
        rejected = collector.rejected()
        assert rejected["schema"] == 5, rejected
        assert rejected["unsupported_version"] == 1, rejected
        assert sum(rejected.values()) == 6, rejected
        assert collector.sample_value("posfleet_collector_messages_total", kind="heartbeat") == 2
        assert collector.sample_value("posfleet_collector_messages_total", kind="transactions") == 1
        assert collector.alive()
    assert rows(db_path, "SELECT approved, approved_amount FROM txn_aggregates") == [(3, 4500)]
    assert rows(db_path, "SELECT last_seen_at IS NOT NULL FROM gateways") == [(1,)]
    # The log line names the field (a vendor reads it to fix the agent).
    named = re.findall(r"rejected schema on '([^']+)': ([\w.]+): ", log.read_text())
    assert named == [
        (HEARTBEAT, "v"),
        (HEARTBEAT, "v"),
        (HEARTBEAT, "ts"),
        (TRANSACTIONS, "since"),
        (TRANSACTIONS, "batch.closed_at"),
    ]
