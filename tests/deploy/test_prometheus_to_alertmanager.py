"""The shipped rules and routes on real Prometheus and Alertmanager processes, fed by a
stand-in /metrics endpoint that serves posfleet_alert_firing exactly as docs/metrics.md
specifies (the full path through the real collector is test_paging_e2e.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.fleet_metrics import firing_labels

from simulators.stack.prometheus import (
    TEST_INTERVALS,
    AlertmanagerProcess,
    PrometheusProcess,
    StackError,
    StandInExporter,
    render_prometheus_config,
)
from simulators.stack.wait import wait_for
from simulators.stack.webhook import Notification, WebhookReceiver
from tests.alerts.test_spikes import Rig, _sh, issuer_down, normal

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def exporter() -> Iterator[StandInExporter]:
    exp = StandInExporter()
    try:
        yield exp
    finally:
        exp.close()


@pytest.fixture
def prometheus(
    tmp_path: Path, exporter: StandInExporter, alertmanager: AlertmanagerProcess
) -> Iterator[PrometheusProcess]:
    config = render_prometheus_config(
        f"127.0.0.1:{exporter.port}",
        f"127.0.0.1:{alertmanager.port}",
        TEST_INTERVALS,
        tmp_path / "prom",
    )
    try:
        prom = PrometheusProcess(config, tmp_path / "prom")
        prom.start()
    except StackError as exc:
        pytest.fail(str(exc))
    try:
        yield prom
    finally:
        prom.stop()


def _gateway_down(escalation: str) -> dict[str, str]:
    return {
        "alertname": "gateway_down",
        "severity": "critical",
        "region": "north",
        "site": "s-1",
        "gateway": "gw-1",
        "terminal": "",
        "escalation": escalation,
        "summary": "Gateway gw-1 down (will)",
        "since": "2026-11-22T09:00:00+00:00",
        "acquirer": "",
    }


def _at(path: str, status: str) -> Callable[[Notification], bool]:
    def pred(n: Notification) -> bool:
        return n.path == path and n.status == status

    return pred


def test_a_firing_series_pages_the_region_and_its_disappearance_sends_the_resolve(
    exporter: StandInExporter, prometheus: PrometheusProcess, webhook: WebhookReceiver
) -> None:
    labels = _gateway_down("1")
    exporter.firing.labels(**labels).set(1)
    (page,) = wait_for(
        lambda: webhook.received(_at("/page/north-oncall", "firing")), 20, what="page"
    )
    (alert,) = page.alerts
    assert alert["labels"] == {
        "alertname": "PosfleetGatewayDown",
        "severity": "critical",
        "region": "north",
        "site": "s-1",
        "gateway": "gw-1",
        "escalation": "1",
        "summary": "Gateway gw-1 down (will)",
        "since": "2026-11-22T09:00:00+00:00",
    }
    assert alert["annotations"]["runbook_url"].endswith("/docs/runbooks/gateway-down.md")
    assert alert["annotations"]["summary"] == "Gateway gw-1 at site s-1 (north) is down"
    assert page.group_labels == {"region": "north", "site": "s-1"}
    # The chat copy, rendered by the real Alertmanager with templates/posfleet.tmpl from the
    # shipped rule's annotations: Chinese first, the start in China time (UTC+8), the
    # receiver to call, the runbook.
    (chat,) = wait_for(
        lambda: webhook.received(lambda n: n.path == "/chat/north-oncall"), 20, what="chat copy"
    )
    text = chat.body["attachments"][0]["text"]
    assert "* PosfleetGatewayDown: 门店 s-1（north）的网关 gw-1 断线" in text
    assert "详情: 内容：网关停止应答（遗嘱消息、心跳超时或离线）。" in text
    assert "值班 Who is on it: north-oncall" in text
    starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
    china = starts.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert f"开始 Since: {china} 北京时间 (UTC+8)" in text
    assert (
        "处理手册 Runbook: https://github.com/posfleet/posfleet/blob/main/docs/runbooks/gateway-down.md"
        in text
    )

    exporter.firing.remove(*labels.values())
    (resolved,) = wait_for(
        lambda: webhook.received(_at("/page/north-oncall", "resolved")), 20, what="resolve"
    )
    assert resolved.alerts[0]["labels"]["gateway"] == "gw-1"
    assert len(webhook.received(_at("/page/north-oncall", "firing"))) == 1
    assert webhook.received(lambda n: n.path == "/page/supervisors") == []


def test_escalation_level_two_also_pages_the_supervisors(
    exporter: StandInExporter, prometheus: PrometheusProcess, webhook: WebhookReceiver
) -> None:
    exporter.firing.labels(**_gateway_down("2")).set(1)
    wait_for(lambda: webhook.received(_at("/page/supervisors", "firing")), 20, what="sup")
    wait_for(lambda: webhook.received(_at("/page/north-oncall", "firing")), 20, what="tech")


def test_a_store_spike_on_an_acquirer_in_outage_is_inhibited_by_that_acquirers_spike(
    tmp_path: Path,
    exporter: StandInExporter,
    prometheus: PrometheusProcess,
    alertmanager: AlertmanagerProcess,
) -> None:
    # The store's spike as the collector exposes it: raised by the real detector from windows
    # whose issuer declines are all acq-a's, read by the real FleetCollector; served to the
    # real Prometheus, whose shipped rule makes it PosfleetTransactionFailureSpike.
    rig = Rig(str(tmp_path / "store.db"), _sh("2026-11-29T19:00"))
    try:
        rig.windows(_sh("2026-11-15T19:00"), _sh("2026-11-29T19:00"), normal)
        rig.live(_sh("2026-11-29T20:00"), normal)
        rig.live(_sh("2026-11-29T20:40"), normal, {"acq-a": issuer_down})
        (labels,) = firing_labels(str(tmp_path / "store.db"))
    finally:
        rig.store.close()
    exporter.firing.labels(**labels).set(1)
    spike = "PosfleetTransactionFailureSpike"

    def store_spike() -> dict[str, Any] | None:
        found = [a for a in alertmanager.alerts() if a["labels"]["alertname"] == spike]
        return found[0] if found else None

    # Another acquirer's outage in the region does not explain it: it stays active.
    alertmanager.post_alerts(
        [_posted("PosfleetAcquirerFailureSpike", region="east", acquirer="acq-b")]
    )
    alert = wait_for(store_spike, 20, what="the store's spike in Alertmanager")
    assert alert["labels"]["acquirer"] == "acq-a"
    assert alert["labels"]["site"] == "s-sh"
    assert alert["status"]["state"] == "active"
    # acq-a's outage in the region does: the store's page is inhibited by it.
    alertmanager.post_alerts(
        [_posted("PosfleetAcquirerFailureSpike", region="east", acquirer="acq-a")]
    )
    inhibited = wait_for(
        lambda: (a := store_spike()) is not None and a["status"]["state"] == "suppressed" and a,
        20,
        what="the store's spike inhibited by acq-a's",
    )
    assert inhibited["status"]["inhibitedBy"]


def _posted(name: str, **labels: str) -> dict[str, Any]:
    """An alert posted to Alertmanager as Prometheus would send it (the acquirer's own spike
    needs 5 minutes and a week of counters in Prometheus: its rule is promtool-tested)."""
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {"summary": name},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }
