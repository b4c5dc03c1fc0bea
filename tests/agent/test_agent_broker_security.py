"""The shipped deploy/mosquitto config, adapted to free ports and temp paths, on a real
Mosquitto: TLS with the pinned CA, per-gateway passwords, and the ACL."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from agent_support import AgentThread, Observer, settings
from paho.mqtt.enums import CallbackAPIVersion
from support.services import missing
from support.wait import wait_for

from agent.check import check_broker
from agent.config import AgentSettings
from agent.main import main as agent_main
from simulators.broker import find_mosquitto, free_port, wait_for_port

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: Path, name: str) -> tuple[Path, Path]:
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(crt),
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
    )
    return crt, key


@dataclass
class SecureBroker:
    dir: Path
    port: int
    cert_port: int
    ca: Path
    ca_key: Path
    creds: Path

    def password(self, user: str) -> str:
        return (self.creds / f"{user}.password").read_text().strip()


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    exe = find_mosquitto()
    if exe is None:
        missing("mosquitto")  # under CI (and scripts/test) a failure, never a skip
    d = tmp_path / "etc"
    d.mkdir()
    ca, ca_key = make_ca(d, "ca")
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(d / "server.key"),
        "-out",
        str(d / "server.csr"),
        "-subj",
        "/CN=localhost",
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        str(d / "server.csr"),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(d / "san.ext"),
        "-out",
        str(d / "server.crt"),
    )
    creds = tmp_path / "creds"
    for user in ("gw-a", "gw-b", "_collector"):
        assert (
            agent_main(
                [
                    "issue-credentials",
                    user,
                    "--password-file",
                    str(d / "passwd"),
                    "--out",
                    str(creds),
                    "--ca-cert",
                    str(ca),
                    "--ca-key",
                    str(ca_key),
                ]
            )
            == 0
        )
    (d / "acl").write_text((DEPLOY / "acl").read_text())
    port, cert_port = free_port(), free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("/etc/mosquitto/posfleet/", f"{d}/")
    conf = conf.replace("listener 8883", f"listener {port} 127.0.0.1")
    conf = conf.replace("listener 8884", f"listener {cert_port} 127.0.0.1")
    conf = conf.replace("/var/lib/mosquitto/", f"{tmp_path}/")
    conf = conf.replace("log_dest syslog", f"log_dest file {tmp_path}/mosquitto.log")
    conf += "user root\n"  # the test runs as root; never drop to a user that can't read tmp
    (d / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen(
        [exe, "-c", str(d / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port("127.0.0.1", port)
        wait_for_port("127.0.0.1", cert_port)
        yield SecureBroker(d, port, cert_port, ca, ca_key, creds)
    finally:
        proc.terminate()
        proc.wait(10)


def client(
    b: SecureBroker, user: str | None, password: str | None = None, cert: bool = False
) -> tuple[mqtt.Client, list[object]]:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-test")
    result: list[object] = []
    c.on_connect = lambda cl, u, f, rc, p: result.append(rc)
    if cert:
        c.tls_set(
            ca_certs=str(b.ca),
            certfile=str(b.creds / f"{user}.crt"),
            keyfile=str(b.creds / f"{user}.key"),
        )
    else:
        c.tls_set(ca_certs=str(b.ca))
        if user is not None:
            c.username_pw_set(user, password if password is not None else b.password(user))
    c.connect("127.0.0.1", b.cert_port if cert else b.port, keepalive=10)
    c.loop_start()
    wait_for(lambda: result, 5, what="CONNACK")
    return c, result


def attempt_denied(c: mqtt.Client, topic: str) -> None:
    """Publish outside the ACL. Mosquitto 2.0 drops the message and, for MQTT 3.1.1 QoS 1,
    closes the connection (observed with 2.0.11); wait for either outcome."""
    info = c.publish(topic, b'{"spoof":1}', qos=1)
    wait_for(lambda: info.is_published() or not c.is_connected(), 5, what="publish handled")


def marker(b: SecureBroker, user: str, obs: Observer, cert: bool = False) -> None:
    """A fresh, allowed message from ``user``: once it arrives, a spoof sent before it
    would have arrived too (one broker, processed in order)."""
    c, rc = client(b, user, cert=cert)
    try:
        assert not rc[0].is_failure  # type: ignore[attr-defined]
        c.publish(f"posfleet/v1/{user}/event", b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: obs.raw, 5, what=f"{user}'s own message")
    finally:
        close(c)


def close(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()


def tls_agent(b: SecureBroker, tmp_path: Path) -> AgentSettings:
    """gw-a's agent settings: TLS with the pinned CA and its own password."""
    return settings(
        b.port,
        tmp_path / "agent",
        gateway_id="gw-a",
        tls=True,
        ca_file=b.ca,
        username="gw-a",
        password_file=b.creds / "gw-a.password",
    )


def test_a_gateway_cannot_publish_under_another_gateways_id(secure_broker: SecureBroker) -> None:
    b = secure_broker
    obs = Observer(
        "127.0.0.1", b.port, username="_collector", password=b.password("_collector"), ca_file=b.ca
    )
    gw_a, rc = client(b, "gw-a")
    try:
        assert not rc[0].is_failure  # type: ignore[attr-defined]
        wait_for(obs.subscribed.is_set, 5, what="collector subscribed")
        attempt_denied(gw_a, "posfleet/v1/gw-b/status")
        marker(b, "gw-a", obs)
        assert [t for t, _ in obs.raw] == ["posfleet/v1/gw-a/event"]
    finally:
        close(gw_a)
        obs.close()


def test_the_collector_reads_but_cannot_publish(secure_broker: SecureBroker) -> None:
    b = secure_broker
    obs = Observer(
        "127.0.0.1", b.port, username="_collector", password=b.password("_collector"), ca_file=b.ca
    )
    collector, _ = client(b, "_collector")
    try:
        wait_for(obs.subscribed.is_set, 5, what="collector subscribed")
        attempt_denied(collector, "posfleet/v1/gw-b/status")
        marker(b, "gw-b", obs)
        assert [t for t, _ in obs.raw] == ["posfleet/v1/gw-b/event"]
    finally:
        close(collector)
        obs.close()


def test_anonymous_and_wrong_password_are_refused(secure_broker: SecureBroker) -> None:
    anon, rc_anon = client(secure_broker, None)
    wrong, rc_wrong = client(secure_broker, "gw-a", password="guess")
    try:
        assert rc_anon[0].is_failure  # type: ignore[attr-defined]
        assert rc_wrong[0].is_failure  # type: ignore[attr-defined]
    finally:
        close(anon)
        close(wrong)


def test_a_client_certificate_identifies_the_gateway_for_the_acl(
    secure_broker: SecureBroker,
) -> None:
    b = secure_broker
    obs = Observer(
        "127.0.0.1", b.port, username="_collector", password=b.password("_collector"), ca_file=b.ca
    )
    gw_a, rc = client(b, "gw-a", cert=True)
    try:
        assert not rc[0].is_failure  # type: ignore[attr-defined]
        wait_for(obs.subscribed.is_set, 5, what="collector subscribed")
        attempt_denied(gw_a, "posfleet/v1/gw-b/event")
        marker(b, "gw-a", obs, cert=True)
        assert [t for t, _ in obs.raw] == ["posfleet/v1/gw-a/event"]
    finally:
        close(gw_a)
        obs.close()


def test_the_agent_connects_over_tls_with_the_pinned_ca_and_its_birth_passes_the_acl(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    b = secure_broker
    s = tls_agent(b, tmp_path)
    out = io.StringIO()
    assert check_broker(s, out), out.getvalue()
    assert "ok   TLS" in out.getvalue()
    obs = Observer(
        "127.0.0.1", b.port, username="_collector", password=b.password("_collector"), ca_file=b.ca
    )
    try:
        wait_for(obs.subscribed.is_set, 5, what="collector subscribed")
        agent = AgentThread(s)
        try:
            wait_for(
                lambda: obs.of_kind("status") and obs.of_kind("heartbeat"),
                10,
                what="agent birth and heartbeat over TLS",
            )
        finally:
            agent.stop()
    finally:
        obs.close()


def test_check_fails_against_a_broker_whose_ca_is_not_the_pinned_one(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    other_ca, _ = make_ca(tmp_path, "other")
    s = settings(
        secure_broker.port,
        tmp_path / "agent",
        gateway_id="gw-a",
        tls=True,
        ca_file=other_ca,
        username="gw-a",
        password_file=secure_broker.creds / "gw-a.password",
    )
    out = io.StringIO()
    assert not check_broker(s, out)
    assert "FAIL TLS" in out.getvalue()


def test_the_collector_ingests_the_agents_telemetry_over_tls(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    """The collector's own connection (MqttIngest: external loop, read-ahead socket) over
    TLS with the pinned CA and its password: the agent's birth and heartbeats arrive."""
    import queue

    from collector.ingest import BrokerSettings, LinkEvent, MqttIngest, Received

    b = secure_broker
    inbox: queue.SimpleQueue[Received | LinkEvent] = queue.SimpleQueue()
    ingest = MqttIngest(
        BrokerSettings(
            port=b.port,
            client_id="collector-tls-test",
            username="_collector",
            password_file=b.creds / "_collector.password",
            tls_ca=b.ca,
        ),
        inbox,
    )
    ingest.start()
    got: list[Received | LinkEvent] = []

    def drain() -> list[str]:
        ingest.pump(0.05)
        while not inbox.empty():
            got.append(inbox.get_nowait())
        return [i.topic.rsplit("/", 1)[-1] for i in got if isinstance(i, Received)]

    try:
        wait_for(lambda: drain() is not None and ingest.connected, 10, what="collector connected")
        agent = AgentThread(tls_agent(b, tmp_path))
        try:
            wait_for(
                lambda: {"status", "heartbeat"} <= set(drain()),
                15,
                what="agent birth and heartbeat read by the collector over TLS",
            )
        finally:
            agent.stop()
    finally:
        ingest.stop()
    assert isinstance(got[0], LinkEvent)
    assert got[0].connected
    assert all(i.topic.startswith("posfleet/v1/gw-a/") for i in got if isinstance(i, Received))
