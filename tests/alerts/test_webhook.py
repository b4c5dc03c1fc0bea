"""The webhook notifier against a real local HTTP server and a real SQLite store."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collector.alerts.webhook import WebhookNotifier
from collector.model import Liveness
from collector.store import db

from .store import Harness, add_site, open_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = open_store(store_url)
    add_site(c, "store", ["gw1", "gw2"])
    try:
        yield c
    finally:
        c.close()


def events(r: Receiver) -> list[tuple[str, str, str]]:
    return [(b["event"], b["alert"]["kind"], b["alert"]["subject_id"]) for b in r.bodies]


def test_pages_and_resolves_are_posted_once_in_order_and_survive_a_restart(
    conn: db.Connection, store_url: str, receiver: Receiver
) -> None:
    h = Harness(conn, T0)
    h.gateway("gw1", Liveness.DOWN)
    h.advance(5)
    h.gateway("gw1", Liveness.ONLINE)  # a blip: never fired, nothing to send
    notifier = WebhookNotifier(store_url, receiver.url)
    try:
        h.gateway("gw2", Liveness.DOWN)
        h.advance(61)
        assert notifier.run_once() == 1
        h.gateway("gw2", Liveness.ONLINE)
        assert notifier.run_once() == 1
        assert notifier.run_once() == 0
    finally:
        notifier.close()
    assert events(receiver) == [
        ("firing", "gateway_down", "gw2"),
        ("resolved", "gateway_down", "gw2"),
    ]
    assert receiver.bodies[0]["alert"]["summary"].startswith("Gateway gw2 (site store")

    again = WebhookNotifier(store_url, receiver.url)  # restart: the cursor is in the store
    try:
        assert again.run_once() == 0
    finally:
        again.close()


def test_a_failing_receiver_is_retried_without_losing_or_reordering(
    conn: db.Connection, store_url: str, receiver: Receiver
) -> None:
    h = Harness(conn, T0)
    notifier = WebhookNotifier(store_url, receiver.url)
    try:
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)
        h.gateway("gw1", Liveness.ONLINE)
        receiver.status = 503
        assert notifier.run_once() == 0
        assert notifier.failures == 1
        receiver.status = 200
        assert notifier.run_once() == 2
    finally:
        notifier.close()
    assert [e[0] for e in events(receiver)] == ["firing", "resolved"]


def test_unreachable_receiver_counts_a_failure_and_keeps_the_event(
    conn: db.Connection, store_url: str
) -> None:
    h = Harness(conn, T0)
    notifier = WebhookNotifier(store_url, "http://127.0.0.1:9/nothing-listens", timeout_s=1)
    try:
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)
        assert notifier.run_once() == 0
        assert notifier.failures == 1
        (fired,) = conn.execute(
            "SELECT id FROM alert_events WHERE from_state = 'pending' AND to_state = 'firing'"
        ).fetchone()
        # Still to be delivered, and not held: any collector may take it now.
        assert conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE event_id = ?", (fired,)
        ).fetchone() == (0,)
    finally:
        notifier.close()


def test_a_paged_alert_silenced_by_its_site_going_down_is_reported_suppressed(
    conn: db.Connection, store_url: str, receiver: Receiver
) -> None:
    # The store goes down 61 s after gw1, beyond its 30 s spread: a new outage, whose own
    # page takes over (within the spread gw1's page would cover the store, see below).
    h = Harness(conn, T0, site_spread_s=30)
    notifier = WebhookNotifier(store_url, receiver.url)
    try:
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)
        h.gateway("gw2", Liveness.DOWN)  # the whole site is down now
        h.advance(31)
        assert notifier.run_once() == 3
    finally:
        notifier.close()
    # gw1's page is closed only once the store's page is out (not while the site was
    # pending), so the receiver never sees the outage without an open page.
    assert events(receiver) == [
        ("firing", "gateway_down", "gw1"),
        ("firing", "site_down", "store"),
        ("suppressed", "gateway_down", "gw1"),
    ]


def _documented_payload() -> tuple[dict[str, str], set[str], dict[str, Any]]:
    """docs/collector.md "Webhook payload": field -> type, the event names, the example."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "collector.md").read_text()
    section = doc[doc.index("### Webhook payload") :]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    types = {r[0].strip("`"): r[1] for r in rows}
    names = set(re.findall(r"`(\w+)` \(", rows[0][2]))
    found = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert found, "the webhook section has no example payload"
    return types, names, json.loads(found[1])


def _flat(body: dict[str, Any]) -> dict[str, Any]:
    top = {k: v for k, v in body.items() if k != "alert"}
    return top | {f"alert.{k}": v for k, v in body["alert"].items()}


_PY_TYPES: dict[str, tuple[type | None, ...]] = {
    "string": (str,),
    "int": (int,),
    "string or null": (str, type(None)),
}


def test_the_webhook_sends_exactly_the_documented_payload_fields_and_types(
    conn: db.Connection, store_url: str, receiver: Receiver
) -> None:
    types, names, example = _documented_payload()
    h = Harness(conn, T0)
    notifier = WebhookNotifier(store_url, receiver.url)
    try:
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)  # gw1 pages
        h.advance(900)  # escalates, unacknowledged
        h.gateway("gw2", Liveness.DOWN)  # the whole site: once it pages, gw1's is suppressed
        h.advance(31)
        h.gateway("gw2", Liveness.ONLINE)  # the site is back: site_down resolves
        assert notifier.run_once() == 5
    finally:
        notifier.close()
    sent = [_flat(b) for b in receiver.bodies]
    assert [b["event"] for b in sent] == [
        "firing",
        "escalated",
        "firing",
        "suppressed",
        "resolved",
    ]
    assert {b["event"] for b in sent} == names == {"firing", "escalated", "resolved", "suppressed"}
    for body in [*sent, _flat(example)]:
        assert set(body) == set(types), body
        for name, value in body.items():
            assert isinstance(value, _PY_TYPES[types[name]]), (name, value)
            assert not isinstance(value, bool), name
    assert _flat(example)["event"] == "firing"


class GarbageThenReceiver(Receiver):
    """Answers the first ``garbage`` POSTs with a broken status line (http.client's
    BadStatusLine), then like Receiver."""

    def __init__(self, garbage: int) -> None:
        super().__init__()
        self.garbage = garbage
        inner = self.server.RequestHandlerClass

        class Handler(inner):  # type: ignore[misc,valid-type]
            def do_POST(self) -> None:
                if outer.garbage > 0:
                    outer.garbage -= 1
                    self.rfile.read(int(self.headers["Content-Length"]))
                    self.wfile.write(b"HELLO THIS IS NOT HTTP\r\n\r\n")
                    self.close_connection = True
                    return
                super().do_POST()

        outer = self
        self.server.RequestHandlerClass = Handler


def test_a_receiver_answering_garbage_does_not_kill_the_notifier(
    conn: db.Connection, store_url: str
) -> None:
    """BadStatusLine is no OSError: it used to end the thread, and every later page with it."""
    from prometheus_client import CollectorRegistry

    from simulators.stack.wait import wait_for

    receiver = GarbageThenReceiver(garbage=2)
    registry = CollectorRegistry()
    notifier = WebhookNotifier(
        store_url, receiver.url, poll_s=0.05, max_backoff_s=0.2, registry=registry
    ).start()
    try:
        h = Harness(conn, T0, site_spread_s=30)  # the store down later pages on its own
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)
        wait_for(lambda: receiver.garbage == 0, 10, what="two garbage answers")
        wait_for(lambda: receiver.bodies, 10, what="the page, delivered after the garbage")
        assert notifier.alive()
        h.gateway("gw2", Liveness.DOWN)  # the next page (site down) gets through too
        h.advance(31)
        wait_for(lambda: len(receiver.bodies) >= 3, 10, what="the next pages")
        assert notifier.alive()
    finally:
        notifier.close()
        receiver.close()
    assert events(receiver)[0] == ("firing", "gateway_down", "gw1")
    failures = registry.get_sample_value(
        "posfleet_alert_webhook_failures_total", {"reason": "bad_response"}
    )
    assert failures == 2


def test_any_error_of_a_delivery_is_counted_retried_with_backoff_and_survived(
    conn: db.Connection, store_url: str, receiver: Receiver
) -> None:
    from prometheus_client import CollectorRegistry

    from collector.alerts.webhook import http_post
    from simulators.stack.wait import wait_for

    calls: list[float] = []

    def flaky(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ValueError("unknown url type")  # what urllib says of a bad URL
        if len(calls) == 2:
            raise RuntimeError("a bug of ours")  # raised outside the post's own handling
        return http_post(url, body, headers, timeout)

    registry = CollectorRegistry()
    notifier = WebhookNotifier(
        store_url, receiver.url, poll_s=0.05, max_backoff_s=5, post=flaky, registry=registry
    ).start()
    try:
        h = Harness(conn, T0)
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)
        wait_for(lambda: receiver.bodies, 10, what="the page after two failures")
        wait_for(lambda: notifier.sent == 1, 10, what="the delivery counted")
        assert notifier.alive()
        assert notifier.failed_in_a_row == 0  # a success ends the backoff
    finally:
        notifier.close()
    sample = registry.get_sample_value
    assert sample("posfleet_alert_webhook_failures_total", {"reason": "bad_response"}) == 1
    assert sample("posfleet_alert_webhook_failures_total", {"reason": "error"}) == 1
    # Backoff: 0.1 s after the first failure, 0.2 s after the second (doubling from poll_s).
    assert calls[1] - calls[0] >= 0.1
    assert calls[2] - calls[1] >= 0.2


def test_a_failing_webhook_logs_its_host_never_its_token(
    conn: db.Connection, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    garbage = GarbageThenReceiver(garbage=1)
    port = garbage.server.server_address[1]
    secret_urls = [
        f"http://127.0.0.1:{port}/hooks/T0KEN-IN-PATH?key=T0KEN-IN-QUERY",  # garbage answer
        "http://hook-user:T0KEN-PASSWORD@127.0.0.1:9/T0KEN-UNREACHABLE",  # nothing listens
        "htp://127.0.0.1/T0KEN-BAD-SCHEME",  # urllib: ValueError naming the URL
    ]
    h = Harness(conn, T0)
    h.gateway("gw1", Liveness.DOWN)
    h.advance(61)
    try:
        for url in secret_urls:
            conn.execute("DELETE FROM meta WHERE key = 'alerts.webhook.floor'")
            conn.execute("INSERT INTO meta (key, value) VALUES ('alerts.webhook.floor', '0')")
            conn.commit()
            notifier = WebhookNotifier(store_url, url, timeout_s=2)
            try:
                assert notifier.run_once() == 0
                assert notifier.failures == 1
            finally:
                notifier.close()
    finally:
        garbage.close()
    assert "T0KEN" not in caplog.text
    assert f"http://127.0.0.1:{port}/…" in caplog.text  # the host is said
    assert "127.0.0.1:9/…" in caplog.text


def test_the_webhook_url_can_come_from_a_file_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector.alerts.config import AlertConfigError, AlertSettings

    url = "https://hooks.example/services/T0KEN/abc?sig=T0KEN2"
    secret = tmp_path / "webhook-url"
    secret.write_text(url + "\n")
    monkeypatch.setenv("POSFLEET_ALERT_WEBHOOK_URL_FILE", str(secret))
    settings = AlertSettings.from_env()
    assert settings.webhook_endpoint() == url
    assert "T0KEN" not in repr(settings)
    assert "T0KEN" not in str(settings.model_dump())
    monkeypatch.setenv("POSFLEET_ALERT_WEBHOOK_URL", url)  # both: which one?
    with pytest.raises(AlertConfigError, match="not both") as both:
        AlertSettings.from_env()
    assert "T0KEN" not in str(both.value)
    monkeypatch.delenv("POSFLEET_ALERT_WEBHOOK_URL")
    monkeypatch.setenv("POSFLEET_ALERT_WEBHOOK_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(AlertConfigError, match="POSFLEET_ALERT_WEBHOOK_URL_FILE: cannot read"):
        AlertSettings.from_env()
    # A hysteresis mistake used to print every setting's input, the URL among them.
    monkeypatch.setenv("POSFLEET_ALERT_WEBHOOK_URL_FILE", str(secret))
    monkeypatch.setenv("POSFLEET_ALERT_LATENCY_CLEAR_MS", "900")
    with pytest.raises(AlertConfigError, match="hysteresis") as bad:
        AlertSettings.from_env()
    assert "T0KEN" not in str(bad.value)


def test_a_postgresql_session_the_server_drops_is_replaced_and_pages_still_go_out(
    pg_url: str, receiver: Receiver
) -> None:
    """A server restart ends the notifier's session: it reconnects, no page is lost."""
    import psycopg

    from simulators.stack.wait import wait_for

    conn = open_store(pg_url)
    add_site(conn, "store", ["gw1", "gw2", "gw3"])  # two down is not the whole site
    notifier = WebhookNotifier(pg_url, receiver.url, poll_s=0.05, max_backoff_s=0.2).start()
    try:
        h = Harness(conn, T0)
        h.gateway("gw1", Liveness.DOWN)
        h.advance(61)
        wait_for(lambda: len(receiver.bodies) == 1, 10, what="the first page")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "datname = current_database() AND application_name = 'posfleet' "
                "AND pid <> pg_backend_pid()"
            )
        conn.close()
        conn = h.conn = open_store(pg_url)  # the harness's session went too
        h.gateway("gw2", Liveness.DOWN)
        h.advance(61)
        wait_for(lambda: len(receiver.bodies) >= 2, 10, what="the page after the restart")
        assert notifier.alive()
    finally:
        notifier.close()
        conn.close()
    assert events(receiver) == [
        ("firing", "gateway_down", "gw1"),
        ("firing", "gateway_down", "gw2"),
    ]


def test_a_spread_store_outage_posts_one_page_and_one_resolve(
    conn: db.Connection, store_url: str, receiver: Receiver
) -> None:
    h = Harness(conn, T0, pending_gateway_down_s=1, pending_site_down_s=0, site_spread_s=90)
    notifier = WebhookNotifier(store_url, receiver.url)
    try:
        h.gateway("gw1", Liveness.DOWN)  # the store losing power, one keepalive at a time
        h.advance(40)
        h.gateway("gw2", Liveness.DOWN)
        h.advance(60)
        notifier.run_once()
        h.gateway("gw2", Liveness.ONLINE)  # power back
        h.gateway("gw1", Liveness.ONLINE)
        h.advance(30)
        notifier.run_once()
    finally:
        notifier.close()
    assert events(receiver) == [
        ("firing", "gateway_down", "gw1"),
        ("resolved", "gateway_down", "gw1"),
    ]
