"""The relay as a real process: SIGKILL and restart, a real-time digest, real Alertmanager."""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from notify_fakes import FakeRobot, alert, post, webhook, write_config
from relay_proc import RelayProcess, free_port, metric

from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


def _gateways(robot: FakeRobot) -> list[str]:
    return [gw for r in robot.accepted() for gw in sorted(set(re.findall(r"gw-\d{4}", r.text())))]


def test_relay_killed_with_undelivered_pages_delivers_them_after_restart_and_nothing_twice(
    tmp_path,
):
    with FakeRobot("dingtalk", secret="SECkill") as robot:
        port = free_port()
        cfg = write_config(
            tmp_path,
            {"noc": {"type": "dingtalk", "url": robot.url, "secret": robot.secret}},
            backoff_initial_s=0.2,
            backoff_max_s=0.5,
        )
        relay = RelayProcess(cfg, port, tmp_path).start()
        try:
            hook = f"{relay.url}/alertmanager"
            for i in range(5):
                assert post(hook, webhook([alert(i)])) == 200
            wait_for(lambda: len(_gateways(robot)) == 5, timeout=20, what="first five delivered")
            robot.down = True  # the robot's outage: what arrives now stays queued
            for i in range(5, 12):
                assert post(hook, webhook([alert(i)])) == 200
            wait_for(lambda: len(robot.refused()) >= 2, timeout=20, what="the relay retrying")
            relay.kill()
            robot.down = False
            relay.start()
            wait_for(lambda: len(_gateways(robot)) >= 12, timeout=30, what="all twelve delivered")
            wait_for(
                lambda: metric(relay.url, "posfleet_notify_queue_depth", 'channel="noc"') == 0,
                timeout=10,
                what="queue empty",
            )
        finally:
            relay.stop()
    assert sorted(_gateways(robot)) == [f"gw-{i:04d}" for i in range(12)]  # each exactly once


@pytest.mark.slow
def test_real_time_digest_at_a_reduced_rate_of_5_per_10_seconds(tmp_path):
    with FakeRobot("wecom", rate=5, per_s=10.0) as robot:
        port = free_port()
        cfg = write_config(
            tmp_path,
            {"noc": {"type": "wecom", "url": robot.url, "rate": 5, "per_s": 10.0, "lang": "en"}},
        )
        relay = RelayProcess(cfg, port, tmp_path).start()
        try:
            hook = f"{relay.url}/alertmanager"
            started = time.monotonic()
            for i in range(40):
                assert post(hook, webhook([alert(i)])) == 200
            wait_for(lambda: len(_gateways(robot)) >= 40, timeout=60, what="forty delivered")
            took = time.monotonic() - started
            assert metric(relay.url, "posfleet_notify_digests_total", 'channel="noc"') >= 1
        finally:
            relay.stop()
    assert robot.refused() == []
    assert robot.max_in_window(10.0) <= 5
    assert sorted(_gateways(robot)) == [f"gw-{i:04d}" for i in range(40)]
    assert took < 30.0, f"40 pages at 5 per 10 s took {took:.1f} s: digests should need two windows"


@pytest.mark.slow
def test_real_alertmanager_posting_to_the_relay_reaches_dingtalk_rendered(tmp_path):
    """A shipped rule (PosfleetSiteDown) evaluated by a real Prometheus, posted by a real
    Alertmanager to the relay process: the zh-CN robot reads the rule's Chinese summary and
    description, the English robot on the same route its English ones, both the runbook."""
    from support.services import missing

    from simulators.stack.prometheus import (
        TEST_INTERVALS,
        AlertmanagerProcess,
        PrometheusProcess,
        StackError,
        StandInExporter,
        find_program,
        render_prometheus_config,
    )

    if find_program("prometheus-alertmanager", "alertmanager") is None:
        missing("alertmanager")
    if find_program("prometheus") is None:
        missing("prometheus")
    with ExitStack() as stack:
        robot = stack.enter_context(FakeRobot("dingtalk", secret="SECam"))
        wecom = stack.enter_context(FakeRobot("wecom"))
        exporter = StandInExporter()
        stack.callback(exporter.close)
        port = free_port()
        cfg = write_config(
            tmp_path / "relay",
            {
                "noc": {
                    "type": "dingtalk",
                    "url": robot.url,
                    "secret": robot.secret,
                    "lang": "zh-CN",
                },
                "noc-en": {"type": "wecom", "url": wecom.url, "lang": "en"},
            },
            routes={"north-oncall": ["noc", "noc-en"]},
        )
        template = Path(__file__).with_name("alertmanager-notify.yml").read_text()
        am_dir = tmp_path / "am"
        am_dir.mkdir()
        (am_dir / "alertmanager.yml").write_text(
            template.replace("RELAY_URL", f"http://127.0.0.1:{port}")
        )
        relay = RelayProcess(cfg, port, tmp_path / "relay").start()
        stack.callback(relay.stop)
        try:
            am = AlertmanagerProcess(am_dir / "alertmanager.yml", am_dir).start()
            stack.callback(am.stop)
            prom_config = render_prometheus_config(
                f"127.0.0.1:{exporter.port}",
                f"127.0.0.1:{am.port}",
                TEST_INTERVALS,
                tmp_path / "prom",
            )
            prom = PrometheusProcess(prom_config, tmp_path / "prom").start()
            stack.callback(prom.stop)
        except StackError as exc:
            pytest.fail(str(exc))
        # The collector's series for a store outage, as docs/metrics.md specifies; Prometheus
        # turns it into PosfleetSiteDown with the shipped rule's annotations filled in.
        exporter.firing.labels(
            alertname="site_down",
            severity="critical",
            region="north",
            site="site-9",
            gateway="",
            terminal="",
            acquirer="",  # a store outage names no acquirer (only a store's spike may)
            escalation="1",
            summary="Site site-9 down: 3 of 3 gateways",
            since="2026-11-30T07:48:00+00:00",
        ).set(1)
        wait_for(
            lambda: robot.accepted() and wecom.accepted(),
            timeout=30,
            what="a message at the fake DingTalk and WeCom robots",
        )
    msg = robot.accepted()[0]
    assert msg.query["access_token"] == robot.token
    assert "sign" in msg.query
    text = msg.text()
    assert "【告警】PosfleetSiteDown" in text
    # The rule's summary_zh as Prometheus filled it in (its brackets and colon are
    # full-width already, so markdown neutralising leaves them as they are).
    assert "**内容:** 门店 site-9（north）断线：该店所有网关都无法连接" in text
    assert "is down" not in text
    assert "2026-11-30 15:48 （Asia/Shanghai）" in text  # the collector's `since`, China time
    assert (
        "[处理手册](https://github.com/posfleet/posfleet/blob/main/docs/runbooks/site-down.md)"
        in text
    )
    # The rule's description_zh as Prometheus filled it in, under its own label.
    assert (
        "**说明:** 内容：门店的所有网关都已断线（路由器、电源或上行线路故障）。"
        "位置：区域 north，门店 site-9。升级级别：1。" in text
    )
    assert json.dumps(msg.body, ensure_ascii=False).count("确认（认领）") == 1
    en = wecom.accepted()[0].text()
    assert "FIRING: PosfleetSiteDown" in en
    assert (
        "**What:** Site site-9 （north） is down: every gateway of the store is unreachable" in en
    )
    # The rule's English description, the collector's summary label filled into it.
    assert (
        "**Details:** What: Site site-9 down: 3 of 3 gateways. "
        "Where: region north, site site-9." in en
    )
    assert (
        "[Runbook](https://github.com/posfleet/posfleet/blob/main/docs/runbooks/site-down.md)" in en
    )
    assert "断线" not in en
