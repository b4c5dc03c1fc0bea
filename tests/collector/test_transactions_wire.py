"""The transactions kind attacked from outside: raw payloads published to a real Mosquitto,
read by the real collector process, judged by its /metrics, its log and its store file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.wire import enrolled_collector, rows, wait_connected

from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration

TOPIC = "posfleet/v1/gw-0042/terminal/pinpad-2/transactions"
PAN = "4111111111111111"  # the Visa test card
WINDOW = {"v": 1, "gw": "gw-0042", "terminal": "pinpad-2", "ts": 1795339260}


def _window(i: int, **kw: object) -> dict[str, object]:
    since = 1795338000 + 1200 * i
    return {**WINDOW, "since": since, "until": since + 1200, **kw}


def test_card_numbers_hidden_in_ids_or_repeated_keys_and_booleans_as_counts_are_refused(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> None:
    log = tmp_path / "collector.log"
    with enrolled_collector(db_path, mosquitto.port, log, log_level="DEBUG") as (collector, pub):

        def seen() -> float:
            counted = collector.rejected()
            ok = collector.sample_value("posfleet_collector_messages_total", kind="transactions")
            return sum(counted.values()) + (ok or 0.0)

        def publish(payload: str, topic: str = TOPIC) -> None:
            before = seen()
            pub.publish(topic, payload.encode(), qos=1).wait_for_publish(5)
            wait_for(lambda: seen() > before or not collector.alive(), 20, what="message judged")

        # A card number as the payload's gateway or terminal id: the mismatch's log line
        # used to print it.
        publish(json.dumps(_window(0, gw=PAN)))
        publish(json.dumps(_window(1, terminal=PAN)))
        # The same key twice: the stored value would be the last, the first was not checked.
        publish(json.dumps(_window(2))[:-1] + f',"acquirer":"{PAN}","acquirer":"unionpay-sh"}}')
        # Booleans and text as counts: true was stored as one sale.
        publish(json.dumps(_window(3, outcomes={"approved": True})))
        publish(json.dumps(_window(4, approved_amount="2500", currency="CNY")))
        # A card number as a topic level: not our topic, logged as it came.
        publish(json.dumps(_window(5)), "posfleet/v1/gw-0042/terminal/4111 1111 1111 1111/x")
        # A valid window after all that, and a heartbeat: nothing stalled.
        publish(json.dumps(_window(6, outcomes={"approved": 7}, responses={"approved": 7})))
        pub.publish(
            "posfleet/v1/gw-0042/heartbeat",
            b'{"v":1,"gw":"gw-0042","ts":1795339200,"session":3,"seq":1,"interval":120}',
            qos=1,
        ).wait_for_publish(5)
        wait_for(
            lambda: (
                collector.sample_value("posfleet_collector_messages_total", kind="heartbeat") == 1.0
            ),
            20,
            what="a heartbeat after the attack",
        )
        rejected = collector.rejected()
        assert (rejected["card_data"], rejected["schema"]) == (3, 2), rejected
        assert rejected["gateway_mismatch"] == rejected["terminal_mismatch"] == 0
        assert rejected["unknown_topic"] == 1
        assert collector.alive()
        assert rows(db_path, "SELECT window_start, approved FROM txn_aggregates") == [
            ("2026-11-22T11:00:00.000000+00:00", 7)
        ]
    text = log.read_text()
    assert "rejected card_data" in text
    assert PAN not in text
    assert PAN[:6] not in text
    # paho's own DEBUG lines echo every topic as received: ours must not.
    ours = [line for line in text.splitlines() if "collector.paho" not in line]
    assert not [line for line in ours if "4111 1111" in line]
    for path in db_path.parent.glob(db_path.name + "*"):
        assert PAN.encode() not in path.read_bytes(), path


def test_a_window_replayed_live_back_filled_and_after_a_restart_is_stored_and_counted_once(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> None:
    body = _window(0, outcomes={"approved": 11}, responses={"approved": 11}, currency="CNY")
    log = tmp_path / "collector.log"
    with enrolled_collector(db_path, mosquitto.port, log) as (collector, pub):

        def accepted() -> float:
            n = collector.sample_value("posfleet_collector_messages_total", kind="transactions")
            return n or 0.0

        def send(payload: dict[str, object], expect: float) -> None:
            pub.publish(TOPIC, json.dumps(payload).encode(), qos=1).wait_for_publish(5)
            wait_for(lambda: accepted() == expect, 20, what=f"{expect:.0f} windows accepted")

        def approved() -> float | None:
            return collector.sample_value(
                "posfleet_transactions_total", outcome="approved", region="north"
            )

        send(body, 1)
        send({**body, "historical": True}, 2)
        send({**body, "outcomes": {"approved": 99}}, 3)  # the same window, other counts
        assert approved() == 11
        assert collector.stop() == 0
        collector.start()
        wait_connected(collector, "collector connected again")
        send({**body, "historical": True}, 1)  # its counters start again at 0
        assert approved() == 11
        assert rows(db_path, "SELECT approved FROM txn_aggregates") == [(11,)]
        assert sum(collector.rejected().values()) == 0
