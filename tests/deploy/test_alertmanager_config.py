"""The shipped Alertmanager config: amtool checks, every route, the page template, and
grouping and inhibition proven on a real Alertmanager delivering to a webhook."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.stack.prometheus import AM_CONFIG, AM_DIR, AM_TEMPLATES, AlertmanagerProcess
from simulators.stack.wait import wait_for
from simulators.stack.webhook import Notification, WebhookReceiver

ROUTE_CASES = yaml.safe_load((AM_DIR / "route-tests.yml").read_text())["cases"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_shipped_alertmanager_config_passes_amtool_check_config(amtool_exe: str) -> None:
    result = _run([amtool_exe, "check-config", str(AM_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@pytest.mark.parametrize("case", ROUTE_CASES, ids=[c["name"] for c in ROUTE_CASES])
def test_route(case: dict[str, Any], amtool_exe: str) -> None:
    labels = [f"{k}={v}" for k, v in case["labels"].items()]
    result = _run(
        [
            amtool_exe,
            "config",
            "routes",
            "test",
            f"--config.file={AM_CONFIG}",
            f"--verify.receivers={','.join(case['receivers'])}",
            *labels,
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ",".join(case["receivers"])


def test_a_wrong_expected_receiver_fails_the_route_check(amtool_exe: str) -> None:
    # The route cases above can fail: amtool exits non-zero on a mismatch.
    result = _run(
        [
            amtool_exe,
            "config",
            "routes",
            "test",
            f"--config.file={AM_CONFIG}",
            "--verify.receivers=south-oncall",
            "alertname=PosfleetGatewayDown",
            "severity=critical",
            "region=north",
        ]
    )
    assert result.returncode != 0


def test_every_receiver_is_reached_by_a_route_case() -> None:
    config = yaml.safe_load(AM_CONFIG.read_text())
    receivers = {r["name"] for r in config["receivers"]}
    reached = {name for case in ROUTE_CASES for name in case["receivers"]}
    assert receivers - reached == set()


GATEWAY_DOWN_ZH = {
    # The shipped rule's Chinese annotations for this gateway (posfleet.rules.test.yml).
    "summary_zh": "门店 s-1（north）的网关 gw-1 断线",
    "description_zh": "内容：网关停止应答（遗嘱消息、心跳超时或离线）。位置：区域 north，门店 s-1，网关 gw-1。",
}


def _template_data(status: str, **annotations: str) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {
            "alertname": "PosfleetGatewayDown",
            "severity": "critical",
            "region": "north",
            "site": "s-1",
            "gateway": "gw-1",
            "escalation": "2",
            "since": "2026-11-22T16:59:58+00:00",
        },
        "annotations": {
            "summary": "Gateway gw-1 at site s-1 (north) is down",
            "description": "What: the gateway stopped answering.",
            "runbook_url": "https://github.com/posfleet/posfleet/blob/main/docs/runbooks/gateway-down.md",
            **annotations,
        },
        # 17:00 UTC is 01:00 the next day in China: the date turns too.
        "startsAt": "2026-11-22T17:00:05Z",
        "endsAt": "2026-11-22T17:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
    }
    return {
        "receiver": "north-oncall",
        "status": status,
        "alerts": [alert],
        "groupLabels": {"region": "north", "site": "s-1"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example",
    }


def _render(amtool_exe: str, tmp_path: Path, status: str, **annotations: str) -> str:
    data = tmp_path / f"{status}.json"
    data.write_text(json.dumps(_template_data(status, **annotations)))
    result = _run(
        [
            amtool_exe,
            "template",
            "render",
            f"--template.glob={AM_TEMPLATES / '*.tmpl'}",
            f"--template.data={data}",
            '--template.text={{ template "posfleet.title" . }}\n{{ template "posfleet.text" . }}',
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_page_says_what_where_since_when_in_china_time_who_is_on_it_and_the_runbook(
    amtool_exe: str, tmp_path: Path
) -> None:
    text = _render(amtool_exe, tmp_path, "firing", **GATEWAY_DOWN_ZH)
    title, body = text.split("\n", 1)
    assert title == "[告警 FIRING:1] 门店 site s-1 (north) PosfleetGatewayDown"
    assert "* PosfleetGatewayDown: 门店 s-1（north）的网关 gw-1 断线\n" in body
    assert "\n  Gateway gw-1 at site s-1 (north) is down\n" in body
    assert f"\n  详情: {GATEWAY_DOWN_ZH['description_zh']}\n" in body
    assert "\n  Details: What: the gateway stopped answering.\n" in body
    assert "位置 Where: 区域 region north, 门店 site s-1, 网关 gateway gw-1\n" in body
    # StartsAt 17:00:05 UTC, in China time; the engine's own start is kept as it came (UTC).
    assert "开始 Since: 2026-11-23 01:00:05 北京时间 (UTC+8)" in body
    assert "(故障起始 outage start, UTC: 2026-11-22T16:59:58+00:00)" in body
    assert "2026-11-22T17:00:05" not in body
    assert "值班 Who is on it: north-oncall" in body
    assert "升级级别 escalation level 2" in body
    runbook = "https://github.com/posfleet/posfleet/blob/main/docs/runbooks/gateway-down.md"
    assert f"处理手册 Runbook: {runbook}" in body


def test_a_resolved_notification_says_so_and_when_in_china_time(
    amtool_exe: str, tmp_path: Path
) -> None:
    text = _render(amtool_exe, tmp_path, "resolved", **GATEWAY_DOWN_ZH)
    assert text.startswith("[已恢复 RESOLVED] 门店 site s-1 (north) PosfleetGatewayDown")
    assert "PosfleetGatewayDown 已恢复 RESOLVED" in text
    assert "恢复于 resolved 2026-11-23 01:30:00 北京时间 (UTC+8)" in text


def test_an_alert_without_chinese_annotations_still_reads_in_english(
    amtool_exe: str, tmp_path: Path
) -> None:
    # A rule of the user's own, without summary_zh: its summary, and no empty 详情 line.
    text = _render(amtool_exe, tmp_path, "firing")
    assert "* PosfleetGatewayDown: Gateway gw-1 at site s-1 (north) is down\n" in text
    assert "详情" not in text
    assert "开始 Since: 2026-11-23 01:00:05 北京时间 (UTC+8)" in text


# ---------------------------------------------------------------- a real Alertmanager


def _alert(name: str, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "severity": "critical", "escalation": "0", **labels},
        "annotations": {"summary": f"{name} {labels}", "runbook_url": "https://x/r.md"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }


def _pages(hook: WebhookReceiver, receiver: str) -> list[Notification]:
    return hook.received(lambda n: n.path == f"/page/{receiver}")


@pytest.mark.integration
def test_a_site_outage_is_one_notification_and_its_gateways_and_terminals_are_inhibited(
    alertmanager: AlertmanagerProcess, webhook: WebhookReceiver
) -> None:
    site = {"region": "north", "site": "s-1"}
    alerts = [_alert("PosfleetGatewayDown", gateway=f"gw-{i}", **site) for i in range(4)]
    alerts.append(_alert("PosfleetTerminalDown", gateway="gw-0", terminal="t-0a", **site))
    alerts.append(_alert("PosfleetSiteDown", **site))
    # another site in the same region is its own group, hence its own notification
    alerts.append(_alert("PosfleetGatewayDown", region="north", site="s-2", gateway="gw-9"))
    alertmanager.post_alerts(alerts)

    wait_for(lambda: len(_pages(webhook, "north-oncall")) >= 2, 15, what="two north pages")
    by_site = {n.group_labels["site"]: n for n in _pages(webhook, "north-oncall")}
    assert sorted(by_site) == ["s-1", "s-2"]
    s1 = by_site["s-1"]
    assert [a["labels"]["alertname"] for a in s1.alerts] == ["PosfleetSiteDown"]
    states = {
        (a["labels"]["alertname"], a["labels"].get("gateway", "")): a["status"]
        for a in alertmanager.alerts()
    }
    for i in range(4):
        assert states[("PosfleetGatewayDown", f"gw-{i}")]["inhibitedBy"], f"gw-{i}"
    assert states[("PosfleetTerminalDown", "gw-0")]["inhibitedBy"]
    assert states[("PosfleetGatewayDown", "gw-9")]["state"] == "active"
    # nothing else goes out for the site within another group interval (2s)
    count = len(webhook.received())
    with pytest.raises(AssertionError):
        wait_for(lambda: len(webhook.received()) > count, 3, what="an extra notification")


@pytest.mark.integration
def test_a_terminal_behind_a_down_gateway_does_not_page(
    alertmanager: AlertmanagerProcess, webhook: WebhookReceiver
) -> None:
    site = {"region": "south", "site": "s-5"}
    alertmanager.post_alerts(
        [
            _alert("PosfleetTerminalDown", gateway="gw-5", terminal="t-5a", **site),
            _alert("PosfleetTerminalDown", gateway="gw-6", terminal="t-6a", **site),
            _alert("PosfleetGatewayDown", gateway="gw-5", **site),
        ]
    )
    (page,) = wait_for(lambda: _pages(webhook, "south-oncall"), 15, what="south page")
    paged = sorted((a["labels"]["alertname"], a["labels"].get("terminal", "")) for a in page.alerts)
    # t-5a is behind the dead gw-5; t-6a's gateway is up, so it still pages
    assert paged == [("PosfleetGatewayDown", ""), ("PosfleetTerminalDown", "t-6a")]


@pytest.mark.integration
def test_a_blind_collector_inhibits_every_fleet_alert(
    alertmanager: AlertmanagerProcess, webhook: WebhookReceiver
) -> None:
    # One collector, blind: the rules raise both its own alert and the monitor's; one page.
    alertmanager.post_alerts(
        [
            _alert("PosfleetCollectorBlind", instance="c1:9108", job="posfleet-collector"),
            _alert("PosfleetCollectorsAllBlind", job="posfleet-collector"),
            _alert("PosfleetSiteDown", region="north", site="s-1"),
            _alert("PosfleetGatewayDown", region="south", site="s-2", gateway="gw-2"),
        ]
    )
    (page,) = wait_for(lambda: _pages(webhook, "platform-oncall"), 15, what="platform page")
    assert [a["labels"]["alertname"] for a in page.alerts] == ["PosfleetCollectorsAllBlind"]
    # The chat copy of the same page is rendered with the posfleet templates.
    (chat,) = wait_for(
        lambda: webhook.received(lambda n: n.path == "/chat/platform-oncall"), 15, what="chat"
    )
    attachment = chat.body["attachments"][0]
    assert attachment["title"].startswith("[告警 FIRING:1]")
    assert "值班 Who is on it: platform-oncall" in attachment["text"]
    blind = "PosfleetCollectorsAllBlind"
    others = [a for a in alertmanager.alerts() if a["labels"]["alertname"] != blind]
    assert len(others) == 3
    assert all(a["status"]["state"] == "suppressed" for a in others)
    assert _pages(webhook, "north-oncall") == []
    assert _pages(webhook, "south-oncall") == []


@pytest.mark.integration
def test_one_blind_or_dead_collector_of_three_inhibits_no_fleet_page(
    alertmanager: AlertmanagerProcess, webhook: WebhookReceiver
) -> None:
    # Several collectors on one `$share` group (issue #14): the others receive the blind
    # one's share, so a real outage must still page its region.
    alertmanager.post_alerts(
        [
            _alert("PosfleetCollectorBlind", instance="c2:9108", job="posfleet-collector"),
            _alert(
                "PosfleetCollectorInstanceDown",
                instance="c3:9108",
                job="posfleet-collector",
                severity="warning",
            ),
            _alert("PosfleetSiteDown", region="north", site="s-1"),
        ]
    )
    (page,) = wait_for(lambda: _pages(webhook, "north-oncall"), 15, what="the site's page")
    assert [a["labels"]["site"] for a in page.alerts] == ["s-1"]
    platform = wait_for(
        lambda: len(_pages(webhook, "platform-oncall")) == 2 and _pages(webhook, "platform-oncall"),
        15,
        what="the two collectors' own notifications",
    )
    assert sorted(p.alerts[0]["labels"]["alertname"] for p in platform) == [
        "PosfleetCollectorBlind",
        "PosfleetCollectorInstanceDown",
    ]


def _queued(hook: WebhookReceiver, receiver: str) -> list[Notification]:
    return hook.received(lambda n: n.path == f"/queue/{receiver}")


@pytest.mark.integration
def test_an_acquirers_spike_silences_only_the_store_spikes_on_that_acquirer(
    alertmanager: AlertmanagerProcess, webhook: WebhookReceiver
) -> None:
    # Acquirer acq-a fails in the north. A north store's spike is another outage unless it
    # is on acq-a: the engine's store spike names no acquirer (s-1), or another one (s-3),
    # and must still reach the north queue; only a spike that names acq-a (s-2) is explained.
    # A region-wide time-out spike in the south explains every store spike there (s-9).
    spike = "PosfleetTransactionFailureSpike"
    alertmanager.post_alerts(
        [
            _alert("PosfleetAcquirerFailureSpike", region="north", acquirer="acq-a"),
            _alert(spike, severity="warning", region="north", site="s-1"),
            _alert(spike, severity="warning", region="north", site="s-2", acquirer="acq-a"),
            _alert(spike, severity="warning", region="north", site="s-3", acquirer="acq-b"),
            _alert("PosfleetRegionTimeoutSpike", region="south"),
            _alert(spike, severity="warning", region="south", site="s-9"),
        ]
    )
    queued = wait_for(
        lambda: len(_queued(webhook, "north-queue")) >= 2 and _queued(webhook, "north-queue"),
        15,
        what="the north queue's notifications for s-1 and s-3",
    )
    assert sorted(n.group_labels["site"] for n in queued) == ["s-1", "s-3"]
    desk = wait_for(
        lambda: len(_pages(webhook, "noc-desk")) >= 2 and _pages(webhook, "noc-desk"),
        15,
        what="the acquirer's and the region's spikes at the NOC desk",
    )
    assert sorted(n.alerts[0]["labels"]["alertname"] for n in desk) == [
        "PosfleetAcquirerFailureSpike",
        "PosfleetRegionTimeoutSpike",
    ]
    states = {
        a["labels"].get("site", a["labels"]["alertname"]): a["status"]
        for a in alertmanager.alerts()
    }
    assert states["s-1"]["state"] == "active"
    assert states["s-3"]["state"] == "active"
    assert states["s-2"]["state"] == "suppressed"
    assert states["s-2"]["inhibitedBy"]
    assert states["s-9"]["state"] == "suppressed"
    assert states["s-9"]["inhibitedBy"]
    assert _queued(webhook, "south-queue") == []
