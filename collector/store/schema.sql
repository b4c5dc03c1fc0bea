-- posfleet store, SQLite dialect (WAL). Times are ISO-8601 UTC text ("2026-11-22T09:00:00.000000+00:00"),
-- so they sort and compare as text. The shared contract of collector, alerts, metrics and dashboard.
PRAGMA foreign_keys = OFF;

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- ---------------------------------------------------------------- inventory
CREATE TABLE IF NOT EXISTS regions (
    region_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    oncall_name TEXT NOT NULL DEFAULT '',
    oncall_contact TEXT NOT NULL DEFAULT '',
    supervisor_contact TEXT NOT NULL DEFAULT '',
    contact_verified_at TEXT
);

CREATE TABLE IF NOT EXISTS sites (
    site_id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    lat REAL,
    lon REAL,
    tz TEXT NOT NULL DEFAULT 'UTC',
    merchant_name TEXT NOT NULL DEFAULT '',
    merchant_contact TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sites_region ON sites(region_id);

-- One row per gateway (= MQTT client id). Liveness columns are owned by the collector.
CREATE TABLE IF NOT EXISTS gateways (
    gateway_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL DEFAULT '',
    region_id TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL DEFAULT '',
    registered INTEGER NOT NULL DEFAULT 1,      -- 0: only in stores of older releases (see enrolment)
    install_date TEXT,
    warranty_end TEXT,
    last_service_at TEXT,
    -- liveness (computed by the collector from evidence; see collector/liveness.py)
    status TEXT NOT NULL DEFAULT 'unknown',     -- unknown | online | late | down
    status_since TEXT,
    status_reason TEXT,
    last_seen_at TEXT,                          -- collector receipt time of the last message
    session INTEGER,                            -- current session (from the birth)
    heartbeat_interval REAL,
    due_at TEXT,                                -- next liveness deadline; indexed
    -- administrative overlays
    suspended INTEGER NOT NULL DEFAULT 0,
    suspended_reason TEXT,
    decommissioned INTEGER NOT NULL DEFAULT 0,
    -- latest telemetry (denormalised for the dashboard and metrics)
    firmware_version TEXT,
    os_version TEXT,
    payment_app TEXT,
    link_type TEXT,
    clock_skew_s REAL
);
CREATE INDEX IF NOT EXISTS gateways_status ON gateways(status);
CREATE INDEX IF NOT EXISTS gateways_site ON gateways(site_id);
CREATE INDEX IF NOT EXISTS gateways_due ON gateways(due_at);

CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    site_id TEXT NOT NULL DEFAULT '',
    region_id TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL DEFAULT '',
    registered INTEGER NOT NULL DEFAULT 1,
    install_date TEXT,
    warranty_end TEXT,
    last_service_at TEXT,
    status TEXT NOT NULL DEFAULT 'unknown',
    status_since TEXT,
    status_reason TEXT,
    last_seen_at TEXT,
    heartbeat_interval REAL,
    due_at TEXT,
    suspended INTEGER NOT NULL DEFAULT 0,
    suspended_reason TEXT,
    decommissioned INTEGER NOT NULL DEFAULT 0,
    firmware_version TEXT,
    payment_app TEXT,
    receipts_printed INTEGER,
    battery_health_pct REAL,
    error_count INTEGER,
    -- counters when last serviced (collector.actions.record_service): usage since service
    receipts_at_service INTEGER,
    errors_at_service INTEGER
);
CREATE INDEX IF NOT EXISTS terminals_gateway ON terminals(gateway_id);
CREATE INDEX IF NOT EXISTS terminals_status ON terminals(status);
CREATE INDEX IF NOT EXISTS terminals_site ON terminals(site_id);

-- Ids that reported but are not in the inventory (collector/enrolment.py): listed for an
-- operator to enrol, never tracked nor paged. Bounded (POSFLEET_ENROLMENT_MAX rows, least
-- recently seen dropped first). Rows leave when the id is imported into the inventory.
CREATE TABLE IF NOT EXISTS enrolment (
    subject_type TEXT NOT NULL,                -- gateway | terminal
    subject_id TEXT NOT NULL,
    gateway_id TEXT NOT NULL DEFAULT '',       -- terminals: the enrolled gateway that reported it
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,       -- since first seen (0: carried over from gateways/terminals)
    last_kind TEXT NOT NULL DEFAULT '',        -- topic kind of the last message (heartbeat, status, ...)
    PRIMARY KEY (subject_type, subject_id)
);
CREATE INDEX IF NOT EXISTS enrolment_last_seen ON enrolment(last_seen_at);

-- ---------------------------------------------------------------- history
-- Every liveness change is a row (the healthchecks "flip"). subject_type: gateway | terminal | site.
CREATE TABLE IF NOT EXISTS state_changes (
    id INTEGER PRIMARY KEY,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',          -- will | deadline | graceful:<reason> | birth | heartbeat | admin
    actor TEXT NOT NULL DEFAULT 'collector'
);
CREATE INDEX IF NOT EXISTS state_changes_subject ON state_changes(subject_type, subject_id, at);
CREATE INDEX IF NOT EXISTS state_changes_at ON state_changes(at);

-- One incident per outage of a subject. ended_at NULL = open.
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    site_id TEXT NOT NULL DEFAULT '',
    region_id TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at TEXT,
    class TEXT NOT NULL DEFAULT 'fault',       -- fault | planned | administrative
    fault_category TEXT NOT NULL DEFAULT 'unknown',  -- hardware | software | network | power | unknown
    detected_by TEXT NOT NULL DEFAULT '',      -- will | deadline | graceful
    cause TEXT NOT NULL DEFAULT '',
    expected_recovery_at TEXT,
    notes TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS incidents_subject ON incidents(subject_type, subject_id, started_at);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents(ended_at);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open
    ON incidents(subject_type, subject_id) WHERE ended_at IS NULL;

-- ---------------------------------------------------------------- alerts
-- Stable identity: (kind, subject_type, subject_id); at most one non-resolved row per identity.
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,                        -- gateway_down | terminal_down | site_down | flapping | ...
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT 'warning',  -- info | warning | critical
    state TEXT NOT NULL,                       -- pending | firing | resolved | suppressed
    region_id TEXT NOT NULL DEFAULT '',
    site_id TEXT NOT NULL DEFAULT '',
    gateway_id TEXT NOT NULL DEFAULT '',
    terminal_id TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,                  -- when the condition began
    fired_at TEXT,
    resolved_at TEXT,
    acked_by TEXT,
    acked_at TEXT,
    ack_note TEXT,
    escalation INTEGER NOT NULL DEFAULT 0,
    inhibited_by INTEGER,                      -- parent alert id while inhibited
    incident_id INTEGER,
    details TEXT NOT NULL DEFAULT '{}'         -- JSON
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_active
    ON alerts(kind, subject_type, subject_id) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_state ON alerts(state);

CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT 'collector',
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events(alert_id, at);

-- ---------------------------------------------------------------- operations
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id INTEGER PRIMARY KEY,
    scope_type TEXT NOT NULL,                  -- terminal | gateway | site | region | model
    scope_id TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,                     -- for recurring: the first occurrence's end
    recurrence TEXT,                           -- NULL or a 5-field cron expression (start times)
    duration_s REAL,                           -- for recurring windows
    tz TEXT NOT NULL DEFAULT '',               -- recurrence's zone; '' (or 'UTC', the old default): the scope's
    reason TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    ended_early_at TEXT,
    ended_early_by TEXT
);

CREATE TABLE IF NOT EXISTS firmware_policy (
    model TEXT PRIMARY KEY,
    min_version TEXT,
    approved_versions TEXT NOT NULL DEFAULT '[]',  -- JSON list; empty = any >= min_version
    end_of_support TEXT
);

CREATE TABLE IF NOT EXISTS maintenance_policy (
    model TEXT PRIMARY KEY,
    service_interval_days INTEGER NOT NULL DEFAULT 365,
    max_receipts INTEGER,
    min_battery_health_pct REAL,
    max_error_count INTEGER,
    due_soon_days INTEGER NOT NULL DEFAULT 30
);

CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    performed_at TEXT NOT NULL,
    performed_by TEXT NOT NULL,
    work TEXT NOT NULL DEFAULT '',
    parts_replaced TEXT NOT NULL DEFAULT '',
    fault_category TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,                        -- viewer | operator | admin
    password_hash TEXT NOT NULL
);

-- Console login throttle (dashboard/throttle.py): wrong passwords in a row per key,
-- 'user:<name>' (existing accounts only) or 'client:<address>'; rows expire.
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at TEXT NOT NULL
);

-- ---------------------------------------------------------------- telemetry (bounded)
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_ts TEXT NOT NULL,
    historical INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL                      -- the validated message, JSON
);
CREATE INDEX IF NOT EXISTS telemetry_subject ON telemetry(gateway_id, kind, received_at);
CREATE INDEX IF NOT EXISTS telemetry_received ON telemetry(received_at);

-- ---------------------------------------------------------------- dashboard read paths
-- The NOC console aggregates by region/model and pages through these at 100,000 terminals.
CREATE INDEX IF NOT EXISTS gateways_region ON gateways(region_id, status);
CREATE INDEX IF NOT EXISTS terminals_region ON terminals(region_id, status);
CREATE INDEX IF NOT EXISTS terminals_model ON terminals(model, firmware_version);
CREATE INDEX IF NOT EXISTS terminals_serial ON terminals(serial);
CREATE INDEX IF NOT EXISTS gateways_serial ON gateways(serial);
CREATE INDEX IF NOT EXISTS incidents_started ON incidents(started_at);
CREATE INDEX IF NOT EXISTS alerts_started ON alerts(started_at);
CREATE INDEX IF NOT EXISTS services_subject ON services(subject_type, subject_id, performed_at);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
-- Outages per day on the Overview: the down changes only, read from the index (4x faster).
CREATE INDEX IF NOT EXISTS state_changes_to ON state_changes(to_status, at, subject_type);

-- ---------------------------------------------------------------- alert engine polling
-- The alert engine re-reads suspensions every few seconds: partial indexes keep that cheap.
CREATE INDEX IF NOT EXISTS gateways_suspended ON gateways(gateway_id) WHERE suspended = 1;
CREATE INDEX IF NOT EXISTS terminals_suspended ON terminals(terminal_id) WHERE suspended = 1;

-- ---------------------------------------------------------------- telemetry rollups (bounded)
-- collector.store.retention folds raw telemetry older than the raw window into hourly
-- min/avg/max per subject and metric, kept longer (see docs/storage.md).
CREATE TABLE IF NOT EXISTS telemetry_rollup (
    gateway_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    metric TEXT NOT NULL,
    bucket_start TEXT NOT NULL,                -- the hour, "2026-11-22T09:00:00.000000+00:00"
    n INTEGER NOT NULL,
    min REAL NOT NULL,
    sum REAL NOT NULL,                         -- avg = sum / n; sums merge across runs
    max REAL NOT NULL,
    PRIMARY KEY (gateway_id, terminal_id, kind, metric, bucket_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_rollup_bucket ON telemetry_rollup(bucket_start);

-- ---------------------------------------------------------------- on-call (collector.oncall)
-- One rotation per region and tier (1 technician, 2 supervisor, 3 manager...). Handovers at
-- local wall-clock times in ``tz``: start_local is naive "YYYY-MM-DDTHH:MM"; members is a
-- JSON list of {"name", "phone", "im_id"} in rotation order. Written by
-- collector.actions.oncall (audited), read by the console and posfleet-notify.
CREATE TABLE IF NOT EXISTS oncall_rotations (
    region_id TEXT NOT NULL,
    tier INTEGER NOT NULL,
    tz TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    start_local TEXT NOT NULL,
    shift_s INTEGER NOT NULL,
    members TEXT NOT NULL DEFAULT '[]',
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (region_id, tier)
);
-- Someone covers a tier of a region for a while (UTC times); wins over the rotation.
CREATE TABLE IF NOT EXISTS oncall_overrides (
    id INTEGER PRIMARY KEY,
    region_id TEXT NOT NULL,
    tier INTEGER NOT NULL,
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    im_id TEXT NOT NULL DEFAULT '',
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oncall_overrides_ends ON oncall_overrides(ends_at);

-- ---------------------------------------------------------------- transaction health
-- Aggregates from `transactions` messages (docs/protocol.md "Transactions"): counts and
-- amounts per terminal and reporting window, never card data or single transactions. A
-- replay of the same window (the agent's at-least-once queue) hits the unique key and is
-- stored once. terminal_id '' = the gateway is the payment device. The silent-terminal and
-- spike detectors read txn_aggregates by (terminal, window_end); reconciliation joins
-- txn_batches with the acquirer's settlement by (terminal, batch_id).
CREATE TABLE IF NOT EXISTS txn_aggregates (
    id INTEGER PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL DEFAULT '',
    window_start TEXT NOT NULL,                -- device `since`
    window_end TEXT NOT NULL,                  -- device `until`
    received_at TEXT NOT NULL,                 -- collector time
    historical INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 0,
    declined INTEGER NOT NULL DEFAULT 0,
    reversed INTEGER NOT NULL DEFAULT 0,
    timed_out INTEGER NOT NULL DEFAULT 0,
    error INTEGER NOT NULL DEFAULT 0,
    rc_approved INTEGER NOT NULL DEFAULT 0,
    rc_cardholder_decline INTEGER NOT NULL DEFAULT 0,
    rc_issuer_unavailable INTEGER NOT NULL DEFAULT 0,
    rc_format_or_terminal_error INTEGER NOT NULL DEFAULT 0,
    rc_other INTEGER NOT NULL DEFAULT 0,
    approved_amount INTEGER NOT NULL DEFAULT 0, -- minor units of `currency`
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '',
    last_txn_at TEXT,
    acquirer TEXT NOT NULL DEFAULT '',
    UNIQUE (gateway_id, terminal_id, window_start, window_end, currency, acquirer)
);
CREATE INDEX IF NOT EXISTS txn_aggregates_terminal ON txn_aggregates(terminal_id, window_end);
CREATE INDEX IF NOT EXISTS txn_aggregates_received ON txn_aggregates(received_at);

CREATE TABLE IF NOT EXISTS txn_batches (
    gateway_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL DEFAULT '',
    batch_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    amount INTEGER NOT NULL,                   -- minor units of `currency`
    currency TEXT NOT NULL,
    closed_at TEXT NOT NULL,                   -- device time
    received_at TEXT NOT NULL,
    PRIMARY KEY (gateway_id, terminal_id, batch_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txn_batches_received ON txn_batches(received_at);

-- Cumulative counts behind posfleet_transactions_total and
-- posfleet_transaction_responses_total (docs/metrics.md): bounded by construction (regions x
-- the first 20 acquirers seen (ACQUIRERS_MAX), the rest 'other' x a few keys), kept
-- in the store so every collector of a cluster serves the same monotonic counters.
CREATE TABLE IF NOT EXISTS txn_totals (
    dim TEXT NOT NULL,                         -- 'outcome' | 'class'
    key TEXT NOT NULL,                         -- approved, declined, ... | cardholder_decline, ...
    region_id TEXT NOT NULL,
    acquirer TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (dim, key, region_id, acquirer)
) WITHOUT ROWID;

-- ---------------------------------------------------------------- settlement (collector/reconcile.py)
-- One row per imported settlement file (the same bytes import once).
CREATE TABLE IF NOT EXISTS settlement_imports (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    rows INTEGER NOT NULL,
    bad_rows INTEGER NOT NULL DEFAULT 0,
    first_day TEXT NOT NULL DEFAULT '',
    last_day TEXT NOT NULL DEFAULT ''
);
-- The acquirer's settled figures per batch (a corrected file replaces them).
CREATE TABLE IF NOT EXISTS settlement_rows (
    terminal_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    count INTEGER NOT NULL,
    amount INTEGER NOT NULL,                   -- minor units of `currency`
    currency TEXT NOT NULL,
    import_id INTEGER NOT NULL,
    PRIMARY KEY (terminal_id, batch_id)
);
CREATE INDEX IF NOT EXISTS settlement_rows_day ON settlement_rows(business_date);
CREATE INDEX IF NOT EXISTS txn_batches_closed ON txn_batches(closed_at);
-- Shortfall cases (少刷钱): one per differing batch; worked in the console.
CREATE TABLE IF NOT EXISTS shortfall_cases (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,                        -- mismatch | missing_on_terminal | missing_in_settlement
    status TEXT NOT NULL DEFAULT 'open',       -- open | closed
    terminal_id TEXT NOT NULL,
    gateway_id TEXT NOT NULL DEFAULT '',
    site_id TEXT NOT NULL DEFAULT '',
    region_id TEXT NOT NULL DEFAULT '',
    merchant_id TEXT NOT NULL DEFAULT '',
    batch_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    terminal_count INTEGER,
    terminal_amount INTEGER,
    settled_count INTEGER,
    settled_amount INTEGER,
    currency TEXT NOT NULL DEFAULT '',
    difference INTEGER NOT NULL,               -- terminal - settled (minor units): > 0 short
    closed_at_terminal TEXT,                   -- when the terminal closed the batch
    import_id INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    cause TEXT NOT NULL DEFAULT '',            -- operator_error | duplicated_refund | system_fault | settlement_pending | other
    follow_up_due TEXT,
    closed_at TEXT,
    closed_by TEXT,
    resolution TEXT NOT NULL DEFAULT '',
    recovered_amount INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS shortfall_cases_one_open
    ON shortfall_cases(terminal_id, batch_id) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS shortfall_cases_status ON shortfall_cases(status, business_date);

-- ---------------------------------------------------------------- silent terminals (collector/alerts/silence.py)
-- Each terminal's rhythm: transactions and observed hours per hour of the week (0 = Monday
-- 00:00 in its store's zone); rate = txn / hours. Halved past a cap, so bounded and current.
-- A payment device is a terminal, or a gateway that is the POS itself (subject_type).
CREATE TABLE IF NOT EXISTS txn_baseline (
    subject_type TEXT NOT NULL,
    device_id TEXT NOT NULL,
    how INTEGER NOT NULL,
    txn REAL NOT NULL,
    hours REAL NOT NULL,
    PRIMARY KEY (subject_type, device_id, how)
);
-- Each payment device that ever reported transactions: its last sale (device time) and how
-- far its reports go (the end of its last window, and that window's length).
CREATE TABLE IF NOT EXISTS txn_state (
    subject_type TEXT NOT NULL,
    device_id TEXT NOT NULL,
    last_txn_at TEXT,
    last_window_end TEXT NOT NULL DEFAULT '',
    window_s REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (subject_type, device_id)
);

-- Each store's transactions and failures per hour of the week (collector/alerts/spikes.py).
CREATE TABLE IF NOT EXISTS txn_site_baseline (
    site_id TEXT NOT NULL,
    how INTEGER NOT NULL,
    attempted REAL NOT NULL,
    issuer_unavailable REAL NOT NULL,
    timed_out REAL NOT NULL,
    reversed REAL NOT NULL,
    PRIMARY KEY (site_id, how)
);
