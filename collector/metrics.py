"""Prometheus metrics. The registry is always passed in.

Cardinality stays bounded whatever the fleet size: fleet gauges are counts by a few
low-cardinality labels computed at scrape time from the store (a custom Collector), and the
only per-subject series are the alerts that are firing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector import places
from collector.status import active_scopes, effective_sql
from collector.store.db import Connection, StoreError, connect, dialect
from collector.store.db import Error as StoreReadError
from collector.store.times import to_db
from collector.store.transactions import ACQUIRERS_MAX
from telemetry.codec import RejectReason
from telemetry.topics import Kind

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CollectorMetrics:
    """The collector's own health."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "posfleet_collector_messages", "Accepted messages by kind", ["kind"], registry=registry
        )
        self.rejected = Counter(
            "posfleet_collector_rejected",
            "Rejected messages by reason",
            ["reason"],
            registry=registry,
        )
        self.ingest_latency = Histogram(
            "posfleet_collector_ingest_latency_seconds",
            "From receipt (on_message) to committed in the store",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_write_seconds = Histogram(
            "posfleet_collector_store_write_seconds",
            "Duration of one batch transaction",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.broker_connected = Gauge(
            "posfleet_collector_broker_connected",
            "1 while the collector's MQTT connection is up",
            registry=registry,
        )
        self.broker_disconnects = Counter(
            "posfleet_collector_broker_disconnects",
            "Established broker connections that were lost (each restarts every deadline)",
            registry=registry,
        )
        self.session_takeovers = Counter(
            "posfleet_collector_session_takeovers",
            "Connections the broker closed within seconds of the connect and then accepted "
            "again at once: another client taking over the collector's session",
            registry=registry,
        )
        self.state_changes = Counter(
            "posfleet_collector_state_changes",
            "Liveness transitions",
            ["subject_type", "to"],
            registry=registry,
        )
        self.absorbed_wills = Counter(
            "posfleet_collector_absorbed_wills",
            "Wills cancelled by a newer session within the hold (reconnects, not outages)",
            registry=registry,
        )
        self.unknown_offline_reasons = Counter(
            "posfleet_collector_unknown_offline_reasons",
            "Offline statuses with a reason this version does not know (a newer agent's): "
            "accepted as unplanned offlines",
            registry=registry,
        )
        self.deferred_ticks = Counter(
            "posfleet_collector_deadline_checks_deferred",
            "Deadline checks put off because unread messages were still waiting (a backlog "
            "is the collector's blind spot, not the fleet's silence)",
            registry=registry,
        )
        self.listener_errors = Counter(
            "posfleet_collector_listener_errors",
            "Exceptions raised by listeners (alert engine); the batch still lands",
            registry=registry,
        )
        self.loop_errors = Counter(
            "posfleet_collector_loop_errors",
            "Exceptions in a step of the processing loop (store unreachable, a bug); the loop "
            "backs off and goes on",
            registry=registry,
        )
        self.store_lock_wait_seconds = Histogram(
            "posfleet_collector_store_lock_wait_seconds",
            "Several collectors: time a batch waited for the store's write lock",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_lock_held_seconds = Histogram(
            "posfleet_collector_store_lock_held_seconds",
            "Several collectors: time a batch held the store's write lock (its transaction)",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_retries = Counter(
            "posfleet_collector_store_retries",
            "Batches a busy store refused (the write lock not had within lock_timeout, a "
            "serialization failure, a deadlock) and that are tried again from memory",
            registry=registry,
        )
        self.transitions_lost = Counter(
            "posfleet_collector_transitions_lost",
            "Liveness transitions the store refused because the subject was no longer in the "
            "status the collector believed (another writer moved it first): nothing written",
            ["subject_type"],
            registry=registry,
        )
        self.enrolment_dropped = Counter(
            "posfleet_collector_enrolment_dropped",
            "Rows dropped from the bounded enrolment list (least recently seen first)",
            registry=registry,
        )
        self.auto_enrolled = Counter(
            "posfleet_collector_auto_enrolled",
            "Ids added to the inventory by POSFLEET_AUTO_ENROL",
            ["subject_type"],
            registry=registry,
        )
        # Pre-create the label values so dashboards and rate() see zeros, not absences.
        for reason in RejectReason:
            self.rejected.labels(reason.value)
        for kind in Kind:
            self.messages.labels(kind.value)
        for subject in ("gateway", "terminal"):
            self.transitions_lost.labels(subject)
            self.auto_enrolled.labels(subject)


class LiveGauges(Collector):
    """Gauges read from the running loop at scrape time (queue depth, silence, blindness)."""

    def __init__(
        self,
        queue_depth: Callable[[], int],
        last_message_mono: Callable[[], float | None],
        connected: Callable[[], bool],
        stall_after_s: float,
        started_mono: float,
    ) -> None:
        self._depth = queue_depth
        self._last = last_message_mono
        self._connected = connected
        self._stall_after = stall_after_s
        self._started = started_mono

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        last = self._last()
        age = now - (last if last is not None else self._started)
        connected = self._connected()
        yield GaugeMetricFamily(
            "posfleet_collector_queue_depth",
            "Messages received but not yet processed",
            value=self._depth(),
        )
        yield GaugeMetricFamily(
            "posfleet_collector_last_message_age_seconds",
            "Seconds since the last message (or since start)",
            value=age,
        )
        yield GaugeMetricFamily(
            "posfleet_collector_blind",
            "1 while the collector cannot see the broker",
            value=0 if connected else 1,
        )
        yield GaugeMetricFamily(
            "posfleet_collector_stalled",
            "1 while connected but silent for longer than the stall threshold",
            value=1 if connected and age > self._stall_after else 0,
        )


class WorkerGauges(Collector):
    """``posfleet_collector_worker_up{worker}``: 1 while each of the collector's own threads
    runs (processor, webhook, influx). The names are a fixed, small set: bounded."""

    def __init__(self, workers: Mapping[str, Callable[[], bool]]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "posfleet_collector_worker_up",
            "1 while the collector's worker thread runs; 0 once it has died (/healthz fails)",
            labels=["worker"],
        )
        for name, alive in sorted(self._workers.items()):
            family.add_metric([name], 1.0 if alive() else 0.0)
        yield family


ALERT_LABELS = (
    "alertname",
    "severity",
    "region",
    "site",
    "gateway",
    "terminal",
    "escalation",
    "summary",
    "since",
    # A store's txn_failure_spike on one acquirer names it (collector/alerts/spikes.py), so
    # that acquirer's own spike inhibits it; '' (no label) on every other alert. Bounded:
    # only the acquirers the transaction counters label by name.
    "acquirer",
)


def acquirer_of(details: str | None) -> str:
    """The acquirer a store spike names (``alerts.details``), or ''; a row that is not the
    JSON object the engine writes names none rather than failing the whole scrape."""
    try:
        facts = json.loads(details or "{}")
    except ValueError:
        return ""
    return str(facts.get("acquirer") or "") if isinstance(facts, dict) else ""


class FleetCollector(Collector):
    """Fleet-wide gauges computed from the store at scrape time (read-only connection).

    Firmware compliance and maintenance due states need policy logic per row; they move
    slowly, so they are recomputed at most every ``slow_refresh_s`` and served from a cache
    in between (a scrape of a 100,000-terminal store stays cheap).
    """

    def __init__(self, db_path: Path | str, slow_refresh_s: float = 60.0) -> None:
        self._path = db_path
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # scrapes may overlap; one connection, one at a time
        self._slow_refresh_s = slow_refresh_s
        self._slow: list[Metric] = []
        self._slow_at = float("-inf")

    def _db(self) -> Connection:
        if self._conn is None:
            self._conn = connect(self._path, readonly=True)
        return self._conn

    def close(self) -> None:
        with self._lock:
            self.close_unlocked()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            try:
                conn = self._db()
                families = list(self._collect(conn))
                if dialect(conn) == "postgresql":
                    conn.rollback()  # end the read: no session left idle in a transaction
            except StoreReadError as exc:
                # A scrape without the alert series would tell Prometheus that every fleet
                # alert has resolved, and they would page again once the store reads: fail
                # the scrape instead (up == 0), so the rules hold the last picture.
                log.warning("metrics could not read the store: %s", exc)
                self.close_unlocked()
                raise StoreError(f"metrics could not read the store: {exc}") from exc
        yield from families

    def close_unlocked(self) -> None:
        """Drop the connection (reopened by the next scrape); the caller holds the lock."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _collect(self, db: Connection) -> Iterator[Metric]:
        # The console's definition (collector.status): overlays, then terminals behind a
        # gateway that is not online counted unknown.
        scopes = active_scopes(db, datetime.now(UTC))
        for table, name in (("gateways", "posfleet_gateways"), ("terminals", "posfleet_terminals")):
            fam = GaugeMetricFamily(
                name,
                f"{table.capitalize()} by effective status, region and model",
                labels=["status", "region", "model"],
            )
            region, rows = "x.region_id", "gateways x"
            if table == "terminals":
                # Every terminal's gateway is read: one join, not a primary-key probe per
                # row (places.of): at 100,000 terminals the probes took about twice as long
                # on PostgreSQL, a fifth longer on SQLite. LEFT and '': a terminal whose
                # gateway is not listed is counted, in region '', as before.
                region = f"COALESCE({places.joined('region_id', 'x', 'xg')}, '')"
                rows = "terminals x LEFT JOIN gateways xg ON xg.gateway_id = x.gateway_id"
            for status, region_id, model, n in db.execute(
                f"SELECT {effective_sql(table, 'x', scopes)}, {region}, x.model, count(*) "
                f"FROM {rows} WHERE x.registered = 1 GROUP BY 1, 2, 3"
            ):
                fam.add_metric([status, region_id, model], n)
            yield fam
        pending = GaugeMetricFamily(
            "posfleet_enrolment_pending",
            "Ids that reported but are not in the inventory (listed for enrolment, never paged)",
            labels=["subject_type"],
        )
        counts = dict(db.execute("SELECT subject_type, count(*) FROM enrolment GROUP BY 1"))
        for subject in ("gateway", "terminal"):
            pending.add_metric([subject], counts.get(subject, 0))
        yield pending
        alerts = GaugeMetricFamily(
            "posfleet_alerts", "Alerts by kind and state", labels=["kind", "state"]
        )
        for kind, state, n in db.execute(
            "SELECT kind, state, count(*) FROM alerts WHERE state != 'resolved' GROUP BY 1, 2"
        ):
            alerts.add_metric([kind, state], n)
        yield alerts
        firing = GaugeMetricFamily(
            "posfleet_alert_firing",
            "One series per paging alert: firing, not inhibited, not covered (1)",
            labels=list(ALERT_LABELS),
        )
        for *row, details in db.execute(
            "SELECT kind, severity, region_id, site_id, gateway_id, terminal_id, escalation, "
            "summary, coalesce(fired_at, started_at), details FROM alerts "
            "WHERE state = 'firing' AND inhibited_by IS NULL AND fired_at IS NOT NULL"
        ):
            # fired_at unset: a site_down covered by its first gateway's page (the engine's
            # promotion in place), shown in the console but never a second page.
            acquirer = ""
            if row[0] == "txn_failure_spike":
                acquirer = acquirer_of(details)
            firing.add_metric([*(str(v) for v in row), acquirer], 1)
        yield firing
        yield from transaction_totals(db)
        yield from shortfall_cases(db)
        mono = time.monotonic()
        if mono - self._slow_at >= self._slow_refresh_s:
            self._slow = [firmware_compliance(db), maintenance_due(db)]
            self._slow_at = mono
        yield from self._slow


def firmware_compliance(db: Connection, now: datetime | None = None) -> Metric:
    """Gateways and terminals by model and compliance, against ``firmware_policy``.

    The policy rule is the alert engine's (``collector.alerts.versions``); distinct
    (model, version) pairs are few, so each is judged once.
    """
    from collector.alerts.repository import load_policies

    now = now or datetime.now(UTC)
    policies = load_policies(db)
    fam = GaugeMetricFamily(
        "posfleet_firmware",
        "Gateways and terminals by model and firmware compliance",
        labels=["model", "compliance"],
    )
    counts: dict[tuple[str, str], int] = {}
    for table in ("gateways", "terminals"):
        for model, version, n in db.execute(
            f"SELECT model, firmware_version, count(*) FROM {table} "
            "WHERE decommissioned = 0 GROUP BY 1, 2"
        ):
            policy = policies.get(model)
            if policy is None or not version:
                state = "unknown"
            else:
                state = "non_compliant" if policy.violation(version, now) else "compliant"
            counts[(model, state)] = counts.get((model, state), 0) + n
    for (model, state), n in sorted(counts.items()):
        fam.add_metric([model, state], n)
    return fam


def maintenance_due(db: Connection, now: datetime | None = None) -> Metric:
    """Terminals by region and maintenance due state: the model's policy and the task
    schedules that apply (``collector.schedules.device_due``, as the console and the sweep)."""
    from collector.alerts.sweeps import load_maintenance_policies
    from collector.maintenance import Usage
    from collector.schedules import device_due
    from collector.store.policies import load_done, load_schedules
    from collector.store.times import from_db_opt

    now = now or datetime.now(UTC)
    policies = load_maintenance_policies(db)
    schedules = load_schedules(db)
    done = load_done(db) if schedules else {}
    counts: dict[tuple[str, str], int] = {}
    for r in db.execute(
        f"SELECT {places.region('t')}, t.model, t.install_date, t.last_service_at, "
        "t.receipts_printed, t.receipts_at_service, t.error_count, t.errors_at_service, "
        f"t.battery_health_pct, t.terminal_id, {places.site('t')} FROM terminals t "
        "WHERE t.registered = 1 AND t.decommissioned = 0"
    ):
        usage = Usage(from_db_opt(r[2]), from_db_opt(r[3]), r[4], r[5], r[6], r[7], r[8])
        due, _, _ = device_due(
            policies.get(r[1]), schedules, (r[1], r[0], r[10]), usage, done.get(r[9], {}), now
        )
        counts[(r[0], due.value)] = counts.get((r[0], due.value), 0) + 1
    fam = GaugeMetricFamily(
        "posfleet_maintenance_due",
        "Terminals by region and maintenance due state",
        labels=["region", "state"],
    )
    for (region, state), n in sorted(counts.items()):
        fam.add_metric([region, state], n)
    return fam


def transaction_totals(db: Connection) -> Iterator[Metric]:
    """Transactions since the store began, from ``txn_totals`` (collector.store.transactions):
    by outcome and region, and by response class, region and bounded acquirer. Stored, not
    in-process, so a restart or a second collector never resets or splits them; never by
    terminal (per-terminal detail is in ``txn_aggregates``)."""
    outcomes = CounterMetricFamily(
        "posfleet_transactions",
        "Transactions reported by terminals, by outcome and region",
        labels=["outcome", "region"],
    )
    for key, region, n in db.execute(
        "SELECT key, region_id, sum(n) FROM txn_totals WHERE dim = 'outcome' GROUP BY 1, 2"
    ):
        outcomes.add_metric([key, region], n)
    yield outcomes
    responses = CounterMetricFamily(
        "posfleet_transaction_responses",
        "Transaction responses by ISO 8583 response class, region and acquirer (the first "
        f"{ACQUIRERS_MAX} acquirers seen by name, later ones as 'other')",
        labels=["class", "region", "acquirer"],
    )
    for key, region, acquirer, n in db.execute(
        "SELECT key, region_id, acquirer, n FROM txn_totals WHERE dim = 'class'"
    ):
        responses.add_metric([key, region, acquirer], n)
    yield responses


def shortfall_cases(db: Connection) -> Iterator[Metric]:
    """Open shortfall cases (collector.reconcile) by region, and those past their follow-up;
    the open short amount by region and currency. Bounded: regions x a few currencies."""
    now = to_db(datetime.now(UTC))
    cases = GaugeMetricFamily(
        "posfleet_shortfall_cases",
        "Open shortfall cases (settled less than the terminal's batch, or a batch missing on "
        "either side) by region; state overdue: past their follow-up due time",
        labels=["region", "state"],
    )
    amount = GaugeMetricFamily(
        "posfleet_shortfall_open_amount",
        "What open mismatch cases say merchants are short, by region and currency (minor units)",
        labels=["region", "currency"],
    )
    for region, n, overdue in db.execute(
        "SELECT region_id, count(*), "
        "sum(CASE WHEN follow_up_due IS NOT NULL AND follow_up_due < ? THEN 1 ELSE 0 END) "
        "FROM shortfall_cases WHERE status = 'open' GROUP BY region_id",
        (now,),
    ):
        cases.add_metric([region, "open"], n)
        cases.add_metric([region, "overdue"], overdue or 0)
    for region, currency, short in db.execute(
        "SELECT region_id, currency, sum(difference) FROM shortfall_cases "
        "WHERE status = 'open' AND kind = 'mismatch' AND difference > 0 "
        "GROUP BY region_id, currency"
    ):
        amount.add_metric([region, currency], short)
    yield cases
    yield amount
