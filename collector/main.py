"""``posfleet-collector``: run the collector, or import/export the inventory."""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("collector")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="posfleet-collector", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest, decide liveness, alert, serve /metrics")
    run.add_argument("--db", type=Path, help="SQLite file (POSFLEET_DB)")
    run.add_argument("--broker-host", help="MQTT broker host (POSFLEET_BROKER_HOST)")
    run.add_argument("--broker-port", type=int, help="MQTT broker port (POSFLEET_BROKER_PORT)")
    run.add_argument(
        "--metrics-host",
        help="bind address of /metrics and /healthz (POSFLEET_METRICS_HOST; default "
        "127.0.0.1, 0.0.0.0 for every interface)",
    )
    run.add_argument("--metrics-port", type=int, help="port of /metrics (POSFLEET_METRICS_PORT)")
    run.add_argument("--inventory", type=Path, help="import inventory CSVs from DIR at start")
    run.add_argument("--client-id", help="MQTT client id (POSFLEET_CLIENT_ID)")
    run.add_argument("--log-level", default="INFO")
    for name in ("import-inventory", "export-inventory"):
        sp = sub.add_parser(name, help=f"{name.split('-')[0]} inventory CSVs")
        sp.add_argument("--db", type=Path, help="SQLite file (POSFLEET_DB)")
        sp.add_argument("directory", type=Path)
    en = sub.add_parser("enrolment", help="ids that report but are not in the inventory")
    en_sub = en.add_subparsers(dest="enrolment_command", required=True)
    ls = en_sub.add_parser("list", help="print the enrolment list, most recently seen first")
    ls.add_argument("--db", type=Path, help="SQLite file (POSFLEET_DB)")
    ex = en_sub.add_parser(
        "export", help="write gateways.csv/terminals.csv to complete and import-inventory"
    )
    ex.add_argument("--db", type=Path, help="SQLite file (POSFLEET_DB)")
    ex.add_argument("directory", type=Path)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from collector.alerts.config import AlertConfigError
    from collector.config import ConfigError, load_settings
    from collector.sinks.settings import InfluxConfigError
    from collector.store.sqlite import StoreError

    try:
        settings = load_settings(
            db=args.db,
            broker_host=getattr(args, "broker_host", None),
            broker_port=getattr(args, "broker_port", None),
            metrics_host=getattr(args, "metrics_host", None),
            metrics_port=getattr(args, "metrics_port", None),
            inventory=getattr(args, "inventory", None),
            client_id=getattr(args, "client_id", None),
        )
        if args.command == "run":
            return Collector(settings).run_until_signalled()
        if args.command == "enrolment":
            return _enrolment(args.enrolment_command, settings.db, getattr(args, "directory", None))
        return _inventory(args.command, settings.db, args.directory)
    except (ConfigError, StoreError, InfluxConfigError, AlertConfigError) as exc:
        print(f"posfleet-collector: {exc}", file=sys.stderr)
        return 2


def _inventory(command: str, db: Path, directory: Path) -> int:
    from collector.inventory import InventoryError, export_dir, import_dir
    from collector.store.sqlite import SqliteStore

    store = SqliteStore(db)
    try:
        if command == "import-inventory":
            counts = import_dir(store.conn, directory)
        else:
            counts = export_dir(store.conn, directory)
    except InventoryError as exc:
        print(f"posfleet-collector: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(", ".join(f"{n} {t}" for t, n in counts.items()) or "nothing to do")
    return 0


def _enrolment(command: str, db: Path, directory: Path | None) -> int:
    from collector.inventory import export_enrolment, list_enrolment
    from collector.store.sqlite import SqliteStore

    store = SqliteStore(db)
    try:
        if command == "list":
            rows = list_enrolment(store.conn)
            print(
                "subject_type\tsubject_id\tgateway_id\tfirst_seen_at\tlast_seen_at\tmessages\tlast_kind"
            )
            for row in rows:
                print("\t".join(str(v) for v in row))
            print(f"{len(rows)} listed for enrolment", file=sys.stderr)
        else:
            assert directory is not None
            counts = export_enrolment(store.conn, directory)
            print(", ".join(f"{n} {t}" for t, n in counts.items()))
    finally:
        store.close()
    return 0


class Collector:
    """Everything wired together; ``start()``/``stop()`` for tests, or run until a signal."""

    def __init__(self, settings: Any) -> None:
        from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

        from collector.enrolment import AutoEnrol, Enrolment, EnrolmentSettings
        from collector.http import HttpServer
        from collector.ingest import BrokerSettings, Item, MqttIngest
        from collector.inventory import import_dir
        from collector.liveness import LivenessConfig, LivenessTracker
        from collector.metrics import CollectorMetrics, FleetCollector, LiveGauges, WorkerGauges
        from collector.processor import Processor, ProcessorSettings
        from collector.store.sqlite import SqliteStore
        from telemetry.clock import SystemClock

        self.settings = s = settings
        self.clock = SystemClock()
        self.store = SqliteStore(s.db, enrolment_max=s.enrolment_max)
        with self.store.conn:
            self.store.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('default_tz', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (s.default_tz,),
            )
        if s.inventory:
            counts = import_dir(self.store.conn, s.inventory)
            log.info("inventory imported from %s: %s", s.inventory, counts)
        retired = self.store.retire_unregistered(
            self.clock.now(),
            adopt_terminals=s.auto_enrol is not AutoEnrol.OFF,
            adopt_gateways=s.auto_enrol_region if s.auto_enrol is AutoEnrol.ALL else None,
        )
        if retired:
            log.warning("ids of an older release not in the inventory: %s", retired)
        enrolment = Enrolment(
            self.store.is_enrolled,
            EnrolmentSettings(s.auto_enrol, s.auto_enrol_region, s.enrolment_max),
        )
        enrolment.load(*self.store.enrolled_ids())
        self.tracker = LivenessTracker(
            LivenessConfig(
                s.default_interval_s,
                s.grace_ratio,
                s.grace_min_s,
                s.grace_max_s,
                restart_hold_s=s.restart_hold_s,
            )
        )
        self.tracker.load(self.store.load_liveness())
        from collector.store.retention import RetentionPolicy

        self.retention = RetentionPolicy(
            raw_keep=timedelta(days=s.telemetry_raw_days),
            rollup_keep=timedelta(days=s.telemetry_rollup_days),
        )
        self.registry = CollectorRegistry()
        # The collector's own memory, CPU and file descriptors, and the Python it runs on.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.metrics = CollectorMetrics(self.registry)
        self.fleet = FleetCollector(s.db)
        self.registry.register(self.fleet)
        self.inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        listeners, self.webhook = _build_listeners(s, self.store, self.clock, self.registry)
        self.tags = InventoryTags(self.store.conn)
        self.sinks = _build_sinks(self.registry, self.tags.get)
        self.processor = Processor(
            self.store,
            self.tracker,
            self.metrics,
            self.inbox,
            listeners=listeners,
            sinks=self.sinks,
            settings=ProcessorSettings(s.max_payload_bytes, s.batch_max, max_defer_s=s.max_defer_s),
            clock=self.clock,
            housekeeping=[self._retention, self.tags.refresh],
            enrolment=enrolment,
        )
        self.ingest = MqttIngest(
            BrokerSettings(
                s.broker_host,
                s.broker_port,
                s.client_id,
                s.broker_username,
                s.broker_password_file,
                s.broker_tls_ca,
                s.broker_tls_cert,
                s.broker_tls_key,
                s.share_group,
            ),
            self.inbox,
        )
        self.processor.pump = self.ingest.pump  # one thread drives the socket and the store
        self.registry.register(
            LiveGauges(
                self.inbox.qsize,
                lambda: self.processor.last_message_mono,
                lambda: self.processor.connected,
                s.stall_after_s,
                time.monotonic(),
            )
        )
        self.http = HttpServer(s.metrics_host, s.metrics_port, self.registry, self.health)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="processor", daemon=True)
        # Every thread the collector depends on; one that dies fails /healthz and shows as
        # posfleet_collector_worker_up{worker} 0 (a notifier that died pages nobody).
        self.workers: dict[str, Callable[[], bool]] = {"processor": self._processor_alive}
        if self.webhook is not None:
            self.workers["webhook"] = self.webhook.alive
        for sink in self.sinks:
            if hasattr(sink, "alive"):
                self.workers[getattr(sink, "worker", type(sink).__name__)] = sink.alive
        self.registry.register(WorkerGauges(self.workers))
        self.metrics.broker_connected.set(0)

    def _retention(self, conn: Any, now: Any) -> None:
        from collector.store.retention import apply_retention

        report = apply_retention(conn, now, self.retention)
        if report.raw_rows_folded or report.rollup_rows_deleted:
            log.info("retention: %s", report)

    def _processor_alive(self) -> bool:
        return self._thread.is_alive() or self._stop.is_set() or self._thread.ident is None

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        last = self.processor.last_message_mono
        sinks = {type(s).__name__: dict(s.health()) for s in self.sinks}
        workers = {name: alive() for name, alive in self.workers.items()}
        dead = sorted(name for name, up in workers.items() if not up)
        detail = {
            "broker_connected": self.processor.connected,
            "last_message_age_s": None if last is None else round(time.monotonic() - last, 3),
            "queue_depth": self.inbox.qsize(),
            "processor_alive": self._thread.is_alive(),
            "workers": workers,
            "dead_workers": dead,
            "sinks": sinks,
        }
        # InfluxDB being down never makes the collector unhealthy (alerting does not need
        # it, and the sink buffers); its writer thread dying does: points are then lost.
        return bool(self.processor.connected and self._thread.is_alive() and not dead), detail

    def _run(self) -> None:
        try:
            self.processor.run(self._stop)
        except Exception:
            log.exception("processing loop died")
            raise

    def start(self) -> Collector:
        self.http.start()
        self.ingest.start()  # before the thread that pumps it
        self._thread.start()
        log.info(
            "collector up: db=%s broker=%s:%s metrics=http://%s:%s/metrics",
            self.settings.db,
            self.settings.broker_host,
            self.settings.broker_port,
            self.settings.metrics_host,
            self.http.port,
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.ingest.stop()  # the processing thread, which drove the socket, has stopped
        self.processor.step(0)  # what was queued before the stop still lands
        for sink in self.sinks:
            sink.close(5.0)
        if self.webhook is not None:
            self.webhook.close()
        self.http.stop()
        self.fleet.close()
        self.store.close()

    def run_until_signalled(self) -> int:
        done = threading.Event()

        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signum)
            done.set()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
        self.start()
        while not done.wait(1.0):
            if not self._thread.is_alive():
                log.error("processing loop stopped unexpectedly")
                self.stop()
                return 1
        self.stop()
        return 0


def _build_listeners(
    settings: Any, store: Any, clock: Any, registry: Any = None
) -> tuple[list[Any], Any]:
    """The alert engine (and its optional webhook notifier for teams without Alertmanager)."""
    if not settings.alerts:
        return [], None
    from collector.alerts.config import AlertSettings
    from collector.alerts.listener import build_listener
    from collector.alerts.webhook import start_webhook

    alert_settings = AlertSettings.from_env()
    with store.transaction() as conn:
        listener = build_listener(conn, alert_settings, now=clock.now())
    return [listener], start_webhook(
        settings.db, alert_settings.webhook_endpoint(), alert_settings.webhook_poll_s, registry
    )


def _build_sinks(registry: Any, tags_for: Any) -> list[Any]:
    from collector.sinks.influx import build_influx_sink
    from collector.sinks.settings import load_influx_settings

    sink = build_influx_sink(load_influx_settings(), registry, tags_for)
    return [sink] if sink is not None else []


class InventoryTags:
    """site/region/model per gateway, in memory: the Influx sink asks on the hot path."""

    def __init__(self, conn: Any) -> None:
        self._tags: dict[str, dict[str, str]] = {}
        self.refresh(conn, None)

    def refresh(self, conn: Any, _now: Any) -> None:
        self._tags = {
            gid: {k: v for k, v in (("site", site), ("region", region), ("model", model)) if v}
            for gid, site, region, model in conn.execute(
                "SELECT gateway_id, site_id, region_id, model FROM gateways WHERE registered = 1"
            )
        }

    def get(self, gateway_id: str) -> dict[str, str]:
        return self._tags.get(gateway_id, {})


if __name__ == "__main__":
    sys.exit(main())
