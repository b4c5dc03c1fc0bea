"""Several webhook notifiers on one store (issue #14): each page is claimed per row, so it goes
out once while its claimer lives, in order per alert, and a notifier killed in the middle of a
delivery leaves its claim to the others when the lease ends. Real HTTP receiver, real store
(SQLite file and PostgreSQL), and in the kill test a real notifier process killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collector.alerts.webhook import WebhookNotifier
from collector.model import Liveness
from collector.store import db
from simulators.stack.wait import wait_for

from .store import Harness, add_site, open_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
SITES = [f"s{i}" for i in range(6)]


class Receiver:
    """Records every POST it answers 200. ``hold`` makes the first request hang unanswered
    until released (a receiver that is slow while its sender dies)."""

    def __init__(self, hold: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    first = hold and not receiver.held
                    if first:
                        receiver.held.append(body)
                if first:
                    receiver.release.wait(60)
                    return  # never answered: its sender is gone by then
                with receiver.lock:
                    receiver.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = open_store(store_url)
    for site in SITES:
        add_site(c, site, [f"{site}-g{i}" for i in range(4)])
    try:
        yield c
    finally:
        c.close()


def pageable_events(conn: db.Connection) -> list[int]:
    """The ids of what must be posted: pages and resolves (read here, not by the notifier)."""
    rows = conn.execute(
        "SELECT id FROM alert_events WHERE (from_state = 'pending' AND to_state = 'firing') "
        "OR (from_state = 'firing' AND to_state = 'resolved') ORDER BY id"
    ).fetchall()
    conn.rollback()
    return [int(r[0]) for r in rows]


def outage_and_recovery(h: Harness) -> None:
    """One gateway down in each site (a gateway page each), then back (a resolve each)."""
    for site in SITES:
        h.gateway(f"{site}-g0", Liveness.DOWN)
    h.advance(61)
    for site in SITES:
        h.gateway(f"{site}-g0", Liveness.ONLINE)


def test_two_notifiers_racing_on_one_store_post_each_event_once_in_order_per_alert(
    conn: db.Connection, store_url: str
) -> None:
    receiver = Receiver()
    notifiers = [
        WebhookNotifier(store_url, receiver.url, poll_s=0.01, worker=f"n{i}") for i in (1, 2)
    ]
    try:
        # Both are created before anything happens: both must post from here on.
        h = Harness(conn, T0)
        outage_and_recovery(h)
        expected = pageable_events(conn)
        assert len(expected) == 2 * len(SITES)
        barrier = threading.Barrier(2)

        def race(n: WebhookNotifier) -> None:
            barrier.wait(10)
            while n.run_once():
                pass

        threads = [threading.Thread(target=race, args=(n,)) for n in notifiers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        wait_for(lambda: len(receiver.bodies) >= len(expected), 30, what="every event posted")
        for n in notifiers:
            assert n.run_once() == 0  # nothing left, nothing posted twice
    finally:
        for n in notifiers:
            n.close()
        receiver.close()
    posted = Counter(b["event_id"] for b in receiver.bodies)
    assert sorted(posted) == expected
    assert set(posted.values()) == {1}
    assert sum(n.sent for n in notifiers) == len(expected)
    for site in SITES:
        of_alert = [b["event"] for b in receiver.bodies if b["alert"]["subject_id"] == f"{site}-g0"]
        assert of_alert == ["firing", "resolved"], site


NOTIFIER_PROCESS = """
import sys, threading
from collector.alerts.webhook import WebhookNotifier
n = WebhookNotifier(sys.argv[1], sys.argv[2], poll_s=0.05, timeout_s=60, lease_s=float(sys.argv[3]),
                    worker="doomed")
print("ready", flush=True)
n.start()  # its thread hangs in the POST of its first event until the process is killed
threading.Event().wait()
"""


def test_a_notifier_killed_in_the_middle_of_a_delivery_leaves_it_to_another_after_the_lease(
    conn: db.Connection, store_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(hold=True)
    lease_s = 10.0  # long enough that a loaded machine cannot outrun it before the check
    survivor = WebhookNotifier(store_url, receiver.url, poll_s=0.05, worker="survivor")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    doomed = subprocess.Popen(
        [sys.executable, "-c", NOTIFIER_PROCESS, store_url, receiver.url, str(lease_s)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == "ready"
        h = Harness(conn, T0)
        h.gateway("s0-g0", Liveness.DOWN)
        h.advance(61)
        h.gateway("s0-g0", Liveness.ONLINE)
        page, resolve = pageable_events(conn)
        # The doomed notifier claims the page and is stuck posting it; then it dies.
        wait_for(lambda: receiver.held, 20, what="the doomed notifier's POST")
        assert receiver.held[0]["event_id"] == page
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        # Its lease still runs: the survivor neither posts the page nor jumps to the resolve.
        assert survivor.run_once() == 0
        assert receiver.bodies == []
        # Once the lease has ended by the store's clock, the survivor delivers both, in order.
        survivor.start()
        wait_for(lambda: len(receiver.bodies) == 2, 5 * lease_s + 20, what="the page taken over")
        assert [(b["event_id"], b["event"]) for b in receiver.bodies] == [
            (page, "firing"),
            (resolve, "resolved"),
        ]
        (attempts,) = conn.execute(
            "SELECT attempts FROM webhook_deliveries WHERE event_id = ? AND state = 'delivered'",
            (page,),
        ).fetchone()
        conn.rollback()
        assert attempts == 2  # claimed by the doomed one, then taken over
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
        if doomed.stdout is not None:
            doomed.stdout.close()
        survivor.close()
        receiver.close()


def test_a_notifier_that_closes_gives_its_claims_back_at_once(
    conn: db.Connection, store_url: str
) -> None:
    receiver = Receiver()
    first = WebhookNotifier(store_url, "http://127.0.0.1:9/nobody", timeout_s=1, worker="a")
    second = WebhookNotifier(store_url, receiver.url, worker="b", lease_s=3600)
    try:
        h = Harness(conn, T0)
        h.gateway("s0-g0", Liveness.DOWN)
        h.advance(61)
        assert first.run_once() == 0  # unreachable: its claim is released, not kept
        assert second.run_once() == 1
    finally:
        first.close()
        second.close()
        receiver.close()
    assert [b["event"] for b in receiver.bodies] == ["firing"]


def test_a_store_upgraded_from_the_single_cursor_continues_where_it_stopped(
    conn: db.Connection, store_url: str
) -> None:
    h = Harness(conn, T0)
    h.gateway("s0-g0", Liveness.DOWN)
    h.advance(61)
    (delivered,) = pageable_events(conn)  # posted by the release with the single cursor
    with conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('alerts.webhook.cursor', ?)", (str(delivered),)
        )
    h.gateway("s1-g0", Liveness.DOWN)
    h.advance(61)
    receiver = Receiver()
    notifier = WebhookNotifier(store_url, receiver.url, worker="upgraded")
    try:
        assert notifier.run_once() == 1
    finally:
        notifier.close()
        receiver.close()
    assert [b["alert"]["subject_id"] for b in receiver.bodies] == ["s1-g0"]


def test_the_floor_moves_up_behind_what_is_delivered_and_never_past_what_is_not(
    conn: db.Connection, store_url: str
) -> None:
    # The harness's events are dated 2026-03-02: older than the floor's 10-minute margin.
    receiver = Receiver()
    down = WebhookNotifier(store_url, "http://127.0.0.1:9/nobody", timeout_s=1, worker="down")
    up = WebhookNotifier(store_url, receiver.url, worker="up")
    try:
        h = Harness(conn, T0)
        h.gateway("s0-g0", Liveness.DOWN)
        h.advance(61)
        h.gateway("s1-g0", Liveness.DOWN)
        h.advance(61)
        first, second = pageable_events(conn)
        assert down.run_once() == 0  # unreachable: nothing done
        assert down.advance_floor() == first - 1  # held below the first undelivered page
        assert up.run_once() == 2
        assert up.advance_floor() == max_event_id(conn)
        # Its delivery rows are gone with the scan: the log is the receiver's now.
        assert conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (0,)
        conn.rollback()
        h.gateway("s0-g0", Liveness.ONLINE)  # a resolve above the floor still goes out
        assert up.run_once() == 1
    finally:
        down.close()
        up.close()
        receiver.close()
    assert [b["event_id"] for b in receiver.bodies][:2] == [first, second]
    assert [b["event"] for b in receiver.bodies] == ["firing", "firing", "resolved"]


def max_event_id(conn: db.Connection) -> int:
    (n,) = conn.execute("SELECT max(id) FROM alert_events").fetchone()
    conn.rollback()
    return int(n)
