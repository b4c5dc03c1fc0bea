"""Each robot's signature as the real service checks it (the fakes verify independently)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from notify_fakes import FakeRobot, alert, drain, post, webhook

from notify.channels import feishu_sign


def test_feishu_signature_matches_an_independent_implementations_vector():
    # HMAC-SHA256 keyed with "timestamp\nsecret" over an empty message, base64: the vector
    # comes from another project's test suite, computed with node:crypto.
    assert (
        feishu_sign("orbit-test-secret", 1756800000)
        == "sN+9ZKa5w6BQmKyxCaxNA1DWEgtEnZaOcfEOCqZ26fg="
    )


def _first_second_whose_dingtalk_sign_has_a_plus(secret: str, start_s: float) -> float:
    # A sign with '+' in it is what goes wrong when the base64 is not URL-encoded: the
    # robot decodes '+' as a space. Pick such a moment so the test cannot pass by luck.
    t = int(start_s)
    while True:
        mac = hmac.new(secret.encode(), f"{t * 1000}\n{secret}".encode(), hashlib.sha256)
        if "+" in base64.b64encode(mac.digest()).decode():
            return t - start_s
        t += 1


def test_dingtalk_signed_message_is_accepted_by_a_robot_checking_the_signature(make_relay, clock):
    secret = "SEC0123456789abcdef"
    clock.advance(_first_second_whose_dingtalk_sign_has_a_plus(secret, clock.time()))
    with FakeRobot("dingtalk", secret=secret, monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url, "secret": secret}})
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
        drain(relay, clock)
    [msg] = robot.received
    assert msg.accepted, msg.answer
    assert set(msg.query) == {"access_token", "timestamp", "sign"}
    assert msg.body["msgtype"] == "markdown"


def test_dingtalk_robot_refuses_a_wrong_secret_and_the_page_stays_queued(make_relay, clock):
    with FakeRobot(
        "dingtalk", secret="SECright", monotonic=clock.monotonic, wall=clock.time
    ) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url, "secret": "SECwrong"}})
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
        relay.sender.pump()
    [msg] = robot.received
    assert not msg.accepted
    assert msg.answer["errcode"] == 310000
    assert relay.spool.depth() == {"noc": 1}
    assert (
        relay.registry.get_sample_value(
            "posfleet_notify_notifications_total", {"channel": "noc", "result": "retry"}
        )
        == 1
    )


def test_dingtalk_robot_refuses_a_stale_timestamp(make_relay, clock):
    # The relay signs with its own clock: a relay clock an hour and more behind is refused.
    with FakeRobot(
        "dingtalk", secret="SECs", monotonic=clock.monotonic, wall=lambda: clock.time() + 3700
    ) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url, "secret": "SECs"}})
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
        relay.sender.pump()
    [msg] = robot.received
    assert msg.answer == {"errcode": 310000, "errmsg": "invalid timestamp"}


def test_feishu_signed_post_is_accepted_and_a_wrong_secret_is_refused(make_relay, clock):
    with FakeRobot(
        "feishu", secret="fs-secret", monotonic=clock.monotonic, wall=clock.time
    ) as robot:
        good = make_relay(
            {"good": {"type": "feishu", "url": robot.url, "secret": "fs-secret"}},
            routes={"north-oncall": ["good"]},
        )
        bad = make_relay(
            {"bad": {"type": "feishu", "url": robot.url, "secret": "other"}},
            routes={"north-oncall": ["bad"]},
        )
        for r in (good, bad):
            assert post(f"http://127.0.0.1:{r.port}/alertmanager", webhook([alert(1)])) == 200
            r.sender.pump()
    ok, refused = robot.received
    assert ok.accepted, ok.answer
    assert isinstance(ok.body["timestamp"], str)
    assert len(ok.body["timestamp"]) == 10
    assert ok.body["msg_type"] == "post"
    assert not refused.accepted
    assert refused.answer["code"] == 19021
    assert bad.spool.depth() == {"bad": 1}


def test_wecom_robot_needs_its_key_and_gets_markdown_content(make_relay, clock):
    with FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "wecom", "url": robot.url}})
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
        drain(relay, clock)
    [msg] = robot.received
    assert msg.accepted
    assert msg.body["msgtype"] == "markdown"
    assert "gw-0001" in msg.body["markdown"]["content"]
