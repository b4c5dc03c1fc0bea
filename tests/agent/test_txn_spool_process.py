"""A real agent process reads a spool named by POSFLEET_AGENT_TXN_SPOOL_DIR and publishes the
merged aggregates to a real Mosquitto; the collector's decoder accepts every one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from agent_support import Observer

from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for
from telemetry.codec import Decoded, decode

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent / "fixtures" / "txn"


def test_the_agent_process_publishes_what_the_payment_app_dropped_then_forgets_it(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    spool = tmp_path / "payment-app-spool"
    shutil.copytree(FIXTURES, spool)
    obs = Observer(mosquitto.host, mosquitto.port)
    wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
    env = {
        **os.environ,
        "POSFLEET_AGENT_GATEWAY_ID": "gw-0042",
        "POSFLEET_AGENT_BROKER_HOST": mosquitto.host,
        "POSFLEET_AGENT_BROKER_PORT": str(mosquitto.port),
        "POSFLEET_AGENT_STATE_DIR": str(tmp_path / "state"),
        "POSFLEET_AGENT_TXN_SPOOL_DIR": str(spool),
        "POSFLEET_AGENT_TXN_INTERVAL": "0.5",
        "POSFLEET_AGENT_PROBE_INTERVAL": "30",
        "POSFLEET_AGENT_TERMINAL_PLUGINS": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.main", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(obs.of_kind("transactions")) >= 4, 20, what="four aggregates")
        wait_for(
            lambda: (
                sorted(p.name for p in spool.iterdir()) == ["20261122T0932-0003.tmp", "rejected"]
            ),
            10,
            what="sources and journal deleted once queued",
        )
        # A file the payment app drops later goes out on a later scan.
        (spool / "late.tmp").write_text(
            '{"terminal":"pinpad-7","since":1795339200,"until":1795339800,'
            '"outcomes":{"approved":1},"responses":{"approved":1}}\n'
        )
        (spool / "late.tmp").rename(spool / "late.jsonl")
        wait_for(lambda: len(obs.of_kind("transactions")) >= 5, 20, what="the later file")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        obs.close()
    messages = [(t, b) for t, b, _ in obs.messages if t.endswith("/transactions")]  # closed
    assert len(messages) == 5, "each window once"
    for topic, body in messages:
        assert isinstance(decode(topic, json.dumps(body).encode()), Decoded), topic
    events = [e for e in obs.of_kind("event") if e["type"] == "txn_spool_rejected"]
    assert [e["data"] for e in events] == [{"card_data": 1, "schema": 3, "malformed_json": 1}]
    assert not any(b"4111" in p.read_bytes() for p in spool.rglob("*") if p.is_file())
