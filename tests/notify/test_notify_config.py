"""A bad configuration names the setting and the fix; secrets never reach the logs."""

from __future__ import annotations

import logging

import pytest
from notify_fakes import FakeRobot, alert, post, webhook, write_config

from notify import ConfigError
from notify.config import load
from notify.main import main


@pytest.mark.parametrize(
    ("channel", "routes", "message"),
    [
        (
            {"type": "slack", "url": "https://x.example/"},
            None,
            "channels.noc.type must be one of dingtalk, wecom, feishu, http",
        ),
        (
            {"type": "dingtalk", "url": "oapi.dingtalk.com/robot/send"},
            None,
            "channels.noc.url (or url_file) must be an http(s) URL",
        ),
        (
            {"type": "dingtalk", "url": "https://x.example/", "lang": "fr"},
            None,
            "channels.noc.lang must be one of zh-CN, en",
        ),
        (
            {"type": "dingtalk", "url": "https://x.example/", "tz": "Mars/Olympus"},
            None,
            "channels.noc.tz: unknown time zone 'Mars/Olympus'",
        ),
        (
            {"type": "dingtalk", "url": "https://x.example/", "rate": 0},
            None,
            "channels.noc.rate must be >= 1",
        ),
        (
            {"type": "http", "url": "https://sms.example/"},
            None,
            "channels.noc.to must be a non-empty list",
        ),
        (
            {
                "type": "http",
                "url": "https://sms.example/",
                "to": ["1"],
                "body": {"Text": "{message}"},
            },
            None,
            "channels.noc.body.Text: bad placeholder 'message' in '{message}'; use {to}, {title} or {text}",
        ),
        (
            {"type": "dingtalk", "url": "https://x.example/"},
            {"north-oncall": ["nope"]},
            "routes.north-oncall names channel 'nope', which is not defined; add [channels.nope]",
        ),
    ],
)
def test_bad_config_names_the_setting_and_the_fix(tmp_path, channel, routes, message):
    with pytest.raises(ConfigError) as err:
        load(write_config(tmp_path, {"noc": channel}, routes))
    assert message in str(err.value)


def test_a_missing_secret_file_is_named(tmp_path):
    path = write_config(tmp_path, {"noc": {"type": "dingtalk", "url": "https://x.example/"}})
    path.write_text(
        path.read_text().replace(
            'url = "https://x.example/"',
            'url = "https://x.example/"\nsecret_file = "missing.secret"',
        )
    )
    with pytest.raises(
        ConfigError, match=r"channels.noc.secret_file: cannot read .*missing.secret"
    ):
        load(path)


def test_main_exits_2_with_the_message_on_bad_config(tmp_path, capsys):
    path = write_config(tmp_path, {"noc": {"type": "dingtalk", "url": "https://x.example/"}})
    (tmp_path / "ack.key").unlink()
    assert main(["--config", str(path)]) == 2
    assert "relay.ack_secret_file: cannot read" in capsys.readouterr().err


def test_the_robot_token_and_secret_never_reach_the_log(make_relay, clock, caplog):
    with FakeRobot(
        "dingtalk",
        token="tok-SECRET-42",
        secret="SEC-very-secret",
        down=True,
        monotonic=clock.monotonic,
        wall=clock.time,
    ) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url, "secret": robot.secret}})
        with caplog.at_level(logging.DEBUG):
            assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
            relay.sender.pump()
    assert "failed (HTTP 503)" in caplog.text
    assert "tok-SECRET-42" not in caplog.text
    assert "SEC-very-secret" not in caplog.text
    assert repr(relay.config).count("tok-SECRET-42") == 0


def test_the_shipped_example_config_loads(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "notify.toml.example"
    text = example.read_text().replace("/etc/posfleet/notify/", f"{tmp_path}/")
    text = text.replace("/var/lib/posfleet-notify/", f"{tmp_path}/").replace(
        "/var/lib/posfleet/", f"{tmp_path}/"
    )
    for name, value in {
        "ack.key": "k",
        "north-dingtalk.url": "https://oapi.dingtalk.com/robot/send?access_token=t",
        "north-dingtalk.secret": "SECx",
        "north-wecom.url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        "platform-feishu.url": "https://open.feishu.cn/open-apis/bot/v2/hook/h",
        "platform-feishu.secret": "s",
        "sms.token": "Bearer t",
    }.items():
        (tmp_path / name).write_text(value)
    (tmp_path / "notify.toml").write_text(text)
    cfg = load(tmp_path / "notify.toml")
    assert cfg.channels["north-dingtalk"].limits == ((20, 60.0),)
    assert cfg.channels["platform-feishu"].limits == ((100, 60.0), (5, 1.0))
    assert cfg.channels["north-sms"].headers == {"Authorization": "Bearer t"}
    assert cfg.routes["north-oncall"] == ("north-dingtalk", "north-wecom", "north-sms")
