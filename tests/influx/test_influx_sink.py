"""The sink's writer logic against a scripted write function (fast, no server).

The server-facing behaviour (real HTTP, outage drill) is in test_influx_victoria.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import points as p
import pytest
from influxdb_client.rest import ApiException
from prometheus_client import CollectorRegistry

from collector.sinks.buffer import PointBuffer
from collector.sinks.influx import InfluxSink, Outcome, classify
from collector.sinks.schema import to_lines
from simulators.stack.wait import wait_for


class ScriptedServer:
    """Records accepted batches; ``failure`` (when set) is raised instead."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.failure: Exception | None = None
        self.attempts = 0
        self._lock = threading.Lock()

    def write(self, lines: Sequence[str]) -> None:
        with self._lock:
            self.attempts += 1
            if self.failure is not None:
                raise self.failure
            self.accepted.extend(lines)

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)


@pytest.fixture
def server() -> ScriptedServer:
    return ScriptedServer()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _sink(
    server: ScriptedServer,
    registry: CollectorRegistry,
    path: Path,
    max_bytes: int = 10_000_000,
    max_age_s: float = 3600,
    **kw: object,
) -> InfluxSink:
    options: dict[str, object] = {
        "batch_size": 50,
        "flush_interval_s": 0.02,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.2,
    }
    options.update(kw)
    buffer = PointBuffer(path, max_bytes=max_bytes, max_age_s=max_age_s)
    return InfluxSink(server.write, buffer, registry, **options)  # type: ignore[arg-type]


@pytest.fixture
def sink(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> Iterator[InfluxSink]:
    s = _sink(server, registry, tmp_path / "buf.sqlite")
    yield s
    s.close(timeout=1.0)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_points_are_written_in_batches_and_counted(
    sink: InfluxSink, server: ScriptedServer, registry: CollectorRegistry
) -> None:
    ts = p.recent()
    for seq in range(120):
        sink.submit(p.heartbeat("gw-1", seq, ts), ts)
    wait_for(lambda: server.count() == 120, 5, what="120 points written")
    assert _value(registry, "posfleet_influx_points_total", result="written") == 120
    assert _value(registry, "posfleet_influx_points_total", result="buffered") == 0
    assert sink.health()["ok"] is True


def test_unreachable_server_buffers_on_disk_then_drains_in_order_exactly_once(
    sink: InfluxSink, server: ScriptedServer, registry: CollectorRegistry
) -> None:
    ts = p.recent()
    server.failure = ConnectionRefusedError(111, "Connection refused")
    for seq in range(30):
        sink.submit(p.heartbeat("gw-1", seq, ts), ts)
    wait_for(lambda: sink.health()["buffered_points"] == 30, 5, what="30 points buffered")
    health = sink.health()
    assert health["ok"] is False
    assert "Connection refused" in str(health["last_error"])
    assert _value(registry, "posfleet_influx_up") == 0
    assert _value(registry, "posfleet_influx_buffered_points") == 30
    wait_for(lambda: server.attempts >= 3, 5, what="retries with backoff")
    assert _value(registry, "posfleet_influx_points_total", result="buffered") == 30
    assert _value(registry, "posfleet_influx_points_total", result="retried") >= 30
    for seq in range(30, 40):
        sink.submit(p.heartbeat("gw-1", seq, ts), ts)
    server.failure = None
    wait_for(lambda: server.count() == 40, 5, what="all 40 points written")
    seqs = [int(float(line.split("seq=")[1].split(" ")[0])) for line in server.accepted]
    assert seqs == list(range(40))
    wait_for(lambda: sink.health()["buffered_points"] == 0, 5, what="buffer emptied")
    assert _value(registry, "posfleet_influx_points_total", result="written") == 40
    assert sink.health()["ok"] is True
    assert _value(registry, "posfleet_influx_up") == 1
    assert _value(registry, "posfleet_influx_buffered_points") == 0


def test_points_the_server_rejects_as_invalid_are_dropped_with_a_reason(
    sink: InfluxSink, server: ScriptedServer, registry: CollectorRegistry
) -> None:
    ts = p.recent()
    server.failure = ApiException(status=400, reason="Bad Request")
    sink.submit(p.heartbeat("gw-1", 1, ts), ts)
    wait_for(
        lambda: _value(registry, "posfleet_influx_dropped_total", reason="invalid") == 1,
        5,
        what="invalid drop counted",
    )
    assert _value(registry, "posfleet_influx_points_total", result="dropped") == 1
    assert sink.health()["buffered_points"] == 0


def test_a_full_queue_drops_and_counts_instead_of_blocking(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> None:
    gate = threading.Event()

    def stuck_write(lines: Sequence[str]) -> None:
        gate.wait(5)  # a server that hangs: the writer thread is stuck, not the caller
        server.write(lines)

    buffer = PointBuffer(tmp_path / "b.sqlite", max_bytes=10_000_000, max_age_s=3600)
    sink = InfluxSink(
        stuck_write, buffer, registry, batch_size=1, queue_max_points=5, flush_interval_s=0.01
    )
    ts = p.recent()
    started = time.monotonic()
    for seq in range(50):
        sink.submit(p.heartbeat("gw-1", seq, ts), ts)
    assert time.monotonic() - started < 0.5
    dropped = _value(registry, "posfleet_influx_dropped_total", reason="queue_full")
    assert 50 - 5 - 1 <= dropped <= 50 - 5
    gate.set()
    sink.close(timeout=2.0)


def test_a_failing_inventory_lookup_is_counted_and_never_reaches_the_caller(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> None:
    def broken(gw: str) -> dict[str, str]:
        raise KeyError(gw)

    sink = _sink(server, registry, tmp_path / "b.sqlite", tags_for=broken)
    ts = p.recent()
    sink.submit(p.heartbeat("gw-1", 1, ts), ts)
    assert _value(registry, "posfleet_influx_dropped_total", reason="encode") == 1
    sink.close(timeout=1.0)


def test_close_keeps_unwritten_points_on_disk_for_the_next_start(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "b.sqlite"
    server.failure = ConnectionRefusedError(111, "Connection refused")
    first = _sink(server, registry, path)
    ts = p.recent()
    for seq in range(25):
        first.submit(p.heartbeat("gw-1", seq, ts), ts)
    first.close(timeout=0.5)
    assert server.count() == 0
    server.failure = None
    second = _sink(server, CollectorRegistry(), path)
    wait_for(lambda: server.count() == 25, 5, what="buffered points written after restart")
    second.close(timeout=1.0)
    assert len(set(server.accepted)) == 25


def test_http_errors_are_classified_by_whether_waiting_can_help() -> None:
    assert classify(ApiException(status=400)).outcome is Outcome.INVALID
    assert classify(ApiException(status=422)).outcome is Outcome.INVALID
    for status in (401, 404, 429, 500, 503):
        assert classify(ApiException(status=status)).outcome is Outcome.RETRY
    assert classify(TimeoutError("read timed out")).outcome is Outcome.RETRY


def test_a_long_outage_keeps_the_newest_points_within_the_byte_bound(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> None:
    server.failure = ConnectionRefusedError(111, "Connection refused")
    ts = p.recent()
    messages = [p.heartbeat("gw-1", seq, ts + timedelta(seconds=seq)) for seq in range(10, 70)]
    # Room for exactly the 20 newest lines: the bound keeps the longest suffix that fits.
    room = sum(len(to_lines(m)[0]) for m in messages[-20:])
    sink = _sink(server, registry, tmp_path / "b.sqlite", max_bytes=room)
    for m in messages:
        sink.submit(m, ts)
    wait_for(
        lambda: _value(registry, "posfleet_influx_points_total", result="buffered") == 60,
        5,
        what="60 points through the buffer",
    )
    assert _value(registry, "posfleet_influx_dropped_total", reason="buffer_full") == 40
    assert sink.health()["buffered_points"] == 20
    server.failure = None
    wait_for(lambda: server.count() == 20, 5, what="the 20 newest points written")
    seqs = [int(float(line.split("seq=")[1].split(" ")[0])) for line in server.accepted]
    assert seqs == list(range(50, 70))
    sink.close(timeout=1.0)


def test_points_buffered_longer_than_max_age_expire_instead_of_replaying(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> None:
    clock = [1_000.0]
    server.failure = ConnectionRefusedError(111, "Connection refused")
    sink = _sink(server, registry, tmp_path / "b.sqlite", max_age_s=60, wall=lambda: clock[0])
    ts = p.recent()
    for seq in range(10):
        sink.submit(p.heartbeat("gw-1", seq, ts + timedelta(seconds=seq)), ts)
    wait_for(lambda: sink.health()["buffered_points"] == 10, 5, what="points buffered")
    clock[0] += 61
    server.failure = None
    wait_for(
        lambda: _value(registry, "posfleet_influx_dropped_total", reason="expired") == 10,
        5,
        what="stale points expired",
    )
    assert server.count() == 0
    sink.close(timeout=1.0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_thread_that_dies_says_so_to_healthz_and_the_worker_gauge(
    server: ScriptedServer, registry: CollectorRegistry, tmp_path: Path
) -> None:
    """Everything the writer meets is caught (Exception); a thread can still end (here a
    SystemExit from the write): then the collector must know, not keep reporting healthy."""
    from collector.metrics import WorkerGauges

    sink = _sink(server, registry, tmp_path / "buf.sqlite")
    workers = CollectorRegistry()
    workers.register(WorkerGauges({sink.worker: sink.alive}))
    up = {"worker": "influx"}
    assert workers.get_sample_value("posfleet_collector_worker_up", up) == 1.0
    server.failure = SystemExit()  # type: ignore[assignment]  # BaseException: not caught
    ts = p.recent()
    sink.submit(p.heartbeat("gw-1", 0, ts), ts)
    wait_for(lambda: not sink.alive(), 5, what="the writer thread to end")
    assert workers.get_sample_value("posfleet_collector_worker_up", up) == 0.0
    sink.close(timeout=0.5)
    assert sink.alive()  # stopped on purpose is not dead
