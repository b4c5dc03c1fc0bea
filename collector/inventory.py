"""Inventory CSV import/export.

One CSV per table (``regions.csv``, ``sites.csv``, ``gateways.csv``, ``terminals.csv``); the
header names columns of that table (see ``collector/store/schema.py``); the id column is
required (and a terminal's ``gateway_id``), every other column optional. An id appears once per
file, and a terminal's gateway and a gateway's site must be stored or imported before it.
Import upserts inventory columns only: it never touches the liveness columns the collector
owns. Every refusal names the file, the line or column, and the fix (docs/collector.md,
"Inventory files").
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import Double

from collector.store import db, schema
from collector.store.meta import TERMINAL_MOVES

# Columns an inventory file may set, per table (liveness/telemetry columns excluded).
INVENTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": (
        "region_id",
        "name",
        "oncall_name",
        "oncall_contact",
        "supervisor_contact",
        "contact_verified_at",
    ),
    "sites": (
        "site_id",
        "region_id",
        "name",
        "address",
        "lat",
        "lon",
        "tz",
        "merchant_name",
        "merchant_contact",
    ),
    "gateways": (
        "gateway_id",
        "site_id",
        "region_id",
        "model",
        "serial",
        "install_date",
        "warranty_end",
        "last_service_at",
    ),
    "terminals": (
        "terminal_id",
        "gateway_id",
        "site_id",
        "region_id",
        "model",
        "serial",
        "install_date",
        "warranty_end",
        "last_service_at",
    ),
}
ORDER = ("regions", "sites", "gateways", "terminals")
# A terminal this import moved, until the import stamps it with its move number (in the same
# transaction: no other reader ever sees it).
MOVE_PENDING = -1
# Columns a file must have besides the id: a terminal's gateway has no default.
REQUIRED = {"terminals": ("gateway_id",)}
# The rows a value must name, per table: (column, parent table). A terminal under a gateway
# nobody listed is never judged right (its gateway never reports), so the import refuses it;
# a gateway's or a terminal's site nobody listed has no zone, address or merchant to show.
PARENTS = {
    "terminals": (("gateway_id", "gateways"), ("site_id", "sites")),
    "gateways": (("site_id", "sites"),),
}

# What an import refuses, as message ids (English, with {fields}): the console shows them in
# the viewer's language (dashboard/inventory_text.py lists them for its catalogs). Each names
# the file, the line or column, what is wrong and what to do.
DOC = "(docs/collector.md, Inventory files)"
NOT_UTF8 = (
    "{file} line {line} is not UTF-8 (a CSV saved by Excel in China is usually GBK): save it "
    'from Excel as "CSV UTF-8", or convert it with iconv -f GBK -t UTF-8 ' + DOC
)
NOT_CSV = "{file} line {line} is not CSV ({reason}): fix the line; quote a value that holds a quote"
UNKNOWN_COLUMNS = (
    "{file} line 1: unknown column(s) {columns}: rename them to inventory columns or remove "
    "them; allowed: {allowed} " + DOC
)
NO_ID_COLUMN = "{file} has no {column} column: add a {column} column with each row's id " + DOC
NO_GATEWAY_COLUMN = (
    "{file} has no gateway_id column: add a gateway_id column naming each terminal's gateway " + DOC
)
EXTRA_FIELDS = (
    "{file} line {line} has more fields than the header: quote a value that holds a comma "
    '("Road 1, Pudong"), or name the column in the header'
)
EMPTY_ID = "{file} line {line}: {column} is empty: give the row its id, or delete the row"
EMPTY_GATEWAY = (
    "{file} line {line} ({key} {id}): gateway_id is empty: name the gateway the terminal is behind"
)
EMPTY_VALUE = (
    "{file} line {line} ({key} {id}): {column} is empty: fill it in, or leave the {column} "
    "column out of the file to keep what is stored"
)
NOT_A_NUMBER = (
    "{file} line {line} ({key} {id}): {column} {value} is not a number: write a decimal "
    "number (e.g. 31.2304), or leave it empty"
)
STORE_REFUSED = "{file} line {line} ({key} {id}): the store refused the row ({reason}): fix it"
DUPLICATE_ID = (
    "{file} line {line}: {key} {id} again, first seen at line {first}: keep one row per {key} "
    "(merge the two rows, or correct the id) " + DOC
)
UNKNOWN_GATEWAY = (
    "{file} line {line} ({key} {id}): gateway_id {parent} is neither stored nor in this "
    "import's gateways.csv: add the gateway to gateways.csv and import it with this file (or "
    "before it), or correct the gateway_id " + DOC
)
UNKNOWN_SITE = (
    "{file} line {line} ({key} {id}): site_id {parent} is neither stored nor in this "
    "import's sites.csv: add the site to sites.csv and import it with this file (or before "
    "it), or correct the site_id " + DOC
)
UNKNOWN_PARENT = {"gateway_id": UNKNOWN_GATEWAY, "site_id": UNKNOWN_SITE}
MESSAGES = (
    NOT_UTF8,
    NOT_CSV,
    UNKNOWN_COLUMNS,
    NO_ID_COLUMN,
    NO_GATEWAY_COLUMN,
    EXTRA_FIELDS,
    EMPTY_ID,
    EMPTY_GATEWAY,
    EMPTY_VALUE,
    NOT_A_NUMBER,
    STORE_REFUSED,
    DUPLICATE_ID,
    UNKNOWN_GATEWAY,
    UNKNOWN_SITE,
)


class InventoryError(ValueError):
    """A bad inventory file: ``msgid`` (one of ``MESSAGES``) filled in with ``fields``."""

    def __init__(self, msgid: str, **fields: object) -> None:
        self.msgid = msgid
        self.fields = fields
        super().__init__(msgid.format(**fields))


def _key(table: str) -> str:
    return INVENTORY_COLUMNS[table][0]


def _not_null(table: str) -> frozenset[str]:
    """Columns the store refuses NULL in: an empty value there is refused before the store."""
    return frozenset(c.name for c in schema.metadata.tables[table].c if not c.nullable)


def _numbers(table: str) -> frozenset[str]:
    return frozenset(c.name for c in schema.metadata.tables[table].c if isinstance(c.type, Double))


class CsvRows:
    """One inventory CSV as read from disk or uploaded: decoded (UTF-8, with or without the
    BOM Excel writes) and its header checked when iterated; ``numbered()`` gives each row's
    line, for messages."""

    def __init__(self, table: str, file: str, data: bytes) -> None:
        self.table, self.file, self.data = table, file, data

    def __iter__(self) -> Iterator[dict[str, str]]:
        return (row for _, row in self.numbered())

    def numbered(self) -> Iterator[tuple[int, dict[str, str]]]:
        try:
            text = self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = self.data.count(b"\n", 0, exc.start) + 1
            raise InventoryError(NOT_UTF8, file=self.file, line=line) from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            if reader.fieldnames is None:
                return  # an empty file: nothing to import
            self._check_header(list(reader.fieldnames))
            for row in reader:
                if None in row:
                    raise InventoryError(EXTRA_FIELDS, file=self.file, line=reader.line_num)
                yield reader.line_num, row
        except csv.Error as exc:
            raise InventoryError(
                NOT_CSV, file=self.file, line=reader.line_num, reason=str(exc)
            ) from None

    def _check_header(self, header: list[str]) -> None:
        allowed = INVENTORY_COLUMNS[self.table]
        unknown = [c for c in header if c not in allowed]
        if unknown:
            raise InventoryError(
                UNKNOWN_COLUMNS, file=self.file, columns=", ".join(map(repr, unknown)),
                allowed=", ".join(allowed),
            )  # fmt: skip
        if _key(self.table) not in header:
            raise InventoryError(NO_ID_COLUMN, file=self.file, column=_key(self.table))
        if any(c not in header for c in REQUIRED.get(self.table, ())):
            raise InventoryError(NO_GATEWAY_COLUMN, file=self.file)


def _numbered(rows: Iterable[dict[str, str]]) -> Iterator[tuple[int, dict[str, str]]]:
    if isinstance(rows, CsvRows):
        return rows.numbered()
    return enumerate(rows, start=2)  # rows of a file whose header is line 1


def upsert_rows(
    conn: db.Connection, table: str, rows: Iterable[dict[str, str]], file: str | None = None
) -> int:
    """Upsert one table's rows; ``file`` (else the rows' own, else ``<table>.csv``) is what
    a refusal names. Refused rows raise ``InventoryError``: the caller's transaction, rolled
    back, stores nothing of the file."""
    allowed = INVENTORY_COLUMNS[table]
    key = _key(table)
    name = file or (rows.file if isinstance(rows, CsvRows) else f"{table}.csv")
    not_null, numbers = _not_null(table), _numbers(table)
    count = 0
    moved = False
    seen: dict[str, int] = {}  # id -> its first line
    # per parent column: parent id -> the first line naming it, and its row's id
    parents: dict[str, dict[str, tuple[int, str]]] = {c: {} for c, _ in PARENTS.get(table, ())}
    for line, row in _numbered(rows):
        cols = [c for c in allowed if c in row and row[c] is not None]
        if not row.get(key):
            raise InventoryError(EMPTY_ID, file=name, line=line, column=key)
        first = seen.setdefault(row[key], line)
        if first != line:  # else the last row would win and the first's values be lost
            raise InventoryError(
                DUPLICATE_ID, file=name, line=line, first=first, key=key, id=row[key]
            )
        where = {"file": name, "line": line, "key": key, "id": row[key]}
        for column, named in parents.items():
            if row.get(column):
                named.setdefault(row[column], (line, row[key]))
        if any(not row.get(c) for c in REQUIRED.get(table, ())):
            raise InventoryError(EMPTY_GATEWAY, **where)
        for c in cols:
            if c in not_null and row[c] == "":
                raise InventoryError(EMPTY_VALUE, column=c, **where)
            if c in numbers and row[c] != "" and not _is_number(row[c]):
                raise InventoryError(NOT_A_NUMBER, column=c, value=repr(row[c]), **where)
        # A number column gets the number its check read: SQLite would keep text such as
        # full-width digits as TEXT in a REAL column, which PostgreSQL refuses.
        values = [None if row[c] == "" else float(row[c]) if c in numbers else row[c] for c in cols]
        params: list[object] = list(values)
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c != key)
        extra = ", registered=1" if table in ("gateways", "terminals") else ""
        if table == "terminals" and "gateway_id" in cols:
            # A terminal put behind another gateway is marked (MOVE_PENDING), and the import
            # stamps its marked rows with one move number at the end, so running collectors
            # refuse the old gateway from their next batch (collector/enrolment.py). A row
            # without a gateway_id, or with the gateway it has, moves nothing.
            extra += (
                ", moved_seq = CASE WHEN terminals.gateway_id <> excluded.gateway_id "
                f"THEN {MOVE_PENDING} ELSE terminals.moved_seq END"
            )
            moved = True
        try:
            conn.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT({key}) DO UPDATE SET {updates or key + '=excluded.' + key}{extra}",
                params,
            )
        except (*db.IntegrityError, *db.DataError) as exc:  # checked above: a store's own rule
            raise InventoryError(STORE_REFUSED, reason=str(exc).splitlines()[0], **where) from None
        if extra:
            _enrolled(conn, table, row[key])
        count += 1
    for column, parent_table in PARENTS.get(table, ()):
        _check_parents(conn, table, column, parent_table, parents[column], name)
    if moved:
        _stamp_moves(conn)
    return count


def _check_parents(
    conn: db.Connection,
    table: str,
    column: str,
    parent_table: str,
    parents: dict[str, tuple[int, str]],
    file: str,
) -> None:
    """Refuse the first row (by line) whose ``column`` names no stored parent. Asked once the
    whole file is read, so a row's own mistakes are named first; ``import_dir`` imports sites,
    gateways, then terminals in one transaction, so a parent in this import is already there.
    The columns are checked in ``PARENTS``'s order (a terminal's gateway before its site)."""
    ids = list(parents)
    known: set[str] = set()
    for i in range(0, len(ids), 500):  # SQLite allows 999 parameters per statement
        chunk = ids[i : i + 500]
        known.update(
            r[0]
            for r in conn.execute(
                f"SELECT {column} FROM {parent_table} "
                f"WHERE {column} IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
        )
    unknown = sorted((line, row_id, p) for p, (line, row_id) in parents.items() if p not in known)
    if unknown:
        line, row_id, p = unknown[0]
        raise InventoryError(
            UNKNOWN_PARENT[column], file=file, line=line, key=_key(table), id=row_id, parent=p
        )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _stamp_moves(conn: db.Connection) -> None:
    """Give the terminals this import moved (``MOVE_PENDING``) the next move number; an import
    that moved none leaves the counter alone (running collectors then re-read nothing, and on
    PostgreSQL it takes no lock on the counter)."""
    if conn.execute(
        "SELECT 1 FROM terminals WHERE moved_seq = ? LIMIT 1", (MOVE_PENDING,)
    ).fetchone():
        conn.execute(
            "UPDATE terminals SET moved_seq = ? WHERE moved_seq = ?",
            (_next_move(conn), MOVE_PENDING),
        )


def _next_move(conn: db.Connection) -> int:
    """Bump the move counter, in the caller's transaction. On PostgreSQL the row stays locked
    until the import commits, so imports that move terminals commit in their numbers' order:
    a collector that has read number N has every row stamped up to N."""
    row = conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
        "SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT) RETURNING value",
        (TERMINAL_MOVES,),
    ).fetchone()
    return int(row[0])


def _enrolled(conn: db.Connection, table: str, subject_id: str) -> None:
    """An id imported into the inventory leaves the enrolment list (collector/enrolment.py);
    the collector tracks it from its next message."""
    subject_type = "gateway" if table == "gateways" else "terminal"
    # OperationalError: a store the collector has not opened since upgrading (no table yet).
    with contextlib.suppress(*db.OperationalError):
        conn.execute(
            "DELETE FROM enrolment WHERE subject_type = ? AND subject_id = ?",
            (subject_type, subject_id),
        )


ENROLMENT_COLUMNS = (
    "subject_type",
    "subject_id",
    "gateway_id",
    "first_seen_at",
    "last_seen_at",
    "messages",
    "last_kind",
)


def list_enrolment(conn: db.Connection) -> list[tuple[object, ...]]:
    """The enrolment list, most recently seen first."""
    return conn.execute(
        f"SELECT {', '.join(ENROLMENT_COLUMNS)} FROM enrolment "
        "ORDER BY last_seen_at DESC, subject_type, subject_id"
    ).fetchall()


def export_enrolment(conn: db.Connection, directory: Path) -> dict[str, int]:
    """``gateways.csv`` / ``terminals.csv`` in the import format, for the ids listed for
    enrolment: an operator fills in site_id and region_id (a terminal's come from its
    gateway) and imports the directory with ``import-inventory``."""
    directory.mkdir(parents=True, exist_ok=True)
    queries = {
        "gateways": (
            ("gateway_id", "site_id", "region_id"),
            "SELECT subject_id, '', '' FROM enrolment WHERE subject_type = 'gateway' "
            "ORDER BY subject_id",
        ),
        "terminals": (
            ("terminal_id", "gateway_id", "site_id", "region_id"),
            "SELECT e.subject_id, e.gateway_id, coalesce(g.site_id, ''), "
            "coalesce(g.region_id, '') FROM enrolment e "
            "LEFT JOIN gateways g ON g.gateway_id = e.gateway_id "
            "WHERE e.subject_type = 'terminal' ORDER BY e.subject_id",
        ),
    }
    counts: dict[str, int] = {}
    for table, (cols, sql) in queries.items():
        rows = conn.execute(sql).fetchall()
        with (directory / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            w.writerows(rows)
        counts[table] = len(rows)
    return counts


def import_dir(conn: db.Connection, directory: Path) -> dict[str, int]:
    """Import every ``<table>.csv`` found in ``directory`` in one transaction."""
    counts: dict[str, int] = {}
    with conn:
        for table in ORDER:
            path = directory / f"{table}.csv"
            if not path.exists():
                continue
            counts[table] = upsert_rows(conn, table, CsvRows(table, str(path), path.read_bytes()))
    return counts


def export_dir(conn: db.Connection, directory: Path) -> dict[str, int]:
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in ORDER:
        cols = INVENTORY_COLUMNS[table]
        cur = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {cols[0]}")
        with (directory / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            n = 0
            for row in cur:
                w.writerow(["" if v is None else v for v in row])
                n += 1
        counts[table] = n
    return counts


class InventoryTags:
    """site/region/model per gateway, in memory: the Influx sink asks on the hot path."""

    def __init__(self, conn: db.Connection) -> None:
        self._tags: dict[str, dict[str, str]] = {}
        self.refresh(conn, None)

    def refresh(self, conn: db.Connection, _now: object) -> None:
        self._tags = {
            gid: {k: v for k, v in (("site", site), ("region", region), ("model", model)) if v}
            for gid, site, region, model in conn.execute(
                "SELECT gateway_id, site_id, region_id, model FROM gateways WHERE registered = 1"
            )
        }

    def get(self, gateway_id: str) -> dict[str, str]:
        return self._tags.get(gateway_id, {})
