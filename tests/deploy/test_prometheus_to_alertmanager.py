"""The shipped rules and routes on real Prometheus and Alertmanager processes, fed by a
stand-in /metrics endpoint that serves posfleet_alert_firing exactly as docs/metrics.md
specifies (the full path through the real collector is test_paging_e2e.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

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
