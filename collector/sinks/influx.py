"""InfluxDB telemetry sink: never blocks ingest, never loses a point silently.

``submit`` only converts the message to line protocol and puts it on a bounded in-memory
queue. One writer thread drains that queue in batches and writes them with
influxdb-client's *synchronous* write API. Why not the client's batching mode: it reports
failures only to callbacks and its log, keeps its retry queue in memory (lost on a crash),
and would have us reconcile callbacks with our buffer. Driving synchronous writes from our
own thread, every failure is an exception we classify here, and a point leaves the on-disk
buffer only after the server acknowledged it — which is what makes an outage lose nothing.

Flow: queue -> (buffer empty and not backing off) write -> ok: ``written``;
retryable failure: batch into the SQLite buffer (``buffered``), back off exponentially;
while the buffer holds points, new ones go behind them (order kept) and the buffer is
drained oldest first. Rejected as invalid (400/413/422): ``dropped{reason="invalid"}``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.sinks.buffer import PointBuffer
from collector.sinks.schema import PRECISION, to_lines
from collector.sinks.settings import InfluxSettings
from telemetry.codec import Decoded

log = logging.getLogger(__name__)

WriteFn = Callable[[Sequence[str]], None]
TagsFor = Callable[[str], Mapping[str, str]]

RESULTS = ("written", "retried", "buffered", "dropped")
DROP_REASONS = ("queue_full", "buffer_full", "expired", "invalid", "encode", "buffer_error")
_INVALID_STATUS = frozenset({400, 413, 422})


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class WriteResult:
    outcome: Outcome
    error: str = ""
    retry_after_s: float | None = None


def classify(exc: BaseException) -> WriteResult:
    """An exception from a write -> what to do with the batch."""
    status = getattr(exc, "status", None)
    retry_after: float | None = None
    raw = getattr(exc, "retry_after", None)
    if raw is not None:
        try:
            retry_after = float(raw)
        except (TypeError, ValueError):
            retry_after = None
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    if isinstance(status, int) and status in _INVALID_STATUS:
        return WriteResult(Outcome.INVALID, f"HTTP {status}: {text}")
    # 401/403/404 (token, bucket) and 429/5xx are fixable on the server side: keep points.
    prefix = f"HTTP {status}: " if isinstance(status, int) else ""
    return WriteResult(Outcome.RETRY, prefix + text, retry_after)


class InfluxSink:
    """A :class:`collector.hooks.TelemetrySink` for InfluxDB (v2 write API)."""

    def __init__(
        self,
        write: WriteFn,
        buffer: PointBuffer,
        registry: CollectorRegistry,
        *,
        batch_size: int = 1000,
        flush_interval_s: float = 1.0,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
        queue_max_points: int = 50_000,
        tags_for: TagsFor | None = None,
        wall: Callable[[], float] = time.time,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._write_fn = write
        self._buffer = buffer
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._tags_for = tags_for
        self._wall = wall
        self._on_close = on_close
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=queue_max_points)
        self.points = Counter(
            "posfleet_influx_points", "Points by outcome", ["result"], registry=registry
        )
        self.dropped = Counter(
            "posfleet_influx_dropped", "Points given up, by reason", ["reason"], registry=registry
        )
        for result in RESULTS:
            self.points.labels(result)
        for reason in DROP_REASONS:
            self.dropped.labels(reason)
        self._lock = threading.Lock()
        self._failures = 0
        # Read at scrape time: an outage shows as up=0 and a growing buffer.
        Gauge(
            "posfleet_influx_up", "1 if the last InfluxDB write succeeded", registry=registry
        ).set_function(lambda: 0.0 if self._failures else 1.0)
        Gauge(
            "posfleet_influx_buffered_points",
            "Points waiting in the on-disk buffer",
            registry=registry,
        ).set_function(lambda: float(self._buffer.count))
        self._last_error = ""
        self._last_success: datetime | None = None
        self._stop = threading.Event()
        self._close_deadline = 0.0
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- processing thread
    def submit(self, decoded: Decoded, received_at: datetime) -> None:
        """Queue the message's points; returns at once and never raises."""
        try:
            extra = self._tags_for(decoded.message.gw) if self._tags_for else None
            lines = to_lines(decoded, extra)
        except Exception:  # a sink bug must not reach the ingest loop
            log.exception("cannot encode %s from %s", decoded.ref.kind, decoded.ref.gateway_id)
            self._drop("encode", 1)
            return
        for line in lines:
            try:
                self._queue.put_nowait(line)
            except queue.Full:
                self._drop("queue_full", 1)

    worker = "influx"  # posfleet_collector_worker_up{worker=...}

    def alive(self) -> bool:
        """False once the writer thread has ended without close() asking it to."""
        return self._thread.is_alive() or self._stop.is_set()

    def health(self) -> Mapping[str, Any]:
        with self._lock:
            failures, error, success = self._failures, self._last_error, self._last_success
        return {
            "enabled": True,
            "ok": failures == 0,
            "consecutive_failures": failures,
            "last_error": error or None,
            "last_success_at": success.isoformat() if success else None,
            "queued_points": self._queue.qsize(),
            "buffered_points": self._buffer.count,
            "buffered_bytes": self._buffer.bytes,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Write what the server takes within ``timeout``; the rest stays in the buffer."""
        if self._stop.is_set():
            return
        self._close_deadline = time.monotonic() + timeout
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wake the writer
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            log.error("influx writer did not stop within %.1fs", timeout)
        else:
            self._buffer.close()
        if self._on_close is not None:
            self._on_close()

    # ------------------------------------------------------------------ writer thread
    def _drop(self, reason: str, n: int) -> None:
        if n:
            self.points.labels("dropped").inc(n)
            self.dropped.labels(reason).inc(n)

    def _take(self, timeout: float) -> list[str]:
        """Up to one batch from the queue, waiting at most ``timeout`` for the first point."""
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while len(out) < self._batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=max(remaining, 0.0))
                    if remaining > 0
                    else (self._queue.get_nowait())
                )
            except queue.Empty:
                break
            if item is None:
                break
            out.append(item)
        return out

    def _to_buffer(self, lines: list[str]) -> None:
        if lines:
            self.points.labels("buffered").inc(len(lines))
            self._drop("buffer_full", self._buffer.append(lines, self._wall()))

    def _attempt(self, lines: Sequence[str]) -> WriteResult:
        try:
            self._write_fn(lines)
        except Exception as exc:  # classified below; the writer thread must survive
            result = classify(exc)
        else:
            result = WriteResult(Outcome.OK)
        with self._lock:
            if result.outcome is Outcome.OK:
                self._failures = 0
                self._last_success = datetime.fromtimestamp(self._wall(), UTC)
            elif result.outcome is Outcome.RETRY:
                self._failures += 1
                self._last_error = result.error
            else:
                self._last_error = result.error
        if result.outcome is Outcome.OK:
            self.points.labels("written").inc(len(lines))
        elif result.outcome is Outcome.INVALID:
            log.error("InfluxDB rejected %d points: %s", len(lines), result.error)
            self._drop("invalid", len(lines))
        else:
            self.points.labels("retried").inc(len(lines))
            log.warning("InfluxDB write failed (%d points kept): %s", len(lines), result.error)
        return result

    def _backoff(self, result: WriteResult) -> float:
        delay = min(self._retry_max, self._retry_initial * float(2 ** min(self._failures - 1, 30)))
        delay *= random.uniform(0.8, 1.0)  # spread collectors that failed together
        if result.retry_after_s is not None:
            delay = max(delay, min(result.retry_after_s, self._retry_max))
        return delay

    def _step(self, pending: list[str], may_write: bool) -> float | None:
        """One round; returns a backoff delay after a retryable failure, else None."""
        if pending and (self._buffer.count or not may_write):
            self._to_buffer(pending)
            pending = []
        if not may_write:
            return None
        if self._buffer.count:
            self._drop("expired", self._buffer.expire(self._wall()))
            rows = self._buffer.peek(self._batch_size)
            if not rows:
                return None
            result = self._attempt([line for _, line in rows])
            if result.outcome is not Outcome.RETRY:
                self._buffer.delete_through(rows[-1][0])
                return None
            return self._backoff(result)
        if pending:
            result = self._attempt(pending)
            if result.outcome is Outcome.RETRY:
                self._to_buffer(pending)
                return self._backoff(result)
        return None

    def _run(self) -> None:
        next_attempt = 0.0
        while not self._stop.is_set():
            wait = self._flush_interval
            if self._buffer.count:
                # Draining: do not wait for the queue longer than the backoff requires.
                wait = max(0.0, min(wait, next_attempt - time.monotonic()))
            pending = self._take(wait)
            try:
                delay = self._step(pending, time.monotonic() >= next_attempt)
            except Exception:  # e.g. the buffer's disk is full: keep the thread alive
                # Counted as lost though they may have reached the buffer: never under-count.
                log.exception("influx writer round failed; %d points may be lost", len(pending))
                self._drop("buffer_error", len(pending))
                delay = self._retry_initial
            if delay is not None:
                next_attempt = time.monotonic() + delay
        self._drain_on_close()

    def _drain_on_close(self) -> None:
        pending: list[str] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                pending.append(item)
        try:
            self._to_buffer(pending)
            while self._buffer.count and time.monotonic() < self._close_deadline:
                if self._step([], may_write=True) is not None:
                    break  # server still failing: the buffer keeps the rest for next start
        except Exception:
            log.exception("influx writer could not drain on close")


def build_influx_sink(
    settings: InfluxSettings,
    registry: CollectorRegistry,
    tags_for: TagsFor | None = None,
) -> InfluxSink | None:
    """The sink ``collector.main`` hangs off the processing loop; None when disabled.

    Starting does not contact InfluxDB: a collector starts (and alerts) with it down.
    """
    if not settings.enabled:
        return None
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    # InfluxSettings refuses enabled=true without them.
    assert settings.url is not None
    assert settings.org is not None
    assert settings.bucket is not None
    client = InfluxDBClient(
        url=settings.url,
        token=settings.resolved_token(),
        org=settings.org,
        timeout=int(settings.timeout_s * 1000),
        retries=False,  # retries and backoff are ours, so the buffer sees every failure
    )
    write_api = client.write_api(write_options=SYNCHRONOUS)
    bucket, org = settings.bucket, settings.org

    def write(lines: Sequence[str]) -> None:
        write_api.write(bucket=bucket, org=org, record=list(lines), write_precision=PRECISION)  # type: ignore[arg-type]

    def close_client() -> None:
        write_api.close()  # type: ignore[no-untyped-call]
        client.close()  # type: ignore[no-untyped-call]

    return InfluxSink(
        write,
        PointBuffer(settings.buffer_path, settings.buffer_max_bytes, settings.buffer_max_age_s),
        registry,
        batch_size=settings.batch_size,
        flush_interval_s=settings.flush_interval_s,
        retry_initial_s=settings.retry_initial_s,
        retry_max_s=settings.retry_max_s,
        queue_max_points=settings.queue_max_points,
        tags_for=tags_for,
        on_close=close_client,
    )
