"""One member of the ingest benchmark, run as a child process by bench/ingest.py.

    python -m bench._ingest_member collector --db DB --broker-port P --client-id ID [--share-group G]
    python -m bench._ingest_member bare --broker-port P --client-id ID [--share-group G]

``collector``: the real ``Collector`` (collector/service.py, as ``posfleet-collector run``
builds it). Its messages are counted after commit: every batch's accepted messages are added
when, and only when, the store's transaction around it has committed (the store's own
``transaction``/``write``, wrapped here in the bench only). Nothing polls its metrics.

``bare``: the collector's own read path (``collector.ingest.MqttIngest``: the same paho client
with the 64 KiB socket read-ahead, the same client options, QoS 1, persistent session and
subscription, the same pump-then-drain loop), which only counts what it drains: the fair
ceiling of what Python can read.

Protocol (one JSON object a line on stdout; commands on stdin): set up everything, print
``{"ready": true}``; on ``go`` connect and drain; every 50 ms, while it changed, print
``{"count": n}``; on ``stop`` disconnect, print the final figures and exit.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_out_lock = threading.Lock()


def say(obj: dict[str, Any]) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class Tally:
    """What a member has counted; written by its ingest thread, read by the reporter."""

    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None  # monotonic (system-wide): comparable across members
        self.last: float | None = None
        self.cpu_at_last = 0.0  # the process's CPU seconds when the last message was counted

    def counted(self, n: int) -> None:
        self.count += n
        self.last = time.monotonic()
        self.cpu_at_last = time.process_time()


def _report(tally: Tally, stop: threading.Event) -> None:
    seen = -1
    while not stop.wait(0.05):
        n = tally.count
        if n != seen:
            say({"count": n})
            seen = n


def _wait_for(word: str) -> None:
    for line in sys.stdin:
        if line.strip() == word:
            return
    raise SystemExit(f"stdin closed before {word!r}")


# The members drain a backlog the broker queued for their persistent sessions while they were
# away: in a share group too (a deployed member's session is clean: docs/collector.md).
SHARE_SESSION = "persistent"


# --------------------------------------------------------------------------- bare
def bare(args: argparse.Namespace) -> dict[str, Any]:
    from collector.ingest import BrokerSettings, Item, MqttIngest, Received

    inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
    ingest = MqttIngest(
        BrokerSettings(
            "127.0.0.1",
            args.broker_port,
            args.client_id,
            share_group=args.share_group or None,
            share_session=SHARE_SESSION,
        ),
        inbox,
    )
    tally = Tally()
    say({"ready": True})
    _wait_for("go")
    stopping = threading.Event()

    def _until_stop() -> None:
        _wait_for("stop")
        stopping.set()

    threading.Thread(target=_until_stop, daemon=True).start()
    threading.Thread(target=_report, args=(tally, stopping), daemon=True).start()
    cpu0 = time.process_time()
    ingest.start()
    get = inbox.get_nowait
    # The collector's loop (collector/processor.py run): pump, then take what is queued.
    while not stopping.is_set():
        ingest.pump(0.05)
        n = 0
        with contextlib.suppress(queue.Empty):
            while True:
                item = get()
                if type(item) is Received:
                    if tally.first is None:
                        tally.first = item.mono
                    n += 1
        if n:
            tally.counted(n)
    cpu = tally.cpu_at_last - cpu0
    ingest.stop()
    return {"count": tally.count, "first": tally.first, "last": tally.last, "cpu_s": cpu}


# --------------------------------------------------------------------------- collector
def collector(args: argparse.Namespace) -> dict[str, Any]:
    from collector.config import load_config
    from collector.service import Collector

    config = load_config(
        db=args.db,
        broker_port=args.broker_port,
        metrics_host="127.0.0.1",
        metrics_port=0,
        client_id=args.client_id,
        share_group=args.share_group or None,
        share_session=SHARE_SESSION,
    )
    col = Collector(config)
    tally = Tally()
    counter = CommitCounter(
        col.store,
        tally,
        lambda: sum(
            s.value
            for m in col.metrics.rejected.collect()
            for s in m.samples
            if s.name.endswith("_total")
        ),
    )
    say({"ready": True})
    _wait_for("go")
    stopping = threading.Event()
    threading.Thread(target=_report, args=(tally, stopping), daemon=True).start()
    counter.reset()
    cpu0 = time.process_time()
    col.start()
    _wait_for("stop")
    stopping.set()
    cpu = tally.cpu_at_last - cpu0
    restricted = col.registry.restricted_registry(
        [
            "posfleet_collector_messages_total",
            "posfleet_collector_rejected_total",
            "posfleet_collector_ingest_latency_seconds_sum",
            "posfleet_collector_ingest_latency_seconds_count",
        ]
    )
    samples = [s for family in restricted.collect() for s in family.samples]

    def value(name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    lat_n = value("posfleet_collector_ingest_latency_seconds_count")
    lat_sum = value("posfleet_collector_ingest_latency_seconds_sum")
    rejected = {
        s.labels["reason"]: s.value
        for s in samples
        if s.name == "posfleet_collector_rejected_total" and s.value
    }
    accepted = value("posfleet_collector_messages_total")  # every kind
    first = col.processor.first_message_mono
    col.stop()
    folds = fold_the_rest(col, args.db)
    return {
        "count": tally.count,
        "first": first,
        "last": tally.last,
        "cpu_s": cpu,
        "commits": counter.commits,
        "rows_written": counter.rows_written(),
        "accepted_counter": accepted,
        "rejected": rejected,
        "mean_ingest_latency_s": lat_sum / lat_n if lat_n else None,
        "folds": folds,
    }


def fold_the_rest(col: Any, db: str) -> dict[str, Any]:
    """The silence and spike folds of the windows the round stored that the collector's
    tick has not folded yet, by the collector's own sweeps, measured in this process.

    In production the folds run on the processing thread's tick every ``poll_silence_s``
    (15 s) over what came since: every window stored is folded once, and that is part of
    what a window costs the collector. A round lasts a few seconds, so its tick rarely gets
    there; without this the bench would leave out about a third of a window's cost. Done
    after the collector stopped (nothing else writes), on its store, the way its tick does
    (one transaction, the silence fold's read serving the spike fold)."""
    from collector.alerts.listener import AlertListener
    from collector.alerts.txnfeed import WindowFeed
    from collector.store.store import open_store

    listener = next((x for x in col.processor.listeners if isinstance(x, AlertListener)), None)
    if listener is None:  # alerts switched off: nothing folds
        return {"windows": 0, "cpu_s": 0.0, "seconds": 0.0}
    store = open_store(db)
    windows = 0
    # As on the tick, inside Processor.process: no cyclic collection (collector/processor.py
    # _no_cyclic_gc; the collector's stop has unfrozen its startup heap).
    gc.disable()
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        while True:
            with store.transaction() as conn:
                feed = WindowFeed()
                n = listener.silence.fold(conn, feed=feed)
                more = listener.spikes.fold(conn, feed=feed)
            windows += n
            if not n and not more:
                break
    finally:
        cpu, seconds = time.process_time() - cpu0, time.perf_counter() - t0
        gc.enable()
        store.close()
    return {"windows": windows, "cpu_s": round(cpu, 4), "seconds": round(seconds, 4)}


class CommitCounter:
    """Counts a store's messages after commit: a batch's accepted messages (``write``) are
    added to ``tally`` when the transaction around it (``transaction``) has committed, never
    before, and never when it rolls back. Wraps the store's own two methods (bench only)."""

    def __init__(
        self, store: Any, tally: Tally, rejected: Callable[[], float] = lambda: 0.0
    ) -> None:
        # ``rejected``: the collector's rejected messages so far. Several collectors
        # draining one backlog store a gateway's heartbeats out of order across them, and
        # the older ones are rejected ``duplicate`` (docs/collector.md "Several
        # collectors"): handled in the batch's transaction, so counted as drained with it.
        self.rejected = rejected
        self.store, self.tally = store, tally
        self.commits = 0
        self._pending = 0
        self._rows_from = self._rows_to = _total_changes(store)
        self._write, self._transaction = store.write, store.transaction
        store.write = self.write
        store.transaction = self.transaction

    def reset(self) -> None:
        """Start counting commits and rows written from here."""
        self.commits = 0
        self._rows_from = self._rows_to = _total_changes(self.store)

    def rows_written(self) -> int | None:
        """Rows the store's connection changed from ``reset`` to the last counted commit."""
        if self._rows_from is None or self._rows_to is None:
            return None
        return self._rows_to - self._rows_from

    def write(self, conn: Any, batch: Any) -> Any:
        self._pending += sum(batch.accepted.values())
        return self._write(conn, batch)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        self._pending = 0
        rejected = self.rejected()
        with self._transaction() as conn:
            yield conn
        # The store's transaction commits on exit: here it has.
        self.commits += 1
        self._pending += int(self.rejected() - rejected)
        if self._pending:
            self.tally.counted(self._pending)
            self._rows_to = _total_changes(self.store)
        self._pending = 0


def _total_changes(store: Any) -> int | None:
    """Rows inserted, updated or deleted by the store's connection (SQLite only)."""
    n = getattr(store.conn, "total_changes", None)
    return n if isinstance(n, int) else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["collector", "bare"])
    ap.add_argument("--db", default="")
    ap.add_argument("--broker-port", type=int, required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--share-group", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    say(bare(args) if args.role == "bare" else collector(args))


if __name__ == "__main__":
    main()
