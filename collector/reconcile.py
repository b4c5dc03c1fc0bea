"""Settlement reconciliation: the acquirer's settlement file against the terminals' batches.

A terminal can take payments all day and still leave the merchant short (少刷钱): the day's
settled amount is lower than what was rung up. Terminals report each closed batch
(``transactions`` messages with ``batch``: id, count, amount, currency, closed_at; stored in
``txn_batches``). The acquirer sends a settlement file per business day. This module imports
that file, matches it batch by batch, and opens one **shortfall case** per batch that differs:

- ``mismatch``: both sides have the batch, and the counts differ or the amounts differ by more
  than the tolerance (``difference`` = terminal amount - settled amount; positive = short);
- ``missing_on_terminal``: settled, but no terminal reported that batch;
- ``missing_in_settlement``: a terminal the file's acquirer settles (one of the merchants
  in this file names it, in this or an earlier file) closed a batch on one of the file's
  business days, and the file does not settle it. A later file that settles it closes the
  case by itself. Files per acquirer are fine: another acquirer's terminals belong to other
  merchant ids. A batch's business day is its closing date in its store's time zone, or,
  with the acquirer's cut-off (``Cutoff``: 23:00 is common in China), the date whose
  business the acquirer closes at that time (a batch closed at 23:30 is the next day's).

File format (docs/transactions.md): CSV, UTF-8 (a BOM is accepted) or GB18030, one header line with the
columns ``merchant, terminal, batch, business_date, count, amount, currency`` in any order
(other columns are ignored); ``business_date`` YYYY-MM-DD; ``count`` an integer;
``amount`` a written-out decimal in the currency's major unit (``1234.56`` or ``1,234.56``
CNY), at most as many decimals
as the currency has (ISO 4217). A bad row is reported with its line number and skipped (the
rest of the file is reconciled); a file without a required column is refused whole. The same
file imported twice (same bytes) is imported once. A corrected file for the same batches
replaces their settled figures and re-judges their cases.

Everything is set-sized and done in one transaction per file: 100,000 rows are read, matched
and judged in memory against the batches of the file's days (bench/reconcile.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector import places as place_sql
from collector.actions.base import Actor, Role, _audit, _require
from collector.store.db import Connection
from collector.store.times import from_db, to_db

COLUMNS = ("merchant", "terminal", "batch", "business_date", "count", "amount", "currency")
# ISO 4217 minor units of the currencies acquirers in the region settle in; others: refused
# with the fix (add it here).
MINOR_UNITS = {
    "CNY": 2,
    "HKD": 2,
    "MOP": 2,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "MYR": 2,
    "THB": 2,
    "AUD": 2,
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
}
# What acquirers write for those currencies besides the ISO 4217 code: its numeric code (as
# in UnionPay's files: 156 is CNY) and, for the yuan, RMB / 人民币.
CURRENCY_ALIASES = {
    "156": "CNY", "RMB": "CNY", "人民币": "CNY", "344": "HKD", "446": "MOP", "901": "TWD",
    "840": "USD", "978": "EUR", "826": "GBP", "702": "SGD", "458": "MYR", "764": "THB",
    "036": "AUD", "392": "JPY", "410": "KRW", "704": "VND",
}  # fmt: skip
KINDS = ("mismatch", "missing_on_terminal", "missing_in_settlement")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_COUNT = re.compile(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,7})$")  # 1200 or 1,200
_AMOUNT = re.compile(r"^([+-]?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
HEADER_WITHIN = 10  # lines searched for the header (title lines above it are skipped)
MAX_ROW_ERRORS = 100  # listed in the result; all of them are counted


class ReconcileError(ValueError):
    """The file cannot be reconciled at all; the message names what to fix."""


class NotAFileError(ReconcileError):
    """What was given is a pipe, a device, a socket or a directory, not a file."""


_NOT_FILES = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _refuse_unless_file(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = _NOT_FILES.get(stat.S_IFMT(mode), "not a regular file")
        raise NotAFileError(
            f"it is {kind}, not a file, and is not read (a pipe waits for a writer for ever, "
            "a device may never end): give the settlement CSV file itself (save what the "
            "pipe or device delivers to a file first, then import that file)"
        )


def read_settlement_file(path: Path) -> bytes:
    """The bytes of the settlement file at ``path``; never waits on a pipe or a device.

    ``NotAFileError`` for anything but a regular file (a symbolic link to one is fine),
    ``OSError`` when it cannot be opened or read. Checked before it is opened (opening a
    device can have effects of its own) and again on what was opened, non-blocking: the
    name may have been swapped for a pipe in between (an inbox written by others)."""
    _refuse_unless_file(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as f:
        _refuse_unless_file(os.fstat(fd).st_mode)
        return f.read()


@dataclass(frozen=True, slots=True)
class SettledBatch:
    line: int
    merchant: str
    terminal: str
    batch: str
    business_date: str
    count: int
    amount: int  # minor units
    currency: str


@dataclass(slots=True)
class ImportResult:
    import_id: int
    duplicate: bool  # the same file was imported before: nothing done
    rows: int = 0
    bad_rows: int = 0
    errors: list[str] = field(default_factory=list)  # "line N: reason", the first 100
    matched: int = 0
    opened: dict[str, int] = field(default_factory=dict)  # new cases by kind
    updated: int = 0  # open cases whose figures changed
    closed: int = 0  # open cases a (corrected or late) settlement closed
    # Per currency, the sum of positive differences of open mismatch cases (minor units).
    short_amount: dict[str, int] = field(default_factory=dict)


def _amount_minor(text: str, currency: str) -> int:
    """Minor units of a plain decimal (``-1234.56``; thousands grouped as ``1,234.56`` too).

    Written out, never an exponent: ``1e-999999999`` rounded to 0 and ``1e999999999``
    overflowed the decimal context. A comma is only ever a thousands separator here: every
    currency the reconciler knows has 0 or 2 decimals, so ``1,234`` cannot mean 1.234."""
    m = _AMOUNT.match(text)
    if m is None:
        raise ValueError(
            f"amount {text[:70]!r} is not a decimal number like 1234.56 or 1,234.56 "
            "(no currency sign, no exponent)"
        )
    sign, whole, frac = m.group(1), m.group(2).replace(",", ""), m.group(3) or ""
    exp = MINOR_UNITS[currency]
    if frac[exp:].strip("0"):
        raise ValueError(f"amount {text!r} has more than {exp} decimals for {currency}")
    digits = (whole + frac[:exp].ljust(exp, "0")).lstrip("0") or "0"
    if len(digits) > 12:
        raise ValueError(f"amount {text[:70]!r} is out of range")
    return -int(digits) if sign == "-" else int(digits)


def _decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else GB18030: what Excel saves a CSV as on a Chinese
    Windows (GBK, which GB18030 contains), and what a Chinese acquirer's merchant names in an
    extra column are often written in. The required columns are ASCII either way."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ReconcileError(
            f"the file is neither UTF-8 nor GBK/GB18030 ({utf8_error}): export it as UTF-8 CSV"
        ) from None


def parse_settlement(data: bytes) -> tuple[list[SettledBatch], list[str], int]:
    """Rows, the first errors ("line N: reason") and the number of bad rows."""
    rows, errors, bad, _unread = _parse(data)
    return rows, errors, bad


def _header(reader: Iterator[list[str]]) -> list[str]:
    """The header's column names, lower case: the first line naming every column, within the
    first ``HEADER_WITHIN`` lines (an export may open with a title and a date line)."""
    best: list[str] | None = None
    for _ in range(HEADER_WITHIN):
        try:
            line = next(reader, None)
        except csv.Error:
            continue  # a title line CSV cannot read is not the header either
        if line is None:
            break
        names = [h.strip().lower() for h in line]
        if all(c in names for c in COLUMNS):
            return names
        if any(names) and (best is None or _known(names) > _known(best)):
            best = names
    if best is None:
        raise ReconcileError(f"the file is empty: expected a header with {', '.join(COLUMNS)}")
    missing = [c for c in COLUMNS if c not in best]
    hint = "" if _known(best) else " (the column names in English, as they are here)"
    raise ReconcileError(
        f"the header lacks column(s) {', '.join(missing)}: a settlement file needs "
        f"{', '.join(COLUMNS)}{hint} in one of its first {HEADER_WITHIN} lines "
        "(docs/transactions.md)"
    )


def _known(names: list[str]) -> int:
    return sum(c in names for c in COLUMNS)


def _parse(data: bytes) -> tuple[list[SettledBatch], list[str], int, set[tuple[str, str]]]:
    """As ``parse_settlement``, and the (terminal, batch) of bad rows that name them."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    names = _header(reader)
    twice = [c for c in COLUMNS if names.count(c) > 1]
    if twice:  # which one is the settled amount? never guessed
        raise ReconcileError(
            f"the header names column(s) {', '.join(twice)} more than once: keep one of each"
        )
    at = {c: names.index(c) for c in COLUMNS}
    rows: list[SettledBatch] = []
    errors: list[str] = []
    bad = 0
    seen: dict[tuple[str, str], int] = {}
    unread: set[tuple[str, str]] = set()  # batches the acquirer settled on a row we cannot read
    needed = max(at.values()) + 1
    while True:
        line = reader.line_num + 1  # where the record starts (a quoted field may hold newlines)
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over csv's limit (128 KiB), a stray quote: this row
            rec = None
            failure = f"not CSV ({exc})"
        if rec is not None and (not rec or all(not v.strip() for v in rec)):
            continue
        try:
            if rec is None:
                raise ValueError(failure)
            if len(rec) < needed:
                raise ValueError(f"{len(rec)} fields, the header has {len(names)}")
            v = {c: rec[i].strip() for c, i in at.items()}
            for c in ("merchant", "terminal", "batch"):
                if not _ID.match(v[c]):
                    raise ValueError(f"{c} {v[c][:70]!r} is not an id (1-64 letters, digits, _.:-)")
            if not _DATE.match(v["business_date"]):
                raise ValueError(f"business_date {v['business_date']!r} is not YYYY-MM-DD")
            try:
                datetime.strptime(v["business_date"], "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError as exc:
                day = v["business_date"]
                raise ValueError(f"business_date {day!r} is not a day ({exc})") from None
            currency = v["currency"].upper()
            if currency.isascii() and currency.isdigit():
                currency = currency.zfill(3)  # Excel drops the 0 of 036
            currency = CURRENCY_ALIASES.get(currency, currency)
            if currency not in MINOR_UNITS:
                raise ValueError(f"currency {v['currency']!r} is not one this reconciler knows")
            count = int(v["count"].replace(",", "")) if _COUNT.match(v["count"]) else -1
            if not 0 <= count <= 1_000_000:
                raise ValueError(f"count {v['count'][:70]!r} is not an integer 0..1000000")
            key = (v["terminal"], v["batch"])
            if key in seen:
                raise ValueError(
                    f"terminal {key[0]} batch {key[1]} is settled twice (line {seen[key]})"
                )
            row = SettledBatch(
                line,
                v["merchant"],
                v["terminal"],
                v["batch"],
                v["business_date"],
                count,
                _amount_minor(v["amount"], currency),
                currency,
            )
        except ValueError as exc:
            bad += 1
            if len(errors) < MAX_ROW_ERRORS:
                errors.append(f"line {line}: {exc}")
            if rec is not None and len(rec) >= needed:
                named = (rec[at["terminal"]].strip(), rec[at["batch"]].strip())
                if all(_ID.match(x) for x in named):
                    unread.add(named)
            continue
        seen[key] = line
        rows.append(row)
    return rows, errors, bad, unread


@dataclass(frozen=True, slots=True)
class _TerminalBatch:
    device: str  # terminal id, or the gateway id when the gateway is the payment device
    gateway_id: str
    batch: str
    count: int
    amount: int
    currency: str
    closed_at: str


_CUTOFF = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
NOON = timedelta(hours=12)


def parse_cutoff(text: str) -> timedelta:
    """``HH:MM`` (00:00-23:59) as the time since midnight; ValueError saying how to write it."""
    m = _CUTOFF.match(text.strip())
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(
            f"{text[:40]!r} is not a time of day: write the acquirer's cut-off as HH:MM, "
            "e.g. 23:00 (00:00, midnight, is a business day from midnight to midnight)"
        )
    return timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))


@dataclass(frozen=True, slots=True)
class Cutoff:
    """When the acquirer's business day ends, on the wall clock of ``tz`` (the acquirer's
    zone, e.g. Asia/Shanghai; empty: each store's own zone).

    An evening cut-off (12:00-23:59) ends the day early: a batch closed at or after it is
    settled for the next date (23:00: 23:30 on the 22nd is the 23rd's). A morning one
    (00:01-11:59) lets the day run past midnight: a batch closed before it is the previous
    date's. 00:00 is the calendar day."""

    at: timedelta = timedelta(0)
    tz: str = ""

    def business_day(self, closed: datetime, store_tz: str) -> str:
        try:
            zone = ZoneInfo(self.tz or store_tz or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        wall = closed.astimezone(zone).replace(tzinfo=None)
        # The business date is the calendar date holding most of the business day.
        shift = self.at - timedelta(days=1) if self.at >= NOON else self.at
        return (wall - shift).date().isoformat()

    def spec(self) -> str:
        """``HH:MM`` or ``HH:MM@ZONE``, as the settings write it."""
        minutes = int(self.at.total_seconds()) // 60
        at = f"{minutes // 60:02d}:{minutes % 60:02d}"
        return f"{at}@{self.tz}" if self.tz else at

    def said(self) -> str:
        """The cut-off in a report: when the business day ends, on whose clock."""
        clock = f"{self.tz}'s clock" if self.tz else "each store's clock"
        if not self.at:
            return f"the calendar day (midnight to midnight) on {clock}"
        return f"the business day ends at {self.spec().split('@')[0]} on {clock}"


MIDNIGHT = Cutoff()  # the calendar day in each store's zone

_ACQUIRER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NOT_ACQUIRERS = {"done", "rejected", ".", ".."}


def parse_acquirer_cutoffs(text: str) -> dict[str, Cutoff]:
    """``NAME=HH:MM[@ZONE],...`` (POSFLEET_SETTLEMENT_ACQUIRERS) as each acquirer's cut-off;
    ValueError naming the entry and how to write it. NAME is the inbox's subdirectory for
    that acquirer's files."""
    from zoneinfo import ZoneInfo

    rules: dict[str, Cutoff] = {}
    how = "write NAME=HH:MM or NAME=HH:MM@ZONE, comma-separated, e.g. unionpay=23:00@Asia/Shanghai"
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, eq, rule = entry.partition("=")
        name = name.strip()
        if not eq:
            raise ValueError(f"{entry[:60]!r} has no '=': {how}")
        if not _ACQUIRER.match(name) or name in _NOT_ACQUIRERS:
            raise ValueError(
                f"{name[:60]!r} cannot name an acquirer's inbox directory: use 1-64 of "
                "A-Z a-z 0-9 _ . - (not done or rejected)"
            )
        if name in rules:
            raise ValueError(f"acquirer {name!r} is listed twice: keep one cut-off for it")
        at, _, zone = rule.partition("@")
        try:
            cut = parse_cutoff(at)
        except ValueError as exc:
            raise ValueError(f"acquirer {name!r}: {exc}") from None
        zone = zone.strip()
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"acquirer {name!r}: unknown time zone {zone[:60]!r}; use an IANA name "
                    "such as Asia/Shanghai"
                ) from None
        rules[name] = Cutoff(cut, zone)
    return rules


def _terminal_batches(
    conn: Connection, days: Iterable[str]
) -> dict[tuple[str, str], _TerminalBatch]:
    """Batches closed on or around the file's days (a business day starts at most 12 h
    before its date's midnight, by the cut-off, and is 14 h off UTC at most in any zone); the
    business day is judged per batch afterwards."""
    ds = sorted(days)
    lo = datetime.strptime(ds[0], "%Y-%m-%d").replace(tzinfo=UTC) - timedelta(days=2)
    hi = datetime.strptime(ds[-1], "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=2)
    out: dict[tuple[str, str], _TerminalBatch] = {}
    for gid, tid, bid, n, amount, cur, closed in conn.execute(
        "SELECT gateway_id, terminal_id, batch_id, count, amount, currency, closed_at "
        "FROM txn_batches WHERE closed_at >= ? AND closed_at < ?",
        (to_db(lo), to_db(hi)),
    ):
        device = tid or gid
        out[(device, bid)] = _TerminalBatch(device, gid, bid, n, amount, cur, closed)
    return out


def _batch_by_key(conn: Connection, device: str, batch: str, gateway: str) -> _TerminalBatch | None:
    """A settled batch closed outside the file's days (a settlement date days after a weekend
    or the Spring Festival, a late file's date): found by its key, whatever its day."""
    if not gateway:
        return None  # a device the inventory does not know: no key to look it up by
    row = conn.execute(
        "SELECT count, amount, currency, closed_at FROM txn_batches "
        "WHERE gateway_id = ? AND terminal_id = ? AND batch_id = ?",
        (gateway, "" if gateway == device else device, batch),
    ).fetchone()
    if row is None:
        return None
    return _TerminalBatch(device, gateway, batch, row[0], row[1], row[2], row[3])


def _places(conn: Connection) -> tuple[dict[str, tuple[str, str, str, str]], str]:
    """device id -> (gateway, site, region, tz) for terminals and gateways, and the default
    zone: a device without a store (or a store without a zone) is in the deployment's
    ``POSFLEET_DEFAULT_TZ`` (written to ``meta`` by the collector), not in UTC."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'default_tz'").fetchone()
    default = str(row[0]) if row and row[0] else "UTC"
    places: dict[str, tuple[str, str, str, str]] = {}
    for gid, site, region, tz in conn.execute(
        "SELECT g.gateway_id, g.site_id, g.region_id, s.tz "
        "FROM gateways g LEFT JOIN sites s ON s.site_id = g.site_id"
    ):
        places[gid] = (gid, site, region, tz or default)
    # A terminal listed without a store or region of its own is where its gateway is.
    for tid, gid, site, region, tz in conn.execute(
        f"SELECT p.terminal_id, p.gateway_id, p.site_id, p.region_id, s.tz FROM (SELECT "
        f"t.terminal_id, t.gateway_id, {place_sql.site('t')} AS site_id, "
        f"{place_sql.region('t')} AS region_id FROM terminals t) p "
        "LEFT JOIN sites s ON s.site_id = p.site_id"
    ):
        places[tid] = (gid, site, region, tz or default)
    return places, default


_CASE_COLUMNS = (
    "kind, terminal_id, gateway_id, site_id, region_id, merchant_id, batch_id, business_date, "
    "terminal_count, terminal_amount, settled_count, settled_amount, currency, difference, "
    "closed_at_terminal, import_id, opened_at, updated_at, follow_up_due"
)
# A new case is due for its first follow-up one day after it opens (the console's call log
# sets the next one); past it, posfleet_shortfall_cases{state="overdue"} and its alert.
FIRST_FOLLOW_UP = timedelta(days=1)


def format_amounts(amounts: dict[str, int]) -> str:
    """``{"CNY": 2000, "JPY": 500}`` as ``CNY 20.00, JPY 500`` (major units); ``0`` if none."""
    if not amounts:
        return "0"
    out = []
    for currency, minor in sorted(amounts.items()):
        exp = MINOR_UNITS.get(currency, 0)
        value = f"{abs(minor) // 10**exp}" + (f".{abs(minor) % 10**exp:0{exp}d}" if exp else "")
        out.append(f"{currency} {'-' if minor < 0 else ''}{value}")
    return ", ".join(out)


def _readable_name(name: str) -> str:
    """A file name the store can hold: one written in GBK by a Chinese Windows client reaches
    Python as lone surrogates (``os.fsdecode``), which neither SQLite nor PostgreSQL take."""
    raw = name.encode("utf-8", "surrogateescape")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def import_settlement(
    conn: Connection,
    data: bytes,
    *,
    name: str,
    actor: Actor,
    now: datetime,
    tolerance: int = 0,
    cutoff: Cutoff = MIDNIGHT,
) -> ImportResult:
    """Import one settlement file and judge its batches (one transaction)."""
    _require(actor, Role.OPERATOR, "import settlement files")
    name = _readable_name(name)
    digest = hashlib.sha256(data).hexdigest()
    rows, errors, bad, unread = _parse(data)
    with conn:
        prior = conn.execute(
            "SELECT id FROM settlement_imports WHERE sha256 = ?", (digest,)
        ).fetchone()
        if prior is not None:
            return ImportResult(int(prior[0]), True)
        days = sorted({r.business_date for r in rows})
        import_id = int(
            conn.execute(
                "INSERT INTO settlement_imports (name, sha256, imported_at, imported_by, rows, "
                "bad_rows, first_day, last_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    name[:200],
                    digest,
                    to_db(now),
                    actor.name,
                    len(rows),
                    bad,
                    days[0] if days else "",
                    days[-1] if days else "",
                ),
            ).fetchone()[0]
        )
        result = ImportResult(import_id, False, len(rows), bad, errors)
        if rows:
            _judge(conn, rows, unread, days, import_id, now, tolerance, cutoff, result)
        _audit(
            conn,
            actor,
            "settlement.import",
            f"settlement:{import_id}",
            now,
            {
                "name": name,
                "rows": len(rows),
                "bad_rows": bad,
                "opened": result.opened,
                "closed": result.closed,
                "short_amount": result.short_amount,
            },
        )
    return result


def _judge(
    conn: Connection,
    rows: list[SettledBatch],
    unread: set[tuple[str, str]],
    days: list[str],
    import_id: int,
    now: datetime,
    tolerance: int,
    cutoff: Cutoff,
    result: ImportResult,
) -> None:
    stamp = to_db(now)
    conn.executemany(
        "INSERT INTO settlement_rows (terminal_id, batch_id, merchant_id, business_date, count, "
        "amount, currency, import_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (terminal_id, batch_id) DO UPDATE SET merchant_id = excluded.merchant_id, "
        "business_date = excluded.business_date, count = excluded.count, "
        "amount = excluded.amount, currency = excluded.currency, import_id = excluded.import_id",
        [
            (
                r.terminal,
                r.batch,
                r.merchant,
                r.business_date,
                r.count,
                r.amount,
                r.currency,
                import_id,
            )
            for r in rows
        ],
    )
    batches = _terminal_batches(conn, days)
    places, default_tz = _places(conn)
    open_cases = {
        (tid, bid): (cid, kind, diff, tcount, scount, currency)
        for cid, tid, bid, kind, diff, tcount, scount, currency in conn.execute(
            "SELECT id, terminal_id, batch_id, kind, difference, terminal_count, settled_count, "
            "currency FROM shortfall_cases WHERE status = 'open'"
        )
    }
    # Terminals this file's acquirer settles: those of the merchants (MIDs) in this file, as
    # named in this file or an earlier one. A terminal of another acquirer (its merchant has
    # another MID there) is that acquirer's file's business, never a case here.
    in_file_merchants = {r.merchant for r in rows}
    merchant_of: dict[str, str] = {
        tid: mid
        for tid, mid in conn.execute("SELECT terminal_id, merchant_id FROM settlement_rows")
        if mid in in_file_merchants
    }
    wanted: dict[tuple[str, str], tuple[object, ...]] = {}  # cases that should be open
    for r in rows:
        gid, site, region, _tz = places.get(r.terminal, ("", "", "", "UTC"))
        tb = batches.get((r.terminal, r.batch)) or _batch_by_key(conn, r.terminal, r.batch, gid)
        if tb is None:
            wanted[(r.terminal, r.batch)] = (
                "missing_on_terminal", r.terminal, gid, site, region, r.merchant, r.batch,
                r.business_date, None, None, r.count, r.amount, r.currency, -r.amount, None,
            )  # fmt: skip
            continue
        if tb.currency != r.currency:
            # Settled in another currency: none of the terminal's money was settled in its
            # own, and yen less fen is no amount at all. The file's figure stays in
            # settlement_rows with its currency.
            wanted[(r.terminal, r.batch)] = (
                "mismatch", r.terminal, tb.gateway_id, site, region, r.merchant, r.batch,
                r.business_date, tb.count, tb.amount, r.count, None, tb.currency, tb.amount,
                tb.closed_at,
            )  # fmt: skip
            continue
        diff = tb.amount - r.amount
        if tb.count != r.count or abs(diff) > tolerance:
            wanted[(r.terminal, r.batch)] = (
                "mismatch", r.terminal, tb.gateway_id, site, region, r.merchant, r.batch,
                r.business_date, tb.count, tb.amount, r.count, r.amount, r.currency, diff,
                tb.closed_at,
            )  # fmt: skip
        else:
            result.matched += 1
    settled = {(t, b) for t, b in conn.execute("SELECT terminal_id, batch_id FROM settlement_rows")}
    day_set = set(days)
    for key, tb in batches.items():
        # A batch on a bad row was settled, its figures unreadable: not missing, and not
        # judged until a file with that row fixed comes in.
        if key in settled or key in unread or tb.device not in merchant_of:
            continue
        gid, site, region, tz = places.get(tb.device, (tb.gateway_id, "", "", default_tz))
        day = cutoff.business_day(from_db(tb.closed_at), tz)
        if day not in day_set:
            continue
        wanted[key] = (
            "missing_in_settlement", tb.device, tb.gateway_id, site, region,
            merchant_of[tb.device], tb.batch, day, tb.count, tb.amount, None, None, tb.currency,
            tb.amount, tb.closed_at,
        )  # fmt: skip
    # Open what is new, update what changed, close what this file settles.
    new_rows = []
    for key, case in wanted.items():
        have = open_cases.get(key)
        if have is None:
            new_rows.append((*case, import_id, stamp, stamp, to_db(now + FIRST_FOLLOW_UP)))
            result.opened[str(case[0])] = result.opened.get(str(case[0]), 0) + 1
        elif have[1:] != (case[0], case[13], case[8], case[10], case[12]):
            conn.execute(
                "UPDATE shortfall_cases SET kind = ?, terminal_count = ?, terminal_amount = ?, "
                "settled_count = ?, settled_amount = ?, currency = ?, difference = ?, "
                "import_id = ?, updated_at = ? WHERE id = ?",
                (
                    case[0],
                    case[8],
                    case[9],
                    case[10],
                    case[11],
                    case[12],
                    case[13],
                    import_id,
                    stamp,
                    have[0],
                ),
            )
            result.updated += 1
    if new_rows:
        conn.executemany(
            f"INSERT INTO shortfall_cases ({_CASE_COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )
    in_file = {(r.terminal, r.batch) for r in rows}
    for key, (cid, *_rest) in open_cases.items():
        if key in in_file and key not in wanted:
            conn.execute(
                "UPDATE shortfall_cases SET status = 'closed', closed_at = ?, closed_by = ?, "
                "resolution = ?, updated_at = ? WHERE id = ? AND status = 'open'",
                (stamp, "reconcile", f"settled in import {import_id}", stamp, cid),
            )
            result.closed += 1
    result.short_amount = {
        str(currency): int(short)
        for currency, short in conn.execute(
            "SELECT currency, SUM(difference) FROM shortfall_cases "
            "WHERE status = 'open' AND kind = 'mismatch' AND difference > 0 "
            "GROUP BY currency ORDER BY currency"
        )
    }


LATE_BATCH_MARGIN = timedelta(minutes=5)


@dataclass(slots=True)
class LateBatches:
    """What ``rejudge_late_batches`` did; ``cursor``: pass it to the next call."""

    cursor: str
    closed: int = 0
    updated: int = 0


def rejudge_late_batches(
    conn: Connection, *, now: datetime, cursor: str | None = None, tolerance: int = 0
) -> LateBatches:
    """Judge again the open ``missing_on_terminal`` cases whose batch a terminal reported
    after the file came (its agent was offline overnight): closed if the batch matches what
    was settled, else a ``mismatch``. Reads only batches received past ``cursor`` (the
    ``received_at`` index); without one, since the oldest such case was last judged."""
    open_cases = {
        (tid, bid): cid
        for cid, tid, bid in conn.execute(
            "SELECT id, terminal_id, batch_id FROM shortfall_cases "
            "WHERE status = 'open' AND kind = 'missing_on_terminal'"
        )
    }
    if cursor is None:
        row = conn.execute(
            "SELECT MIN(updated_at) FROM shortfall_cases "
            "WHERE status = 'open' AND kind = 'missing_on_terminal'"
        ).fetchone()
        cursor = str(row[0]) if row and row[0] else to_db(now)
    done = LateBatches(cursor)
    if not open_cases:
        done.cursor = max(cursor, to_db(now))
        return done
    stamp = to_db(now)
    # A batch stamped received just before the cursor may commit just after it was read.
    since = to_db(from_db(cursor) - LATE_BATCH_MARGIN)
    with conn:
        for gid, tid, bid, n, amount, cur, closed_at, received in conn.execute(
            "SELECT gateway_id, terminal_id, batch_id, count, amount, currency, closed_at, "
            "received_at FROM txn_batches WHERE received_at >= ? ORDER BY received_at",
            (since,),
        ).fetchall():
            done.cursor = max(done.cursor, str(received))
            cid = open_cases.pop((tid or gid, bid), None)
            if cid is None:
                continue
            settled = conn.execute(
                "SELECT count, amount, currency FROM settlement_rows "
                "WHERE terminal_id = ? AND batch_id = ?",
                (tid or gid, bid),
            ).fetchone()
            if settled is None:
                continue
            s_count, s_amount, s_cur = settled
            if cur == s_cur and n == s_count and abs(amount - s_amount) <= tolerance:
                conn.execute(
                    "UPDATE shortfall_cases SET status = 'closed', closed_at = ?, "
                    "closed_by = 'reconcile', resolution = ?, updated_at = ? "
                    "WHERE id = ? AND status = 'open'",
                    (stamp, "the terminal's batch arrived late and matches", stamp, cid),
                )
                done.closed += 1
                continue
            other = cur != s_cur  # as in _judge: the whole amount, in the terminal's currency
            conn.execute(
                "UPDATE shortfall_cases SET kind = 'mismatch', gateway_id = ?, "
                "terminal_count = ?, terminal_amount = ?, settled_amount = ?, currency = ?, "
                "difference = ?, closed_at_terminal = ?, updated_at = ? WHERE id = ?",
                (
                    gid,
                    n,
                    amount,
                    None if other else s_amount,
                    cur,
                    amount if other else amount - s_amount,
                    closed_at,
                    stamp,
                    cid,
                ),
            )
            done.updated += 1
    return done
