"""The collector-health rules against the real posfleet-collector's /metrics, scraped by a
real Prometheus: stalled, blind (broker stopped) and down (process killed) each make their
alert pending, and none of it pages before its hold time (a broker restart pages nobody)."""

from __future__ import annotations

from pathlib import Path

import pytest
from paging_stack import GatewaySpec, PagingStack
from promstack import TEST_INTERVALS, PrometheusProcess
from support.wait import wait_for

from simulators.broker import MosquittoProcess

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
