"""Store-and-forward against a real Mosquitto that is stopped and restarted on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_support import AgentThread, Observer, settings

from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    # Persistence keeps the observer's session across the restart, so the test sees
    # everything the broker accepted, as a real collector with a persistent session would.
    broker = MosquittoProcess(workdir=tmp_path / "mosq", persistence=True).start()
    try:
        yield broker
    finally:
        broker.close()


def test_messages_measured_while_the_broker_is_down_arrive_once_in_order_flagged_historical(
    persistent_broker: MosquittoProcess, tmp_path: Path
) -> None:
    broker = persistent_broker
    obs = Observer(broker.host, broker.port, persistent=True)
    wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
    agent = AgentThread(settings(broker.port, tmp_path / "agent"))
    try:
        wait_for(lambda: len(obs.of_kind("heartbeat")) >= 3, 10, what="live heartbeats")
        broker.stop()
        outbox = agent.service.outbox
        wait_for(lambda: len(outbox) >= 6, 10, what="agent keeps measuring into its queue")
        broker.start()
        wait_for(
            lambda: (
                any(not h.get("historical") and h["session"] >= 2 for h in obs.of_kind("heartbeat"))
                and len(outbox) == 0
            ),
            20,
            what="backlog delivered and live heartbeats of the new session",
        )
    finally:
        agent.stop()
        obs.close()
    beats = obs.of_kind("heartbeat")
    seqs = [h["seq"] for h in beats]
    assert seqs == list(range(len(seqs))), "every heartbeat once, in order, none lost"
    flags = [bool(h.get("historical")) for h in beats]
    first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
    assert all(flags[first : last + 1]), "the outage's heartbeats form one historical block"
    assert last - first + 1 >= 6
    historical = beats[first : last + 1]
    assert all(h["session"] == 1 for h in historical), "queued under the session that ended"
    ts = [h["ts"] for h in beats]
    assert ts == sorted(ts), "original timestamps are kept"
    # Live deliveries only: the observer's re-subscribe after the restart may also replay
    # the retained birth.
    births = [
        b
        for t, b, retained in obs.messages
        if t.endswith("/status") and b["state"] == "online" and not retained
    ]
    # Every CONNECT attempt (failed ones too) takes a number: the new birth is just higher.
    assert len(births) == 2
    assert births[0]["session"] == 1 < births[1]["session"]
    assert beats[-1]["session"] == births[1]["session"]


def test_queue_bound_drops_the_oldest_and_the_drop_count_is_reported_when_back_online(
    persistent_broker: MosquittoProcess, tmp_path: Path
) -> None:
    broker = persistent_broker
    obs = Observer(broker.host, broker.port, persistent=True)
    wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
    agent = AgentThread(settings(broker.port, tmp_path / "agent", queue_max_messages=4))
    try:
        wait_for(lambda: len(obs.of_kind("heartbeat")) >= 2, 10, what="live heartbeats")
        broker.stop()
        outbox = agent.service.outbox
        wait_for(lambda: outbox.drops().get("dropped_full", 0) >= 5, 10, what="queue overflows")
        broker.start()
        wait_for(lambda: obs.of_kind("event"), 20, what="queue_dropped event")
        wait_for(lambda: len(outbox) == 0, 10, what="queue drained")
    finally:
        agent.stop()
        obs.close()
    beats = obs.of_kind("heartbeat")
    seqs = [h["seq"] for h in beats]
    assert seqs == sorted(set(seqs)), "no duplicates, in order"
    missing = sorted(set(range(max(seqs) + 1)) - set(seqs))
    historical = [h["seq"] for h in beats if h.get("historical")]
    (event,) = obs.of_kind("event")
    assert event["type"] == "queue_dropped"
    # Only heartbeats flow during the outage (the stub probes never change), so every drop
    # is a missing heartbeat, and what was kept is the newest `queue_max_messages`.
    assert event["data"]["dropped_full"] == len(missing) >= 5
    assert len(historical) == 4
    assert missing == list(range(missing[0], missing[-1] + 1)), "one contiguous gap"
    assert missing[-1] + 1 == historical[0], "the oldest were dropped, the newest kept"
