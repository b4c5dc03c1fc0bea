"""Firmware policies and maintenance schedules set from the console, one at a time or by CSV.

Admins only (viewers and operators read them). Every change is audited like every other
action; a CSV import is checked row by row first and applied all or nothing, with one audit
row naming how many rows it set. The CSV columns are documented in docs/dashboard.md
("Policies") and are exactly what the export writes, so an export re-imports unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.actions.windows import _SCOPE_LOOKUPS
from collector.alerts.versions import compare
from collector.schedules import SCOPE_TYPES, UNITS, USAGE_METRICS, Schedule
from collector.store import db
from collector.store.policies import SCHEDULE_COLUMNS, task_types
from collector.store.times import from_db_opt, to_db

FIRMWARE_CSV = ("model", "target_version", "min_version", "approved_versions", "end_of_support")
SCHEDULE_CSV = (
    "task_type",
    "scope_type",
    "scope_id",
    "every_n",
    "every_unit",
    "usage_metric",
    "usage_limit",
    "due_soon_days",
)
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


class CsvRejected(InvalidAction):
    """A CSV file with bad rows: nothing of it was applied. ``errors``: one line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = "; ".join(errors[:20]) + ("; ..." if len(errors) > 20 else "")
        super().__init__(f"{len(errors)} bad row(s), nothing imported: {shown}")


# --------------------------------------------------------------------------- firmware
@dataclass(frozen=True, slots=True)
class FirmwareRow:
    model: str
    target_version: str
    min_version: str
    approved_versions: tuple[str, ...] = ()
    end_of_support: datetime | None = None


def _model_known(conn: db.Connection, model: str) -> bool:
    return any(conn.execute(sql, (model,)).fetchone() for sql in _SCOPE_LOOKUPS["model"])


def _check_firmware(conn: db.Connection, row: FirmwareRow) -> None:
    if not row.model.strip():
        raise InvalidAction("a firmware policy needs a model")
    if not _model_known(conn, row.model):
        raise NotFound(
            f"model {row.model!r} is not in the inventory: no gateway or terminal has it"
        )
    for name, version in (("target version", row.target_version),
                          ("minimum version", row.min_version),
                          *(("approved version", v) for v in row.approved_versions)):  # fmt: skip
        if version and not _VERSION.match(version):
            raise InvalidAction(f"{name} {version!r} is not a version (e.g. 3.2.0)")
    if not (row.target_version or row.min_version or row.approved_versions):
        raise InvalidAction("a firmware policy needs a target version or a minimum version")
    if row.target_version and row.min_version and compare(row.target_version, row.min_version) < 0:
        raise InvalidAction(
            f"target version {row.target_version} is below the minimum {row.min_version}"
        )
    if row.approved_versions and row.target_version not in ("", *row.approved_versions):
        raise InvalidAction(
            f"target version {row.target_version} is not among the approved versions "
            f"({', '.join(row.approved_versions)})"
        )


def _write_firmware(conn: db.Connection, actor: Actor, row: FirmwareRow, now: datetime) -> None:
    conn.execute(
        "INSERT INTO firmware_policy (model, min_version, approved_versions, end_of_support, "
        "target_version, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (model) DO UPDATE SET min_version = excluded.min_version, "
        "approved_versions = excluded.approved_versions, "
        "end_of_support = excluded.end_of_support, target_version = excluded.target_version, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        (
            row.model,
            row.min_version or None,
            json.dumps(list(row.approved_versions)),
            to_db(row.end_of_support) if row.end_of_support else None,
            row.target_version or None,
            actor.name,
            to_db(now),
        ),
    )


def set_firmware_policy(
    conn: db.Connection,
    actor: Actor,
    *,
    model: str,
    target_version: str,
    min_version: str,
    now: datetime,
    approved_versions: tuple[str, ...] = (),
    end_of_support: datetime | None = None,
) -> None:
    """Create or replace a model's firmware policy."""
    _require(actor, Role.ADMIN, "set firmware policies")
    row = FirmwareRow(
        model.strip(),
        target_version.strip(),
        min_version.strip(),
        tuple(v.strip() for v in approved_versions if v.strip()),
        end_of_support,
    )
    _check_firmware(conn, row)
    with conn:
        _write_firmware(conn, actor, row, now)
        _audit(conn, actor, "firmware_policy.set", f"model:{row.model}", now, _fw_details(row))


def _fw_details(row: FirmwareRow) -> dict[str, Any]:
    return {
        "target_version": row.target_version,
        "min_version": row.min_version,
        "approved_versions": list(row.approved_versions),
        "end_of_support": to_db(row.end_of_support) if row.end_of_support else None,
    }


def delete_firmware_policy(conn: db.Connection, actor: Actor, model: str, now: datetime) -> None:
    _require(actor, Role.ADMIN, "delete firmware policies")
    with conn:
        cur = conn.execute("DELETE FROM firmware_policy WHERE model = ?", (model,))
        if cur.rowcount != 1:
            raise NotFound(f"model {model!r} has no firmware policy")
        _audit(conn, actor, "firmware_policy.delete", f"model:{model}", now, {})


# --------------------------------------------------------------------------- schedules
def _check_schedule(conn: db.Connection, row: Schedule, tasks: list[str]) -> None:
    if row.task_type not in tasks:
        raise InvalidAction(
            f"task type {row.task_type!r} unknown; use one of {', '.join(tasks)} "
            "(or add the type first)"
        )
    if row.scope_type not in SCOPE_TYPES:
        raise InvalidAction(
            f"scope {row.scope_type!r} unknown; use one of {', '.join(SCOPE_TYPES)}"
        )
    if not row.scope_id:
        raise InvalidAction("a schedule needs a scope id")
    if not any(conn.execute(q, (row.scope_id,)).fetchone() for q in _SCOPE_LOOKUPS[row.scope_type]):
        raise NotFound(f"{row.scope_type} {row.scope_id!r} is not in the inventory: check the id")
    calendar = row.every_n is not None or bool(row.every_unit)
    usage = bool(row.usage_metric) or row.usage_limit is not None
    if not calendar and not usage:
        raise InvalidAction("a schedule needs a calendar interval, a usage trigger, or both")
    if calendar:
        if row.every_n is None or row.every_n <= 0:
            raise InvalidAction(f"interval must be a whole number above 0, not {row.every_n}")
        if row.every_unit not in UNITS:
            raise InvalidAction(f"interval unit {row.every_unit!r} unknown; use {', '.join(UNITS)}")
    if usage:
        if row.usage_metric not in USAGE_METRICS:
            raise InvalidAction(
                f"usage trigger {row.usage_metric!r} unknown; use {', '.join(USAGE_METRICS)} "
                "(the counters terminals report)"
            )
        limit = row.usage_limit
        if limit is None or limit <= 0 or (row.usage_metric == "battery_health" and limit > 100):
            bound = "between 0 and 100 %" if row.usage_metric == "battery_health" else "above 0"
            raise InvalidAction(f"usage limit must be {bound}, not {limit}")
    if row.due_soon_days < 0:
        raise InvalidAction(f"'due soon' days must be 0 or more, not {row.due_soon_days}")


def _write_schedule(conn: db.Connection, actor: Actor, row: Schedule, now: datetime) -> int:
    cur = conn.execute(
        f"INSERT INTO maintenance_schedules ({SCHEDULE_COLUMNS}, updated_by, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (task_type, scope_type, scope_id) DO UPDATE SET "
        "every_n = excluded.every_n, every_unit = excluded.every_unit, "
        "usage_metric = excluded.usage_metric, usage_limit = excluded.usage_limit, "
        "due_soon_days = excluded.due_soon_days, updated_by = excluded.updated_by, "
        "updated_at = excluded.updated_at RETURNING id",
        (
            row.task_type,
            row.scope_type,
            row.scope_id,
            row.every_n,
            row.every_unit,
            row.usage_metric,
            row.usage_limit,
            row.due_soon_days,
            actor.name,
            to_db(now),
        ),
    )
    return int(cur.fetchone()[0])


def set_schedule(
    conn: db.Connection,
    actor: Actor,
    *,
    task_type: str,
    scope_type: str,
    scope_id: str,
    now: datetime,
    every_n: int | None = None,
    every_unit: str = "",
    usage_metric: str = "",
    usage_limit: float | None = None,
    due_soon_days: int = 14,
) -> int:
    """Create or replace the schedule of a task type on a scope; returns its id."""
    _require(actor, Role.ADMIN, "set maintenance schedules")
    row = Schedule(
        task_type.strip(),
        scope_type.strip(),
        scope_id.strip(),
        every_n,
        every_unit.strip(),
        usage_metric.strip(),
        usage_limit,
        due_soon_days,
    )
    _check_schedule(conn, row, task_types(conn))
    with conn:
        schedule_id = _write_schedule(conn, actor, row, now)
        _audit(conn, actor, "schedule.set", _subject(row), now, _schedule_details(row))
    return schedule_id


def _subject(row: Schedule) -> str:
    return f"{row.scope_type}:{row.scope_id}"


def _schedule_details(row: Schedule) -> dict[str, Any]:
    return {
        "task_type": row.task_type,
        "every_n": row.every_n,
        "every_unit": row.every_unit,
        "usage_metric": row.usage_metric,
        "usage_limit": row.usage_limit,
        "due_soon_days": row.due_soon_days,
    }


def delete_schedule(conn: db.Connection, actor: Actor, schedule_id: int, now: datetime) -> None:
    _require(actor, Role.ADMIN, "delete maintenance schedules")
    with conn:
        row = conn.execute(
            "SELECT task_type, scope_type, scope_id FROM maintenance_schedules WHERE id = ?",
            (schedule_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"maintenance schedule {schedule_id} does not exist")
        conn.execute("DELETE FROM maintenance_schedules WHERE id = ?", (schedule_id,))
        _audit(
            conn,
            actor,
            "schedule.delete",
            f"{row[1]}:{row[2]}",
            now,
            {"schedule_id": schedule_id, "task_type": row[0]},
        )


def add_task_type(conn: db.Connection, actor: Actor, name: str, now: datetime) -> None:
    """An operator-defined task type (e.g. ``pinpad-seal``), next to the built-in ones."""
    _require(actor, Role.ADMIN, "add maintenance task types")
    name = name.strip().lower()
    if not _TASK_NAME.match(name):
        raise InvalidAction(
            f"task type {name!r}: use 1-40 lower-case letters, digits, '-' or '_', "
            "starting with a letter"
        )
    if name in task_types(conn):
        raise InvalidAction(f"task type {name!r} exists already")
    with conn:
        conn.execute(
            "INSERT INTO maintenance_task_types (name, created_by, created_at) VALUES (?, ?, ?)",
            (name, actor.name, to_db(now)),
        )
        _audit(conn, actor, "task_type.add", f"task:{name}", now, {})


# --------------------------------------------------------------------------- CSV
def _rows(text: str, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; the header must name exactly ``columns``."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    if header != list(columns):
        raise CsvRejected(
            [f"line 1: header is {','.join(header) or '(empty)'}; expected {','.join(columns)}"]
        )
    for row in reader:
        if None in row:  # more fields than the header
            raise CsvRejected([f"line {reader.line_num}: more fields than the header"])
        yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items()}


def _int_field(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidAction(f"{name} {value!r} is not a whole number") from None


def _firmware_row(r: dict[str, str]) -> FirmwareRow:
    eos = None
    if r["end_of_support"]:
        try:
            eos = datetime.strptime(r["end_of_support"], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidAction(
                f"end_of_support {r['end_of_support']!r} is not a date (YYYY-MM-DD)"
            ) from None
        eos = eos if eos.tzinfo else eos.replace(tzinfo=UTC)
    return FirmwareRow(
        r["model"],
        r["target_version"],
        r["min_version"],
        tuple(v for v in r["approved_versions"].split() if v),
        eos,
    )


def _schedule_row(r: dict[str, str]) -> Schedule:
    limit = None
    if r["usage_limit"]:
        try:
            limit = float(r["usage_limit"])
        except ValueError:
            raise InvalidAction(f"usage_limit {r['usage_limit']!r} is not a number") from None
    soon = _int_field(r["due_soon_days"], "due_soon_days")
    return Schedule(
        r["task_type"],
        r["scope_type"],
        r["scope_id"],
        _int_field(r["every_n"], "every_n"),
        r["every_unit"],
        r["usage_metric"],
        limit,
        14 if soon is None else soon,
    )


def _import(
    conn: db.Connection,
    text: str,
    columns: tuple[str, ...],
    parse: Callable[[dict[str, str]], Any],
    check: Callable[[Any], None],
    key: Callable[[Any], object],
) -> list[Any]:
    """Every row parsed and checked; all errors at once, with their line numbers."""
    rows: list[Any] = []
    errors: list[str] = []
    seen: dict[object, int] = {}
    for line, raw in _rows(text, columns):
        try:
            row = parse(raw)
            check(row)
        except (InvalidAction, NotFound) as exc:
            errors.append(f"line {line}: {exc}")
            continue
        k = key(row)
        if k in seen:
            errors.append(f"line {line}: repeats line {seen[k]}")
            continue
        seen[k] = line
        rows.append(row)
    if errors:
        raise CsvRejected(errors)
    return rows


def import_firmware_policies(conn: db.Connection, actor: Actor, text: str, now: datetime) -> int:
    """Set every policy of a CSV file (a model's policy is replaced; others stay)."""
    _require(actor, Role.ADMIN, "import firmware policies")
    rows = _import(
        conn,
        text,
        FIRMWARE_CSV,
        _firmware_row,
        lambda r: _check_firmware(conn, r),
        lambda r: r.model,
    )
    with conn:
        for row in rows:
            _write_firmware(conn, actor, row, now)
        _audit(
            conn,
            actor,
            "firmware_policy.import",
            "firmware_policy",
            now,
            {"rows": len(rows), "models": [r.model for r in rows]},
        )
    return len(rows)


def import_schedules(conn: db.Connection, actor: Actor, text: str, now: datetime) -> int:
    """Set every schedule of a CSV file (keyed by task type and scope; others stay)."""
    _require(actor, Role.ADMIN, "import maintenance schedules")
    tasks = task_types(conn)
    rows = _import(
        conn,
        text,
        SCHEDULE_CSV,
        _schedule_row,
        lambda r: _check_schedule(conn, r, tasks),
        lambda r: (r.task_type, r.scope_type, r.scope_id),
    )
    with conn:
        for row in rows:
            _write_schedule(conn, actor, row, now)
        _audit(conn, actor, "schedule.import", "maintenance_schedules", now, {"rows": len(rows)})
    return len(rows)


def _csv(columns: tuple[str, ...], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def export_firmware_policies(conn: db.Connection) -> str:
    """Every firmware policy as CSV (FIRMWARE_CSV columns)."""
    rows = []
    for model, target, low, approved, eos in conn.execute(
        "SELECT model, target_version, min_version, approved_versions, end_of_support "
        "FROM firmware_policy ORDER BY model"
    ):
        when = from_db_opt(eos)
        rows.append(
            [
                model,
                target or "",
                low or "",
                " ".join(json.loads(approved or "[]")),
                when.date().isoformat() if when else "",
            ]
        )
    return _csv(FIRMWARE_CSV, rows)


def export_schedules(conn: db.Connection) -> str:
    """Every maintenance schedule as CSV (SCHEDULE_CSV columns)."""
    rows = []
    for r in conn.execute(
        f"SELECT {SCHEDULE_COLUMNS} FROM maintenance_schedules "
        "ORDER BY task_type, scope_type, scope_id"
    ):
        limit = r[6]
        rows.append(
            [
                r[0],
                r[1],
                r[2],
                "" if r[3] is None else int(r[3]),
                r[4],
                r[5],
                "" if limit is None else (int(limit) if float(limit).is_integer() else limit),
                int(r[7]),
            ]
        )
    return _csv(SCHEDULE_CSV, rows)
