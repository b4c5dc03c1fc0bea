"""The collector-health rules against the real posfleet-collector's /metrics, scraped by a
real Prometheus: stalled, blind (broker stopped) and down (process killed) each make their
alert pending, and none of it pages before its hold time (a broker restart pages nobody); a
client fighting the collector for its client id pages PosfleetCollectorSessionTakenOver."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.broker import MosquittoProcess
from simulators.stack.paging import GatewaySpec, PagingStack
from simulators.stack.prometheus import TEST_INTERVALS, PrometheusProcess
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _alert_states(prom: PrometheusProcess) -> dict[str, str]:
    return {a["labels"]["alertname"]: a["state"] for a in prom.alerts()}


def test_stalled_blind_and_down_collector_raise_their_alerts_from_the_real_metrics(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    with PagingStack(
        workdir=tmp_path / "stack",
        broker_port=mosquitto.port,
        gateways=[GatewaySpec("gw-1", "s-1", "north")],
        intervals=TEST_INTERVALS,
        # no gateway is running: connected but silent, stalled after 2 s
        collector_env={"POSFLEET_STALL_AFTER_S": "2"},
    ) as stack:
        assert stack.prometheus is not None
        prom = stack.prometheus
        wait_for(
            lambda: _alert_states(prom).get("PosfleetCollectorStalled") == "pending",
            30,
            what="PosfleetCollectorStalled pending",
        )
        assert "PosfleetCollectorBlind" not in _alert_states(prom)

        mosquitto.stop()
        wait_for(
            lambda: _alert_states(prom).get("PosfleetCollectorBlind") == "pending",
            30,
            what="PosfleetCollectorBlind pending",
        )
        mosquitto.start()
        wait_for(
            lambda: "PosfleetCollectorBlind" not in _alert_states(prom),
            30,
            what="PosfleetCollectorBlind to clear after the broker is back",
        )

        stack.stop_collector(kill=True)
        wait_for(
            lambda: _alert_states(prom).get("PosfleetCollectorDown") == "pending",
            30,
            what="PosfleetCollectorDown pending",
        )
        # Every hold time (30 s, 1 m) is longer than this test: nothing paged.
        assert stack.webhook.received() == []


def _takeovers(stack: PagingStack) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in stack.metrics().splitlines()
        if line.startswith("posfleet_collector_session_takeovers_total ")
    )


def test_a_client_fighting_the_collector_for_its_client_id_pages_session_taken_over(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The issue's second attack, end to end: another client keeps connecting with the
    collector's client id (paho reconnects it whenever the collector takes the session
    back). The real collector counts the takeovers, the real Prometheus fires
    PosfleetCollectorSessionTakenOver and Alertmanager pages the platform on-call."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    with PagingStack(
        workdir=tmp_path / "stack",
        broker_port=mosquitto.port,
        gateways=[GatewaySpec("gw-1", "s-1", "north")],
        intervals=TEST_INTERVALS,
    ) as stack:
        assert stack.prometheus is not None
        prom = stack.prometheus
        wait_for(
            lambda: "posfleet_collector_broker_connected 1.0" in stack.metrics(),
            20,
            what="the collector connected",
        )
        assert _takeovers(stack) == 0
        thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="posfleet-collector")
        thief.reconnect_delay_set(1, 1)
        thief.connect("127.0.0.1", mosquitto.port, keepalive=10)
        thief.loop_start()
        try:
            wait_for(lambda: _takeovers(stack) >= 1, 30, what="the takeovers counted")
            wait_for(
                lambda: _alert_states(prom).get("PosfleetCollectorSessionTakenOver") == "firing",
                30,
                what="PosfleetCollectorSessionTakenOver firing",
            )
        finally:
            thief.disconnect()
            thief.loop_stop()
        pages = wait_for(
            lambda: [
                n
                for n in stack.webhook.received()
                if n.path == "/page/platform-oncall"
                and "PosfleetCollectorSessionTakenOver" in str(n.body)
            ],
            60,
            what="the platform on-call paged",
        )
        assert pages[0].status == "firing"
