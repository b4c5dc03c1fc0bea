"""The collector wired together: store, liveness, alert engine, sinks, MQTT ingest, HTTP.

``Collector(config)`` takes settings that ``collector.config.load_config`` read once (in
``posfleet-collector``'s ``main``, or a test); nothing here reads the environment.
"""

from __future__ import annotations

import gc
import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any

from collector.config import CollectorSettings, Config
from collector.store.db import redact
from collector.store.shared import SharedLiveness, SharedSettings

if TYPE_CHECKING:
    from collector.alerts.config import AlertSettings
    from collector.sinks.settings import InfluxSettings

log = logging.getLogger("collector")


class Collector:
    """Everything wired together; ``start()``/``stop()`` for tests, or run until a signal."""

    def __init__(self, config: Config) -> None:
        from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

        from collector.enrolment import AutoEnrol, Enrolment, EnrolmentSettings
        from collector.http import HttpServer
        from collector.ingest import BrokerSettings, Item, MqttIngest
        from collector.inventory import InventoryError, InventoryTags, import_dir
        from collector.liveness import LivenessConfig, LivenessTracker
        from collector.metrics import CollectorMetrics, FleetCollector, LiveGauges, WorkerGauges
        from collector.processor import Processor, ProcessorSettings
        from collector.store.meta import set_meta
        from collector.store.store import open_store
        from telemetry.clock import SystemClock

        self.config = config
        self.settings = s = config.collector
        self.clock = SystemClock()
        self.store = open_store(s.db, enrolment_max=s.enrolment_max)
        with self.store.conn:  # the console evaluates windows in the same default zone
            set_meta(self.store.conn, "default_tz", s.default_tz)
        if s.inventory:
            try:
                counts = import_dir(self.store.conn, s.inventory)
            except InventoryError:  # refused: main() says why and exits; nothing was stored
                self.store.close()
                raise
            log.info("inventory imported from %s: %s", s.inventory, counts)
        retired = self.store.retire_unregistered(
            self.clock.now(),
            adopt_terminals=s.auto_enrol is not AutoEnrol.OFF,
            adopt_gateways=s.auto_enrol_region if s.auto_enrol is AutoEnrol.ALL else None,
        )
        if retired:
            log.warning("ids of an older release not in the inventory: %s", retired)
        enrolment = Enrolment(
            self.store.enrolled,
            EnrolmentSettings(s.auto_enrol, s.auto_enrol_region, s.enrolment_max),
            moves=self.store.terminal_moves,
        )
        enrolment.load(*self.store.enrolled_ids())
        liveness = LivenessConfig(
            s.default_interval_s,
            s.grace_ratio,
            s.grace_min_s,
            s.grace_max_s,
            restart_hold_s=s.restart_hold_s,
        )
        self.tracker = LivenessTracker(liveness)
        self.shared: SharedLiveness | None = None
        self.client_id = s.member_client_id
        if s.share_group is None:
            self.tracker.load(self.store.load_liveness())
        else:
            # Several collectors: liveness lives in the store (collector/store/shared.py).
            self.shared = SharedLiveness(
                liveness, SharedSettings(self.client_id, host=socket.gethostname())
            )
            self.shared.check(self.store.conn)
            with self.store.transaction() as conn:
                self.shared.seed(conn)
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
        listeners, self.webhook = _build_listeners(
            s, config.alerts, self.store, self.clock, self.registry
        )
        self.tags = InventoryTags(self.store.conn)
        self.sinks = _build_sinks(config.influx, self.registry, self.tags.get)
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
            shared=self.shared,
        )
        self.ingest = MqttIngest(
            BrokerSettings(
                s.broker_host,
                s.broker_port,
                self.client_id,
                s.broker_username,
                s.broker_password_file,
                s.broker_tls_ca,
                s.broker_tls_cert,
                s.broker_tls_key,
                s.share_group,
                share_session=s.share_session,
            ),
            self.inbox,
            self.metrics,
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
        self.settlement = None
        if s.settlement_dir is not None:
            from collector.settlement_inbox import SettlementInbox

            self.settlement = SettlementInbox(
                s.db,
                s.settlement_dir,
                poll_s=s.settlement_poll_s,
                tolerance=s.settlement_tolerance,
                cutoff=s.settlement_cutoff_rule,
                acquirers=s.settlement_acquirer_rules,
                registry=self.registry,
            )
            self.workers["settlement-inbox"] = self.settlement.alive
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
        # Startup built the long-lived heap (inventory ids, the liveness tracker, the alert
        # topology, the modules: hundreds of thousands of objects at fleet scale). Python's
        # cyclic collector rescanned all of it on every full pass, which the batches'
        # short-lived objects set off every few batches: 40-80 ms each, about a sixth of the
        # ingest CPU (docs/benchmarks.md). Frozen, the passes skip it; reference counting
        # still frees what it drops. stop() unfreezes.
        gc.collect()
        gc.freeze()
        self.http.start()
        self.ingest.start()  # before the thread that pumps it
        self._thread.start()
        if self.settlement is not None:
            self.settlement.start()
        log.info(
            "collector up: db=%s broker=%s:%s metrics=http://%s:%s/metrics",
            redact(self.settings.db),
            self.settings.broker_host,
            self.settings.broker_port,
            self.settings.metrics_host,
            self.http.port,
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.settlement is not None:
            self.settlement.stop()
        if self.shared is not None:
            self.shared.beating = False  # our own goodbye below makes nobody blind
        self.ingest.stop()  # the processing thread, which drove the socket, has stopped
        self.processor.step(0)  # what was queued before the stop still lands
        if self.shared is not None:
            try:  # a collector that stops cleanly holds nobody's deadlines
                with self.store.transaction() as conn:
                    self.shared.leave(conn)
            except Exception:
                log.exception("could not leave the share group (forgotten after %.0f s)",
                              self.shared.settings.forget_s)  # fmt: skip
        for sink in self.sinks:
            sink.close(5.0)
        if self.webhook is not None:
            self.webhook.close()
        self.http.stop()
        self.fleet.close()
        self.store.close()
        gc.unfreeze()

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
    settings: CollectorSettings,
    alert_settings: AlertSettings | None,
    store: Any,
    clock: Any,
    registry: Any = None,
) -> tuple[list[Any], Any]:
    """The alert engine (and its optional webhook notifier for teams without Alertmanager)."""
    if alert_settings is None:
        return [], None
    from collector.alerts.listener import build_listener
    from collector.alerts.webhook import start_webhook

    listener: Any
    if settings.share_group is None:
        with store.transaction() as conn:
            listener = build_listener(conn, alert_settings, now=clock.now())
    else:
        # Several collectors: one alert engine, on the leader (collector/alerts/shared.py);
        # built from the store when this collector becomes the leader.
        from collector.alerts.shared import SharedAlerts

        listener = SharedAlerts(
            partial(_build_alert_listener, alert_settings),
            clock_skew_raise_s=alert_settings.clock_skew_raise_s,
            monotonic=clock.monotonic,
            registry=registry,
        )
    return [listener], start_webhook(
        settings.db, alert_settings.webhook_endpoint(), alert_settings.webhook_poll_s, registry
    )


def _build_alert_listener(settings: AlertSettings, conn: Any, now: datetime) -> Any:
    from collector.alerts.listener import build_listener

    return build_listener(conn, settings, now=now)


def _build_sinks(influx: InfluxSettings, registry: Any, tags_for: Any) -> list[Any]:
    from collector.sinks.influx import build_influx_sink

    sink = build_influx_sink(influx, registry, tags_for)
    return [sink] if sink is not None else []
