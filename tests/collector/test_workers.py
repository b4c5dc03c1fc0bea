"""A worker thread of the collector that dies fails /healthz (503, named) and shows as
posfleet_collector_worker_up{worker} 0: a notifier that died must not look healthy."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from collector.config import load_config
from collector.service import Collector
from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for
from simulators.stack.webhook import WebhookReceiver

pytestmark = pytest.mark.integration


def _get(c: Collector, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{c.http.port}{path}", timeout=5) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read().decode()


def _worker_up(c: Collector, worker: str) -> float | None:
    return c.registry.get_sample_value("posfleet_collector_worker_up", {"worker": worker})


@pytest.fixture
def collector(
    mosquitto: MosquittoProcess, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Collector]:
    with WebhookReceiver() as hook:
        monkeypatch.setenv("POSFLEET_ALERT_WEBHOOK_URL", hook.url)
        settings = load_config(
            db=store_url, broker_port=mosquitto.port, metrics_port=0, client_id="test-workers"
        )
        c = Collector(settings).start()
        try:
            wait_for(lambda: c.processor.connected, 10, what="collector connected")
            yield c
        finally:
            c.stop()


# The thread is killed on purpose: its unhandled SystemExit is the point, not a test error.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_webhook_thread_fails_healthz_and_its_metric(collector: Collector) -> None:
    status, body = _get(collector, "/healthz")
    assert status == 200, body
    assert json.loads(body)["workers"] == {"processor": True, "webhook": True}
    assert _worker_up(collector, "webhook") == 1.0
    assert 'posfleet_collector_worker_up{worker="webhook"} 1.0' in _get(collector, "/metrics")[1]

    def die() -> Any:
        raise SystemExit  # not an Exception: nothing in the loop may catch it

    assert collector.webhook is not None
    collector.webhook.run_once = die  # type: ignore[method-assign]
    wait_for(lambda: not collector.webhook.alive(), 10, what="the notifier thread to end")

    status, body = _get(collector, "/healthz")
    assert status == 503, body
    health = json.loads(body)
    assert health["dead_workers"] == ["webhook"]
    assert health["broker_connected"] is True  # only the worker is wrong
    assert _worker_up(collector, "webhook") == 0.0
    assert _worker_up(collector, "processor") == 1.0
    assert 'posfleet_collector_worker_up{worker="webhook"} 0.0' in _get(collector, "/metrics")[1]
