"""The agent as a real process: session numbers, will and birth, graceful offline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_support import Observer

from collector.process import free_port
from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


def agent_env(broker: MosquittoProcess, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "POSFLEET_AGENT_GATEWAY_ID": "gw-proc",
        "POSFLEET_AGENT_BROKER_HOST": broker.host,
        "POSFLEET_AGENT_BROKER_PORT": str(broker.port),
        "POSFLEET_AGENT_STATE_DIR": str(state),
        "POSFLEET_AGENT_HEARTBEAT_INTERVAL": "0.5",
        "POSFLEET_AGENT_PROBE_INTERVAL": "30",
        "POSFLEET_AGENT_RECONNECT_MIN_DELAY": "1",
        "POSFLEET_AGENT_RECONNECT_MAX_DELAY": "1",
        "POSFLEET_AGENT_TERMINAL_PLUGINS": "false",
    }


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(broker: MosquittoProcess, *args: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, "-m", "agent.main", *args],
            env=agent_env(broker, tmp_path / "state"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def statuses(obs: Observer) -> list[tuple[str, int, str | None]]:
    return [(s["state"], s["session"], s.get("reason")) for s in obs.of_kind("status")]


def marker_seen(obs: Observer, broker: MosquittoProcess, name: str) -> None:
    """Publish a marker and wait for it: everything the broker sent before has arrived."""
    import paho.mqtt.publish as publish

    publish.single(
        f"posfleet/v1/{name}/event", b"{}", qos=1, hostname=broker.host, port=broker.port
    )
    wait_for(
        lambda: any(t.startswith(f"posfleet/v1/{name}/") for t, _ in obs.raw),
        5,
        what=f"marker {name}",
    )


def test_session_rises_on_every_connect_and_the_will_carries_the_current_one(
    mosquitto: MosquittoProcess, spawn: Any
) -> None:
    obs = Observer(mosquitto.host, mosquitto.port)
    try:
        wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
        first = spawn(mosquitto, "run")
        wait_for(lambda: ("online", 1, None) in statuses(obs), 15, what="birth 1")
        first.kill()  # no DISCONNECT: the broker must publish the will
        wait_for(lambda: ("offline", 1, "connection_lost") in statuses(obs), 10, what="will 1")

        second = spawn(mosquitto, "run")
        wait_for(lambda: ("online", 2, None) in statuses(obs), 15, what="birth 2")

        # Paho's automatic reconnect must refresh the will with the new session.
        mosquitto.stop()
        mosquitto.start()
        wait_for(obs.subscribed.is_set, 5, what="observer subscribed again")
        wait_for(
            lambda: any(s == "online" and n > 2 for s, n, _ in statuses(obs)),
            15,
            what="birth after the automatic reconnect",
        )
        current = max(n for s, n, _ in statuses(obs) if s == "online")
        wait_for(
            lambda: any(h["session"] == current for h in obs.of_kind("heartbeat")),
            5,
            what="heartbeats carry the new session",
        )
        second.kill()
        wait_for(
            lambda: ("offline", current, "connection_lost") in statuses(obs),
            10,
            what="will of the reconnected session",
        )
        # Mosquitto publishes the wills of its clients when it shuts down, so will 2 may
        # appear at the restart; what matters is that the last will is the current session.
        wills = [n for s, n, r in statuses(obs) if r == "connection_lost"]
        assert wills[-1] == current
        births = [n for s, n, _ in statuses(obs) if s == "online"]
        assert births == sorted(set(births))
    finally:
        obs.close()


@pytest.mark.parametrize("how", ["sigterm", "stop-command"])
def test_a_planned_stop_publishes_a_graceful_offline_and_no_will(
    mosquitto: MosquittoProcess, spawn: Any, how: str
) -> None:
    obs = Observer(mosquitto.host, mosquitto.port)
    try:
        wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
        agent = spawn(mosquitto, "run")
        wait_for(lambda: ("online", 1, None) in statuses(obs), 15, what="birth")
        if how == "sigterm":
            agent.send_signal(signal.SIGTERM)
            expected = "shutdown"
        else:
            stopper = spawn(mosquitto, "stop", "--reason", "upgrade")
            assert stopper.wait(20) == 0
            expected = "upgrade"
        assert agent.wait(20) == 0
        wait_for(lambda: ("offline", 1, expected) in statuses(obs), 5, what="graceful offline")
        marker_seen(obs, mosquitto, "marker")
        assert ("offline", 1, "connection_lost") not in statuses(obs), "clean DISCONNECT: no will"
        late = Observer(mosquitto.host, mosquitto.port, client_id="late")
        try:
            wait_for(lambda: late.of_kind("status"), 5, what="retained status")
            (state,) = late.of_kind("status")
            assert (state["state"], state["reason"]) == ("offline", expected)
        finally:
            late.close()
    finally:
        obs.close()


def test_check_reports_broker_credentials_and_every_probe(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    env = agent_env(mosquitto, tmp_path / "state")
    ok = subprocess.run(
        [sys.executable, "-m", "agent.main", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok   broker" in ok.stdout
    assert "ok   MQTT credentials accepted" in ok.stdout
    for probe in ("system", "network", "firmware", "hardware"):
        assert f"probe {probe}: {{" in ok.stdout
    env["POSFLEET_AGENT_BROKER_PORT"] = str(free_port())
    bad = subprocess.run(
        [sys.executable, "-m", "agent.main", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "FAIL broker" in bad.stdout
    assert "probe system: {" in bad.stdout, "probes are still printed when the broker fails"


def test_a_frozen_agent_is_declared_offline_by_the_broker_within_one_and_a_half_keepalives(
    require_mosquitto: None, spawn: Any, tmp_path: Path
) -> None:
    # Scaled down: keepalive 2 s instead of 60 s. SIGSTOP freezes the process with its
    # TCP connection open, as a hung gateway or a dead radio link would.
    import time

    # The broker logs connections here: its own verdict on the keepalive is what we check.
    mosquitto = MosquittoProcess(
        workdir=tmp_path / "mosquitto", extra_config="connection_messages true"
    ).start()
    obs = Observer(mosquitto.host, mosquitto.port)
    agent = None
    try:
        wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent.main", "run"],
            env={**agent_env(mosquitto, tmp_path / "frozen"), "POSFLEET_AGENT_KEEPALIVE": "2"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: ("online", 1, None) in statuses(obs), 15, what="birth")
        agent.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        # Under load the broker's check may come late; the deadline only guards "never".
        wait_for(lambda: ("offline", 1, "connection_lost") in statuses(obs), 60, what="will")
        elapsed = time.monotonic() - frozen_at
        # Not before 1.5 x keepalive (3 s) of silence, less the broker's whole-second clock.
        assert elapsed >= 2.0, elapsed
        # The broker itself judged the silence against the keepalive the agent asked for (not
        # a TCP reset, not a timeout of our own): its log names both.
        log = mosquitto.log_path.read_text()
        keepalive = re.search(r"New client connected from \S+ as gw-proc \(p\d, c\d, k(\d+)", log)
        assert keepalive is not None, log[-2000:]
        assert keepalive.group(1) == "2", "the agent's CONNECT asked for keepalive 2 s"
        assert "Client gw-proc has exceeded timeout" in log, log[-2000:]
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGCONT)
            agent.kill()
            agent.wait(10)
        obs.close()
        mosquitto.close()
