"""Ids not in the inventory, end to end: a real Mosquitto and a real collector process."""

from __future__ import annotations

import re
import secrets
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.sales import sales_window

from collector.main import main
from collector.process import CollectorProcess
from collector.store import db
from simulators.broker import MosquittoProcess
from simulators.stack.single_gateway import TestGateway
from simulators.stack.wait import wait_for
from telemetry import Heartbeat, Kind, encode, topic_for
from telemetry.models import LinkState, Outcomes, Status, Transactions

pytestmark = pytest.mark.integration

HOSTILE = 600
MAX_LISTED = 100


def _rows(target: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = db.connect(target, readonly=True)
    try:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]
    finally:
        conn.close()


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _sample(text: str, name: str) -> float | None:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


@pytest.fixture
def run_collector(mosquitto: MosquittoProcess, store_url: str, tmp_path: Path) -> Iterator[object]:
    procs: list[CollectorProcess] = []

    def start(terminals: str = "", **env: str) -> int:
        inv = tmp_path / "inventory"
        inv.mkdir(exist_ok=True)
        (inv / "sites.csv").write_text("site_id,region_id,name\nS1,north,Store 1\n")
        (inv / "gateways.csv").write_text(
            "gateway_id,site_id,region_id\ngw-known,S1,north\ngw-peer,S1,north\n"
        )
        if terminals:
            (inv / "terminals.csv").write_text(
                "terminal_id,gateway_id,site_id,region_id\n" + terminals
            )
        collector = CollectorProcess(
            store_url,
            mosquitto.port,
            inventory=inv,
            log_path=tmp_path / "collector.log",
            env={
                "POSFLEET_GRACE_MIN_S": "0.5",
                "POSFLEET_ENROLMENT_MAX": str(MAX_LISTED),
                "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "0",
                **env,
            },
        )
        procs.append(collector.start())
        port = collector.metrics_port
        wait_for(lambda: "posfleet_collector_blind 0.0" in _scrape(port), 30, what="collector up")
        return port

    try:
        yield start
    finally:
        for p in procs:
            p.stop()


def test_random_hostile_ids_and_a_dead_stranger_make_no_gateway_row_and_no_page(
    run_collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    port = run_collector()
    hostile = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hostile")
    hostile.connect("127.0.0.1", mosquitto.port)
    hostile.loop_start()
    try:
        for _ in range(HOSTILE):
            gw = f"gw-{secrets.token_hex(6)}"
            hb = Heartbeat(gw=gw, ts=datetime.now(UTC), session=1, seq=0, interval=0.5)
            hostile.publish(topic_for(gw, Kind.HEARTBEAT), encode(hb), 1).wait_for_publish(5)
    finally:
        hostile.disconnect()
        hostile.loop_stop()
    wait_for(
        lambda: (
            _sample(_scrape(port), 'posfleet_collector_rejected_total{reason="unregistered"}')
            == HOSTILE
        ),
        30,
        what="every hostile heartbeat rejected as unregistered",
    )
    # A stranger and an enrolled gateway (plus a live peer, so the store itself stays up) die
    # the same way: only the enrolled one is paged.
    peer = TestGateway("gw-peer", mosquitto.port, interval=0.5).connect()
    known = TestGateway("gw-known", mosquitto.port, interval=0.5).connect()
    stranger = TestGateway("gw-stranger", mosquitto.port, interval=0.5).connect()
    try:
        wait_for(
            lambda: (
                _rows(store_url, "SELECT status FROM gateways WHERE gateway_id='gw-known'")
                == [("online",)]
            ),
            15,
            what="gw-known online",
        )
        wait_for(
            lambda: (
                _rows(
                    store_url,
                    "SELECT messages > 2 FROM enrolment WHERE subject_id=?",
                    "gw-stranger",
                )
                == [(1,)]
            ),
            15,
            what="the stranger listed and beating",
        )
        known.kill()
        stranger.kill()
        wait_for(
            lambda: (
                _rows(
                    store_url,
                    "SELECT state FROM alerts WHERE kind='gateway_down' AND subject_id='gw-known'",
                )
                == [("firing",)]
            ),
            30,
            what="the enrolled gateway paged",
        )
        wait_for(
            lambda: (
                _rows(store_url, "SELECT last_kind FROM enrolment WHERE subject_id='gw-stranger'")
                == [("status",)]
            ),
            15,
            what="the stranger's will listed",
        )
    finally:
        peer.close()
        for g in (known, stranger):
            if g.client is not None:
                g.close()
    assert _rows(store_url, "SELECT gateway_id FROM gateways ORDER BY 1") == [
        ("gw-known",),
        ("gw-peer",),
    ]
    assert _rows(store_url, "SELECT count(*) FROM terminals") == [(0,)]
    assert _rows(store_url, "SELECT DISTINCT subject_id FROM alerts") == [("gw-known",)]
    assert _rows(store_url, "SELECT DISTINCT subject_id FROM state_changes ORDER BY 1") == [
        ("gw-known",),
        ("gw-peer",),
    ]
    assert _rows(store_url, "SELECT count(*) FROM enrolment") == [(MAX_LISTED,)]
    text = _scrape(port)
    assert _sample(text, 'posfleet_enrolment_pending{subject_type="gateway"}') == MAX_LISTED
    # Every hostile id was listed once; the bound dropped all but the most recent.
    assert _sample(text, "posfleet_collector_enrolment_dropped_total") == HOSTILE + 1 - MAX_LISTED
    assert 'status="unregistered"' not in text
    assert "gw-stranger" not in text  # no per-id series, least of all a firing alert


def test_auto_enrol_all_tracks_and_pages_an_unknown_gateway_in_the_unassigned_region(
    run_collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    port = run_collector(POSFLEET_AUTO_ENROL="all")
    gw = TestGateway("gw-walkin", mosquitto.port, interval=0.5).connect()
    try:
        wait_for(
            lambda: (
                _rows(
                    store_url,
                    "SELECT site_id, region_id, registered, status FROM gateways "
                    "WHERE gateway_id='gw-walkin'",
                )
                == [("", "unassigned", 1, "online")]
            ),
            15,
            what="gw-walkin enrolled and online",
        )
        gw.kill()
        wait_for(
            lambda: (
                _rows(
                    store_url,
                    "SELECT region_id, state FROM alerts WHERE kind='gateway_down' "
                    "AND subject_id='gw-walkin'",
                )
                == [("unassigned", "firing")]
            ),
            30,
            what="gw-walkin paged in the unassigned region",
        )
    finally:
        if gw.client is not None:
            gw.close()
    assert _rows(store_url, "SELECT count(*) FROM enrolment") == [(0,)]
    text = _scrape(port)
    assert _sample(text, 'posfleet_collector_auto_enrolled_total{subject_type="gateway"}') == 1.0
    assert _sample(text, 'posfleet_collector_rejected_total{reason="unregistered"}') == 0.0


FORGED_ROUNDS = 40


@contextmanager
def _pinpad_traffic(port: int) -> Iterator[mqtt.Client]:
    """gw-known and gw-peer beating meanwhile, and a raw client that speaks for pinpad-k as
    either."""
    known = TestGateway("gw-known", port, interval=0.5).connect()
    peer = TestGateway("gw-peer", port, interval=0.5).connect()
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pinpad-traffic")
    raw.connect("127.0.0.1", port)
    raw.loop_start()
    try:
        yield raw
    finally:
        raw.disconnect()
        raw.loop_stop()
        for g in (known, peer):
            if g.client is not None:
                g.close()


def test_a_peer_gateway_cannot_keep_another_gateways_dead_pinpad_alive_nor_put_sales_on_it(
    run_collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    port = run_collector(terminals="pinpad-k,gw-known,S1,north\n")
    with _pinpad_traffic(mosquitto.port) as raw:

        def send(gw: str, kind: Kind, body: object) -> None:
            assert isinstance(body, Heartbeat | Status | Transactions)
            raw.publish(topic_for(gw, kind, "pinpad-k"), encode(body), 1).wait_for_publish(5)

        wait_for(
            lambda: (
                _rows(store_url, "SELECT status FROM gateways ORDER BY gateway_id")
                == [("online",), ("online",)]
            ),
            15,
            what="both gateways online",
        )
        # pinpad-k's own gateway reports it once, then pinpad-k dies.
        now = datetime.now(UTC)
        send(
            "gw-known",
            Kind.HEARTBEAT,
            Heartbeat(gw="gw-known", terminal="pinpad-k", ts=now, session=1, seq=0, interval=0.5),
        )
        wait_for(
            lambda: (
                _rows(store_url, "SELECT status FROM terminals WHERE terminal_id='pinpad-k'")
                == [("online",)]
            ),
            15,
            what="pinpad-k online through its own gateway",
        )
        # gw-peer goes on speaking for it: heartbeats, an online status, sales.
        for seq in range(1, FORGED_ROUNDS + 1):
            now = datetime.now(UTC)
            send(
                "gw-peer",
                Kind.HEARTBEAT,
                Heartbeat(
                    gw="gw-peer", terminal="pinpad-k", ts=now, session=1, seq=seq, interval=0.5
                ),
            )
            send(
                "gw-peer",
                Kind.STATUS,
                Status(
                    gw="gw-peer", terminal="pinpad-k", ts=now, state=LinkState.ONLINE, session=1
                ),
            )
            send("gw-peer", Kind.TRANSACTIONS, sales_window("gw-peer", "pinpad-k", now, seq))
        wait_for(
            lambda: (
                _sample(_scrape(port), 'posfleet_collector_rejected_total{reason="wrong_gateway"}')
                == 3 * FORGED_ROUNDS
            ),
            30,
            what="every message gw-peer sent about pinpad-k rejected as wrong_gateway",
        )
        wait_for(
            lambda: (
                _rows(store_url, "SELECT status FROM terminals WHERE terminal_id='pinpad-k'")
                == [("down",)]
            ),
            15,
            what="pinpad-k down behind its live gateway",
        )
        assert _rows(store_url, "SELECT status FROM gateways ORDER BY gateway_id") == [
            ("online",),
            ("online",),
        ]
    assert _rows(store_url, "SELECT count(*) FROM txn_aggregates") == [(0,)]
    assert _rows(store_url, "SELECT count(*) FROM enrolment") == [(0,)]
    text = _scrape(port)
    assert _sample(text, 'posfleet_collector_rejected_total{reason="unregistered"}') == 0.0


OLD_WORDS = 5


def test_a_pinpad_moved_in_the_inventory_is_refused_from_its_old_gateway_at_once(
    run_collector, mosquitto: MosquittoProcess, store_url: str, tmp_path: Path
) -> None:
    """The import that moves pinpad-k from gw-known to gw-peer, made while the collector runs,
    is the whole change: the old gateway's heartbeats and sales about it are wrong_gateway from
    then on, before the new gateway has said anything about it; the new one's are taken."""
    port = run_collector(terminals="pinpad-k,gw-known,S1,north\n")
    with _pinpad_traffic(mosquitto.port) as raw:

        def send(gw: str, seq: int) -> None:
            now = datetime.now(UTC)
            hb = Heartbeat(gw=gw, terminal="pinpad-k", ts=now, session=1, seq=seq, interval=30)
            txn = Transactions(
                gw=gw,
                terminal="pinpad-k",
                ts=now,
                since=now - timedelta(minutes=20),
                until=now - timedelta(seconds=seq),
                outcomes=Outcomes(approved=seq + 1),
                approved_amount=100,
                currency="CNY",
            )
            for kind, body in ((Kind.HEARTBEAT, hb), (Kind.TRANSACTIONS, txn)):
                raw.publish(topic_for(gw, kind, "pinpad-k"), encode(body), 1).wait_for_publish(5)

        def wrong_gateway() -> float | None:
            return _sample(
                _scrape(port), 'posfleet_collector_rejected_total{reason="wrong_gateway"}'
            )

        send("gw-known", 0)
        wait_for(
            lambda: (
                _rows(
                    store_url,
                    "SELECT t.status, count(a.id) FROM terminals t LEFT JOIN txn_aggregates a "
                    "ON a.terminal_id = t.terminal_id WHERE t.terminal_id='pinpad-k' "
                    "GROUP BY t.status",
                )
                == [("online", 1)]
            ),
            15,
            what="pinpad-k online, and its sales taken, through gw-known",
        )
        # The pad is carried to gw-peer's counter; the operator imports the move.
        moved = tmp_path / "moved"
        moved.mkdir()
        (moved / "terminals.csv").write_text("terminal_id,gateway_id\npinpad-k,gw-peer\n")
        assert main(["import-inventory", "--db", store_url, str(moved)]) == 0
        for seq in range(1, OLD_WORDS + 1):
            send("gw-known", seq)
        wait_for(
            lambda: wrong_gateway() == 2 * OLD_WORDS,
            30,
            what="every message gw-known sent about pinpad-k after the move: wrong_gateway",
        )
        send("gw-peer", 0)
        wait_for(
            lambda: (
                _rows(
                    store_url,
                    "SELECT gateway_id FROM txn_aggregates WHERE terminal_id='pinpad-k' "
                    "ORDER BY id",
                )
                == [("gw-known",), ("gw-peer",)]
            ),
            15,
            what="pinpad-k's sales taken through gw-peer",
        )
        assert _rows(store_url, "SELECT status FROM terminals WHERE terminal_id='pinpad-k'") == [
            ("online",)
        ]
    assert wrong_gateway() == 2 * OLD_WORDS
    assert _sample(_scrape(port), 'posfleet_collector_rejected_total{reason="unregistered"}') == 0.0


def _firing(text: str, terminal: str) -> list[str]:
    """The posfleet_alert_firing series of ``terminal``."""
    return [
        line
        for line in text.splitlines()
        if line.startswith("posfleet_alert_firing{") and f'terminal="{terminal}"' in line
    ]


def test_a_pinpad_moved_before_its_old_gateway_dies_is_judged_and_paged_behind_the_new_one(
    run_collector, mosquitto: MosquittoProcess, store_url: str, tmp_path: Path
) -> None:
    """pinpad-k is moved from gw-known to gw-peer, which has never reported it (nor itself);
    then gw-known dies. The pad is not held behind gw-known's outage: judged through gw-peer
    from the move on, it goes down when gw-peer does not report it, and its page names
    gw-peer."""
    port = run_collector(
        terminals="pinpad-k,gw-known,S1,north\n",
        # The collector's first connection is a broker restart for all it knows: its hold is
        # the agents' backoff, short here, so gw-peer (never back) is judged within the test.
        POSFLEET_AGENT_RECONNECT_MAX_S="1",
        POSFLEET_RESTART_MARGIN_S="0",
        POSFLEET_ALERT_PENDING_TERMINAL_DOWN_S="0",
    )
    known = TestGateway("gw-known", mosquitto.port, interval=0.5).connect()
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pinpad-traffic")
    raw.connect("127.0.0.1", mosquitto.port)
    raw.loop_start()
    try:

        def beat(gw: str, seq: int) -> None:
            hb = Heartbeat(
                gw=gw, terminal="pinpad-k", ts=datetime.now(UTC), session=1, seq=seq, interval=10
            )
            topic = topic_for(gw, Kind.HEARTBEAT, "pinpad-k")
            raw.publish(topic, encode(hb), 1).wait_for_publish(5)

        def pad() -> list[tuple[object, ...]]:
            return _rows(
                store_url, "SELECT gateway_id, status FROM terminals WHERE terminal_id='pinpad-k'"
            )

        beat("gw-known", 0)
        wait_for(lambda: pad() == [("gw-known", "online")], 15, what="pinpad-k online")
        moved = tmp_path / "moved"
        moved.mkdir()
        (moved / "terminals.csv").write_text("terminal_id,gateway_id\npinpad-k,gw-peer\n")
        assert main(["import-inventory", "--db", store_url, str(moved)]) == 0
        beat("gw-known", 1)
        wait_for(
            lambda: (
                _sample(_scrape(port), 'posfleet_collector_rejected_total{reason="wrong_gateway"}')
                == 1.0
            ),
            15,
            what="the move taken by the collector (gw-known's word on pinpad-k refused)",
        )
        known.kill()  # the socket dies: the broker publishes gw-known's will
        wait_for(
            lambda: (
                _rows(store_url, "SELECT status FROM gateways WHERE gateway_id='gw-known'")
                == [("down",)]
            ),
            15,
            what="gw-known down",
        )
        wait_for(
            lambda: pad() == [("gw-peer", "down")],
            30,
            what="pinpad-k down behind gw-peer, which never reported it",
        )
        wait_for(
            lambda: len(_firing(_scrape(port), "pinpad-k")) == 1,
            15,
            what="pinpad-k's page exported",
        )
    finally:
        raw.disconnect()
        raw.loop_stop()
    assert _rows(
        store_url,
        "SELECT kind, subject_id, gateway_id, state, inhibited_by FROM alerts "
        "WHERE state <> 'resolved' ORDER BY kind",
    ) == [
        ("gateway_down", "gw-known", "gw-known", "firing", None),
        ("terminal_down", "pinpad-k", "gw-peer", "firing", None),
    ]
    (series,) = _firing(_scrape(port), "pinpad-k")
    assert 'alertname="terminal_down"' in series
    assert 'gateway="gw-peer"' in series
    assert "gw-known" not in series
