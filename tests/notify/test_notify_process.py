"""The relay as a real process: SIGKILL and restart, a real-time digest, real Alertmanager."""

from __future__ import annotations

import json
import re
import time
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


def test_real_alertmanager_posting_to_the_relay_reaches_dingtalk_rendered(tmp_path):
    from simulators.stack.prometheus import AlertmanagerProcess, StackError, find_program

    if find_program("prometheus-alertmanager", "alertmanager") is None:
        from support.services import missing

        missing("alertmanager")
    with FakeRobot("dingtalk", secret="SECam") as robot:
        port = free_port()
        cfg = write_config(
            tmp_path / "relay",
            {
                "noc": {
                    "type": "dingtalk",
                    "url": robot.url,
                    "secret": robot.secret,
                    "lang": "zh-CN",
                }
            },
            routes={"north-oncall": ["noc"]},
        )
        template = Path(__file__).with_name("alertmanager-notify.yml").read_text()
        am_dir = tmp_path / "am"
        am_dir.mkdir()
        (am_dir / "alertmanager.yml").write_text(
            template.replace("RELAY_URL", f"http://127.0.0.1:{port}")
        )
        relay = RelayProcess(cfg, port, tmp_path / "relay").start()
        try:
            try:
                am = AlertmanagerProcess(am_dir / "alertmanager.yml", am_dir).start()
            except StackError as exc:
                pytest.fail(str(exc))
            try:
                am.post_alerts(
                    [
                        {
                            "labels": {
                                "alertname": "SiteDown",
                                "severity": "page",
                                "region": "north",
                                "site": "site-9",
                            },
                            "annotations": {
                                "summary": "Site site-9 (north) is down",
                                "runbook_url": "https://runbooks.example/site-down.md",
                            },
                        }
                    ]
                )
                wait_for(
                    lambda: robot.accepted(), timeout=30, what="a message at the fake DingTalk"
                )
            finally:
                am.stop()
        finally:
            relay.stop()
    msg = robot.accepted()[0]
    assert msg.query["access_token"] == robot.token
    assert "sign" in msg.query
    text = msg.text()
    assert "【告警】SiteDown" in text
    assert "Site site-9 （north） is down" in text
    assert "[处理手册](https://runbooks.example/site-down.md)" in text
    assert json.dumps(msg.body, ensure_ascii=False).count("确认（认领）") == 1
