"""Baseline: the store as release 0 (schema.sql) made it, on both engines.

Every statement is ``IF NOT EXISTS``, as release 0 ran its schema at each start: on an empty
database this creates everything; on a store that release 0 wrote it only adds what an older
store still lacked. ``ensure_schema`` checks the columns of such a store first.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# INTEGER on SQLite (the rowid alias for ids), BIGINT on PostgreSQL; REAL (8 bytes) on
# SQLite, DOUBLE PRECISION on PostgreSQL (its REAL is 4 bytes).
INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("alert_id", INT, nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("from_state", sa.Text(), nullable=False),
        sa.Column("to_state", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), server_default=sa.text("'collector'"), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "alert_events_alert", "alert_events", ["alert_id", "at"], unique=False, if_not_exists=True
    )
    op.create_table(
        "alerts",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), server_default=sa.text("'warning'"), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("region_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("site_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("gateway_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("terminal_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("summary", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("fired_at", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.Text(), nullable=True),
        sa.Column("acked_by", sa.Text(), nullable=True),
        sa.Column("acked_at", sa.Text(), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("escalation", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("inhibited_by", INT, nullable=True),
        sa.Column("incident_id", INT, nullable=True),
        sa.Column("details", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "alerts_one_active",
        "alerts",
        ["kind", "subject_type", "subject_id"],
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
        if_not_exists=True,
    )
    op.create_index("alerts_started", "alerts", ["started_at"], unique=False, if_not_exists=True)
    op.create_index("alerts_state", "alerts", ["state"], unique=False, if_not_exists=True)
    op.create_table(
        "audit_log",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("details", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("audit_log_at", "audit_log", ["at"], unique=False, if_not_exists=True)
    op.create_table(
        "enrolment",
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("gateway_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("first_seen_at", sa.Text(), nullable=False),
        sa.Column("last_seen_at", sa.Text(), nullable=False),
        sa.Column("messages", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("last_kind", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("subject_type", "subject_id"),
        if_not_exists=True,
    )
    op.create_index(
        "enrolment_last_seen", "enrolment", ["last_seen_at"], unique=False, if_not_exists=True
    )
    op.create_table(
        "firmware_policy",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("min_version", sa.Text(), nullable=True),
        sa.Column("approved_versions", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("end_of_support", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("model"),
        if_not_exists=True,
    )
    op.create_table(
        "gateways",
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("region_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("model", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("serial", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("registered", INT, server_default=sa.text("1"), nullable=False),
        sa.Column("install_date", sa.Text(), nullable=True),
        sa.Column("warranty_end", sa.Text(), nullable=True),
        sa.Column("last_service_at", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'unknown'"), nullable=False),
        sa.Column("status_since", sa.Text(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("last_seen_at", sa.Text(), nullable=True),
        sa.Column("session", INT, nullable=True),
        sa.Column("heartbeat_interval", FLOAT, nullable=True),
        sa.Column("due_at", sa.Text(), nullable=True),
        sa.Column("suspended", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("decommissioned", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("firmware_version", sa.Text(), nullable=True),
        sa.Column("os_version", sa.Text(), nullable=True),
        sa.Column("payment_app", sa.Text(), nullable=True),
        sa.Column("link_type", sa.Text(), nullable=True),
        sa.Column("clock_skew_s", FLOAT, nullable=True),
        sa.PrimaryKeyConstraint("gateway_id"),
        if_not_exists=True,
    )
    op.create_index("gateways_due", "gateways", ["due_at"], unique=False, if_not_exists=True)
    op.create_index(
        "gateways_region", "gateways", ["region_id", "status"], unique=False, if_not_exists=True
    )
    op.create_index("gateways_serial", "gateways", ["serial"], unique=False, if_not_exists=True)
    op.create_index("gateways_site", "gateways", ["site_id"], unique=False, if_not_exists=True)
    op.create_index("gateways_status", "gateways", ["status"], unique=False, if_not_exists=True)
    op.create_index(
        "gateways_suspended",
        "gateways",
        ["gateway_id"],
        unique=False,
        sqlite_where=sa.text("suspended = 1"),
        postgresql_where=sa.text("suspended = 1"),
        if_not_exists=True,
    )
    op.create_table(
        "incidents",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("region_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("model", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.Text(), nullable=True),
        sa.Column("class", sa.Text(), server_default=sa.text("'fault'"), nullable=False),
        sa.Column("fault_category", sa.Text(), server_default=sa.text("'unknown'"), nullable=False),
        sa.Column("detected_by", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("cause", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("expected_recovery_at", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "incidents_one_open",
        "incidents",
        ["subject_type", "subject_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
        if_not_exists=True,
    )
    op.create_index("incidents_open", "incidents", ["ended_at"], unique=False, if_not_exists=True)
    op.create_index(
        "incidents_started", "incidents", ["started_at"], unique=False, if_not_exists=True
    )
    op.create_index(
        "incidents_subject",
        "incidents",
        ["subject_type", "subject_id", "started_at"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "login_failures",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("failures", INT, nullable=False),
        sa.Column("last_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        if_not_exists=True,
    )
    op.create_table(
        "maintenance_policy",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("service_interval_days", INT, server_default=sa.text("365"), nullable=False),
        sa.Column("max_receipts", INT, nullable=True),
        sa.Column("min_battery_health_pct", FLOAT, nullable=True),
        sa.Column("max_error_count", INT, nullable=True),
        sa.Column("due_soon_days", INT, server_default=sa.text("30"), nullable=False),
        sa.PrimaryKeyConstraint("model"),
        if_not_exists=True,
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("scope_type", sa.Text(), nullable=False),
        sa.Column("scope_id", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.Text(), nullable=False),
        sa.Column("ends_at", sa.Text(), nullable=False),
        sa.Column("recurrence", sa.Text(), nullable=True),
        sa.Column("duration_s", FLOAT, nullable=True),
        sa.Column("tz", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("reason", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("ended_early_at", sa.Text(), nullable=True),
        sa.Column("ended_early_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        if_not_exists=True,
    )
    op.create_table(
        "oncall_overrides",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("region_id", sa.Text(), nullable=False),
        sa.Column("tier", INT, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("im_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("starts_at", sa.Text(), nullable=False),
        sa.Column("ends_at", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "oncall_overrides_ends", "oncall_overrides", ["ends_at"], unique=False, if_not_exists=True
    )
    op.create_table(
        "oncall_rotations",
        sa.Column("region_id", sa.Text(), nullable=False),
        sa.Column("tier", INT, nullable=False),
        sa.Column("tz", sa.Text(), server_default=sa.text("'Asia/Shanghai'"), nullable=False),
        sa.Column("start_local", sa.Text(), nullable=False),
        sa.Column("shift_s", INT, nullable=False),
        sa.Column("members", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("updated_by", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "tier"),
        if_not_exists=True,
    )
    op.create_table(
        "regions",
        sa.Column("region_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("oncall_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("oncall_contact", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("supervisor_contact", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("contact_verified_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("region_id"),
        if_not_exists=True,
    )
    op.create_table(
        "services",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("performed_at", sa.Text(), nullable=False),
        sa.Column("performed_by", sa.Text(), nullable=False),
        sa.Column("work", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("parts_replaced", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("fault_category", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "services_subject",
        "services",
        ["subject_type", "subject_id", "performed_at"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "sites",
        sa.Column("site_id", sa.Text(), nullable=False),
        sa.Column("region_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("address", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("lat", FLOAT, nullable=True),
        sa.Column("lon", FLOAT, nullable=True),
        sa.Column("tz", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("merchant_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("merchant_contact", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("site_id"),
        if_not_exists=True,
    )
    op.create_index("sites_region", "sites", ["region_id"], unique=False, if_not_exists=True)
    op.create_table(
        "state_changes",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=False),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("actor", sa.Text(), server_default=sa.text("'collector'"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("state_changes_at", "state_changes", ["at"], unique=False, if_not_exists=True)
    op.create_index(
        "state_changes_subject",
        "state_changes",
        ["subject_type", "subject_id", "at"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "state_changes_to",
        "state_changes",
        ["to_status", "at", "subject_type"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "telemetry",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("terminal_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.Column("device_ts", sa.Text(), nullable=False),
        sa.Column("historical", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "telemetry_received", "telemetry", ["received_at"], unique=False, if_not_exists=True
    )
    op.create_index(
        "telemetry_subject",
        "telemetry",
        ["gateway_id", "kind", "received_at"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "telemetry_rollup",
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("terminal_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("bucket_start", sa.Text(), nullable=False),
        sa.Column("n", INT, nullable=False),
        sa.Column("min", FLOAT, nullable=False),
        sa.Column("sum", FLOAT, nullable=False),
        sa.Column("max", FLOAT, nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "terminal_id", "kind", "metric", "bucket_start"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )
    op.create_index(
        "telemetry_rollup_bucket",
        "telemetry_rollup",
        ["bucket_start"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "terminals",
        sa.Column("terminal_id", sa.Text(), nullable=False),
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("region_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("model", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("serial", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("registered", INT, server_default=sa.text("1"), nullable=False),
        sa.Column("install_date", sa.Text(), nullable=True),
        sa.Column("warranty_end", sa.Text(), nullable=True),
        sa.Column("last_service_at", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'unknown'"), nullable=False),
        sa.Column("status_since", sa.Text(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("last_seen_at", sa.Text(), nullable=True),
        sa.Column("heartbeat_interval", FLOAT, nullable=True),
        sa.Column("due_at", sa.Text(), nullable=True),
        sa.Column("suspended", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("decommissioned", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("firmware_version", sa.Text(), nullable=True),
        sa.Column("payment_app", sa.Text(), nullable=True),
        sa.Column("receipts_printed", INT, nullable=True),
        sa.Column("battery_health_pct", FLOAT, nullable=True),
        sa.Column("error_count", INT, nullable=True),
        sa.Column("receipts_at_service", INT, nullable=True),
        sa.Column("errors_at_service", INT, nullable=True),
        sa.PrimaryKeyConstraint("terminal_id"),
        if_not_exists=True,
    )
    op.create_index(
        "terminals_gateway", "terminals", ["gateway_id"], unique=False, if_not_exists=True
    )
    op.create_index(
        "terminals_model",
        "terminals",
        ["model", "firmware_version"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "terminals_region", "terminals", ["region_id", "status"], unique=False, if_not_exists=True
    )
    op.create_index("terminals_serial", "terminals", ["serial"], unique=False, if_not_exists=True)
    op.create_index("terminals_site", "terminals", ["site_id"], unique=False, if_not_exists=True)
    op.create_index("terminals_status", "terminals", ["status"], unique=False, if_not_exists=True)
    op.create_index(
        "terminals_suspended",
        "terminals",
        ["terminal_id"],
        unique=False,
        sqlite_where=sa.text("suspended = 1"),
        postgresql_where=sa.text("suspended = 1"),
        if_not_exists=True,
    )
    op.create_table(
        "txn_aggregates",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("terminal_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("window_start", sa.Text(), nullable=False),
        sa.Column("window_end", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.Column("historical", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("approved", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("declined", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("reversed", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("timed_out", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("error", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("rc_approved", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("rc_cardholder_decline", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("rc_issuer_unavailable", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("rc_format_or_terminal_error", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("rc_other", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("approved_amount", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("refunded_amount", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("currency", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("last_txn_at", sa.Text(), nullable=True),
        sa.Column("acquirer", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "gateway_id", "terminal_id", "window_start", "window_end", "currency", "acquirer"
        ),
        if_not_exists=True,
    )
    op.create_index(
        "txn_aggregates_received",
        "txn_aggregates",
        ["received_at"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "txn_aggregates_terminal",
        "txn_aggregates",
        ["terminal_id", "window_end"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "txn_batches",
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("terminal_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("count", INT, nullable=False),
        sa.Column("amount", INT, nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "terminal_id", "batch_id"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )
    op.create_index(
        "txn_batches_received", "txn_batches", ["received_at"], unique=False, if_not_exists=True
    )
    op.create_table(
        "txn_totals",
        sa.Column("dim", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("region_id", sa.Text(), nullable=False),
        sa.Column("acquirer", sa.Text(), nullable=False),
        sa.Column("n", INT, nullable=False),
        sa.PrimaryKeyConstraint("dim", "key", "region_id", "acquirer"),
        sqlite_with_rowid=False,
        if_not_exists=True,
    )
    op.create_table(
        "users",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
        if_not_exists=True,
    )


def downgrade() -> None:
    raise NotImplementedError(
        "0001 is the baseline: below it there is no posfleet store (restore a backup instead)"
    )
