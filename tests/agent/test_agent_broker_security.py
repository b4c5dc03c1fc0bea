"""The shipped deploy/mosquitto config, adapted to free ports and temp paths, on a real
Mosquitto: TLS with the pinned CA, per-gateway passwords, the ACL, client ids bound to the
authenticated identity, and the collector's own listener."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from agent_support import AgentThread, Observer, settings
from paho.mqtt.enums import CallbackAPIVersion
from support.services import missing

from agent.check import check_broker
from agent.config import AgentSettings
from agent.main import main as agent_main
from collector.process import free_port
from simulators.broker import find_mosquitto, wait_for_port
from simulators.stack.wait import wait_for

# Waits that only guard against "never": generous, for a loaded 2-core CI machine.
DEADLINE = 30.0

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
    collector_port: int
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
    for user, passwd in (
        ("gw-a", "passwd"),
        ("gw-b", "passwd"),
        ("_collector", "collector.passwd"),
    ):
        assert (
            agent_main(
                [
                    "issue-credentials",
                    user,
                    "--password-file",
                    str(d / passwd),
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
    for name in ("acl", "collector.acl"):
        (d / name).write_text((DEPLOY / name).read_text())
    port, cert_port, collector_port = free_port(), free_port(), free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("/etc/mosquitto/posfleet/", f"{d}/")
    conf = conf.replace("listener 8883", f"listener {port} 127.0.0.1")
    conf = conf.replace("listener 8884", f"listener {cert_port} 127.0.0.1")
    conf = conf.replace("listener 8885 127.0.0.1", f"listener {collector_port} 127.0.0.1")
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
        wait_for_port("127.0.0.1", collector_port)
        yield SecureBroker(d, port, cert_port, collector_port, ca, ca_key, creds)
    finally:
        proc.terminate()
        proc.wait(10)


def client(
    b: SecureBroker,
    user: str | None,
    password: str | None = None,
    cert: bool = False,
    *,
    client_id: str | None = None,
    port: int | None = None,
) -> tuple[mqtt.Client, list[object]]:
    """Connect and wait for the CONNACK. The port defaults to the listener the user belongs
    on: the certificate listener, the collector's (service accounts, ``_name``), else the
    gateways' password listener."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"{user}-test")
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
    if port is None:
        service = user is not None and user.startswith("_")
        port = b.cert_port if cert else b.collector_port if service else b.port
    c.connect("127.0.0.1", port, keepalive=10)
    c.loop_start()
    wait_for(lambda: result, DEADLINE, what="CONNACK")
    return c, result


def collector_observer(b: SecureBroker) -> Observer:
    """Reads posfleet/v1/# as the collector does: its credentials, its own listener."""
    return Observer(
        "127.0.0.1",
        b.collector_port,
        username="_collector",
        password=b.password("_collector"),
        ca_file=b.ca,
    )


def attempt_denied(c: mqtt.Client, topic: str) -> None:
    """Publish outside the ACL. Mosquitto 2.0 drops the message and, for MQTT 3.1.1 QoS 1,
    closes the connection (observed with 2.0.11); wait for either outcome."""
    info = c.publish(topic, b'{"spoof":1}', qos=1)
    wait_for(lambda: info.is_published() or not c.is_connected(), DEADLINE, what="publish handled")


def marker(b: SecureBroker, user: str, obs: Observer, cert: bool = False) -> None:
    """A fresh, allowed message from ``user``: once it arrives, a spoof sent before it
    would have arrived too (one broker, processed in order)."""
    c, rc = client(b, user, cert=cert)
    try:
        assert not rc[0].is_failure  # type: ignore[attr-defined]
        c.publish(f"posfleet/v1/{user}/event", b"{}", qos=1).wait_for_publish(DEADLINE)
        wait_for(lambda: obs.raw, DEADLINE, what=f"{user}'s own message")
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
    obs = collector_observer(b)
    gw_a, rc = client(b, "gw-a")
    try:
        assert not rc[0].is_failure  # type: ignore[attr-defined]
        wait_for(obs.subscribed.is_set, DEADLINE, what="collector subscribed")
        attempt_denied(gw_a, "posfleet/v1/gw-b/status")
        marker(b, "gw-a", obs)
        assert [t for t, _ in obs.raw] == ["posfleet/v1/gw-a/event"]
    finally:
        close(gw_a)
        obs.close()


def test_the_collector_reads_but_cannot_publish(secure_broker: SecureBroker) -> None:
    b = secure_broker
    obs = collector_observer(b)
    collector, _ = client(b, "_collector")
    try:
        wait_for(obs.subscribed.is_set, DEADLINE, what="collector subscribed")
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
    obs = collector_observer(b)
    gw_a, rc = client(b, "gw-a", cert=True)
    try:
        assert not rc[0].is_failure  # type: ignore[attr-defined]
        wait_for(obs.subscribed.is_set, DEADLINE, what="collector subscribed")
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
    obs = collector_observer(b)
    try:
        wait_for(obs.subscribed.is_set, DEADLINE, what="collector subscribed")
        agent = AgentThread(s)
        try:
            wait_for(
                lambda: obs.of_kind("status") and obs.of_kind("heartbeat"),
                DEADLINE,
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
            port=b.collector_port,
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
        wait_for(
            lambda: drain() is not None and ingest.connected, DEADLINE, what="collector connected"
        )
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


# ---------------------------------------------------------------- identity: client id = user
def gw_agent(b: SecureBroker, tmp_path: Path, gateway_id: str) -> AgentSettings:
    return settings(
        b.port,
        tmp_path / gateway_id,
        gateway_id=gateway_id,
        tls=True,
        ca_file=b.ca,
        username=gateway_id,
        password_file=b.creds / f"{gateway_id}.password",
    )


def statuses(obs: Observer, gateway_id: str) -> list[str]:
    return [
        body.get("state", "?")
        for t, body, _ in list(obs.messages)
        if t == f"posfleet/v1/{gateway_id}/status"
    ]


@pytest.mark.parametrize("cert", [False, True], ids=["password", "certificate"])
def test_a_gateway_connecting_under_another_gateways_client_id_does_not_disconnect_it(
    secure_broker: SecureBroker, tmp_path: Path, cert: bool
) -> None:
    """The issue's attack: gw-a, with its own valid credentials, connects again and again
    with client id gw-b. The broker makes that connection gw-a's own, so the real gw-b
    agent is never taken over: no will, no second birth."""
    b = secure_broker
    obs = collector_observer(b)
    agent = AgentThread(gw_agent(b, tmp_path, "gw-b"))
    try:
        wait_for(lambda: statuses(obs, "gw-b") == ["online"], DEADLINE, what="gw-b's birth")
        for _ in range(5):
            attacker, rc = client(b, "gw-a", cert=cert, client_id="gw-b")
            assert not rc[0].is_failure  # type: ignore[attr-defined]
            close(attacker)
        # A takeover publishes gw-b's will while the broker handles that CONNECT, before
        # its CONNACK; gw-a's own message, sent after the last CONNACK, comes after it.
        marker_at = len(obs.raw)
        c, _ = client(b, "gw-a", cert=cert)
        c.publish("posfleet/v1/gw-a/event", b"{}", qos=1).wait_for_publish(DEADLINE)
        close(c)
        wait_for(
            lambda: "posfleet/v1/gw-a/event" in [t for t, _ in obs.raw[marker_at:]],
            DEADLINE,
            what="gw-a's marker",
        )
        assert statuses(obs, "gw-b") == ["online"], "gw-b was knocked off the broker"
    finally:
        agent.stop()
        obs.close()


def takeovers_counted(registry: object) -> float:
    value = registry.get_sample_value(  # type: ignore[attr-defined]
        "posfleet_collector_session_takeovers_total"
    )
    assert value is not None, "the takeover counter is missing"
    return float(value)


def test_a_gateway_cannot_take_over_the_collectors_session(secure_broker: SecureBroker) -> None:
    """gw-a connecting with the collector's client id, on the gateways' listener, gets a
    session of its own (gw-a): the collector's persistent session stays, and it is not
    disconnected even once."""
    import queue

    from prometheus_client import CollectorRegistry

    from collector.ingest import BrokerSettings, LinkEvent, MqttIngest, Received
    from collector.metrics import CollectorMetrics

    b = secure_broker
    registry = CollectorRegistry()
    inbox: queue.SimpleQueue[Received | LinkEvent] = queue.SimpleQueue()
    ingest = MqttIngest(
        BrokerSettings(
            port=b.collector_port,
            client_id="posfleet-collector",
            username="_collector",
            password_file=b.creds / "_collector.password",
            tls_ca=b.ca,
        ),
        inbox,
        CollectorMetrics(registry),
    )
    got: list[Received | LinkEvent] = []

    def drain() -> list[Received | LinkEvent]:
        ingest.pump(0.05)
        while not inbox.empty():
            got.append(inbox.get_nowait())
        return got

    ingest.start()
    try:
        wait_for(lambda: drain() and ingest.connected, DEADLINE, what="collector connected")
        for _ in range(5):
            attacker, rc = client(b, "gw-a", client_id="posfleet-collector")
            assert not rc[0].is_failure  # type: ignore[attr-defined]
            close(attacker)
        # The broker sends the collector its DISCONNECT (0x8E) before the attacker's
        # CONNACK; gw-b's message, published after, reaches the collector after it.
        marker(b, "gw-b", collector_observer_stub := collector_observer(b))
        collector_observer_stub.close()
        wait_for(
            lambda: any(isinstance(i, Received) and "gw-b" in i.topic for i in drain()),
            DEADLINE,
            what="gw-b's marker read by the collector",
        )
    finally:
        ingest.stop()
    links = [i.connected for i in got if isinstance(i, LinkEvent)]
    assert links == [True], f"the collector's link went {links}"
    assert takeovers_counted(registry) == 0
    assert registry.get_sample_value("posfleet_collector_broker_disconnects_total") == 0


def test_gateway_credentials_do_not_open_the_collectors_listener(
    secure_broker: SecureBroker,
) -> None:
    """The collector's listener takes only the collector's password file: a gateway cannot
    log in there under any client id; and the collector's password opens no gateway
    listener (where its client id would be forced to `_collector` anyway)."""
    b = secure_broker
    gw, rc_gw = client(b, "gw-a", client_id="posfleet-collector", port=b.collector_port)
    col, rc_col = client(b, "_collector", port=b.port)
    try:
        assert rc_gw[0].is_failure, "gw-a's password opened the collector's listener"  # type: ignore[attr-defined]
        assert rc_col[0].is_failure, "_collector's password opened the gateways' listener"  # type: ignore[attr-defined]
    finally:
        close(gw)
        close(col)


def test_the_collector_counts_a_takeover_of_its_session(secure_broker: SecureBroker) -> None:
    """A second client with the collector's credentials and client id (stolen credentials,
    or two collectors given one POSFLEET_CLIENT_ID) takes the session over: the collector
    counts it (posfleet_collector_session_takeovers_total, the alert's input) and
    reconnects."""
    import queue

    from prometheus_client import CollectorRegistry

    from collector.ingest import BrokerSettings, LinkEvent, MqttIngest, Received
    from collector.metrics import CollectorMetrics

    b = secure_broker
    registry = CollectorRegistry()
    inbox: queue.SimpleQueue[Received | LinkEvent] = queue.SimpleQueue()
    ingest = MqttIngest(
        BrokerSettings(
            port=b.collector_port,
            client_id="posfleet-collector",
            username="_collector",
            password_file=b.creds / "_collector.password",
            tls_ca=b.ca,
        ),
        inbox,
        CollectorMetrics(registry),
    )
    links: list[bool] = []

    def drain() -> list[bool]:
        ingest.pump(0.05)
        while not inbox.empty():
            item = inbox.get_nowait()
            if isinstance(item, LinkEvent):
                links.append(item.connected)
        return links

    def takeovers() -> float:
        drain()
        return takeovers_counted(registry)

    ingest.start()
    try:
        wait_for(lambda: drain() == [True], DEADLINE, what="collector connected")
        assert takeovers() == 0
        thief, rc = client(b, "_collector", client_id="posfleet-collector")
        try:
            assert not rc[0].is_failure  # type: ignore[attr-defined]
            wait_for(lambda: takeovers() >= 1, DEADLINE, what="the takeover counted")
        finally:
            close(thief)
        # The thief's paho reconnects on its own until closed: the two may have fought
        # over the id a few rounds. The collector ends connected, and counted every loss.
        wait_for(lambda: drain()[-1:] == [True], DEADLINE, what="the collector reconnected")
    finally:
        ingest.stop()
    while not inbox.empty():
        item = inbox.get_nowait()
        if isinstance(item, LinkEvent):
            links.append(item.connected)
    assert links[:2] == [True, False]
    assert links[-2:] == [True, False]  # reconnected, then our own stop()
    losses = links.count(False) - 1
    assert registry.get_sample_value("posfleet_collector_broker_disconnects_total") == losses
    assert takeovers_counted(registry) == losses


def test_check_on_a_gateway_whose_agent_is_running_does_not_knock_it_off(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    """`posfleet-agent check` next to a running agent: on the shipped broker any login as
    gw-a IS client id gw-a, so the check must not log in (it says why) and the agent stays
    connected: no will, no second birth."""
    b = secure_broker
    s = gw_agent(b, tmp_path, "gw-a")
    obs = collector_observer(b)
    agent = AgentThread(s)
    try:
        wait_for(lambda: statuses(obs, "gw-a") == ["online"], DEADLINE, what="gw-a's birth")
        (s.state_dir / "agent.pid").write_text(f"{os.getpid()}\n")  # the agent runs here
        out = io.StringIO()
        assert check_broker(s, out), out.getvalue()
        assert "ok   TLS" in out.getvalue()
        assert "skip MQTT credentials" in out.getvalue()
        marker_at = len(obs.raw)
        marker(b, "gw-b", obs)
        wait_for(
            lambda: "posfleet/v1/gw-b/event" in [t for t, _ in obs.raw[marker_at:]],
            DEADLINE,
            what="gw-b's marker",
        )
        assert statuses(obs, "gw-a") == ["online"], "the check knocked the agent off"
    finally:
        agent.stop()
        obs.close()
