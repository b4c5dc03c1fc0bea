"""``posfleet-collector``: run the collector, or import/export the inventory."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.reconcile import Cutoff

log = logging.getLogger("collector")


# A file path or a URL: a Path would fold the URL's "//".
_DB_HELP = "the store: an SQLite file or postgresql://USER@HOST:PORT/DB (POSFLEET_DB)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="posfleet-collector", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest, decide liveness, alert, serve /metrics")
    run.add_argument("--db", help=_DB_HELP)
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
    run.add_argument(
        "--share-group",
        help="run as one of several collectors on the MQTT $share group G, sharing liveness "
        "through a PostgreSQL --db (POSFLEET_SHARE_GROUP)",
    )
    run.add_argument("--log-level", default="INFO")
    for name in ("import-inventory", "export-inventory"):
        sp = sub.add_parser(name, help=f"{name.split('-')[0]} inventory CSVs")
        sp.add_argument("--db", help=_DB_HELP)
        sp.add_argument("directory", type=Path)
    en = sub.add_parser("enrolment", help="ids that report but are not in the inventory")
    en_sub = en.add_subparsers(dest="enrolment_command", required=True)
    ls = en_sub.add_parser("list", help="print the enrolment list, most recently seen first")
    ls.add_argument("--db", help=_DB_HELP)
    ex = en_sub.add_parser(
        "export", help="write gateways.csv/terminals.csv to complete and import-inventory"
    )
    ex.add_argument("--db", help=_DB_HELP)
    ex.add_argument("directory", type=Path)
    mg = sub.add_parser(
        "migrate",
        help="create the store, or bring it to the newest schema revision; print the revisions",
    )
    mg.add_argument("--db", help="SQLite file or postgresql:// URL (POSFLEET_DB)")
    st = sub.add_parser("settlement", help="reconcile the acquirer's settlement files")
    st_sub = st.add_subparsers(dest="settlement_command", required=True)
    imp = st_sub.add_parser(
        "import", help="reconcile settlement CSV file(s) against the terminals' batches"
    )
    imp.add_argument("--db", help="SQLite file or postgresql:// URL (POSFLEET_DB)")
    imp.add_argument(
        "--tolerance", type=int, default=None, help="minor units a batch may differ by"
    )
    imp.add_argument(
        "--cutoff",
        type=_cutoff,
        help="the acquirer's end of business day, HH:MM, e.g. 23:00 (POSFLEET_SETTLEMENT_CUTOFF)",
    )
    imp.add_argument(
        "--cutoff-tz",
        type=_zone,
        help="the zone of --cutoff, e.g. Asia/Shanghai; default each store's own "
        "(POSFLEET_SETTLEMENT_CUTOFF_TZ)",
    )
    imp.add_argument(
        "--acquirer",
        help="take the cut-off of this acquirer of POSFLEET_SETTLEMENT_ACQUIRERS "
        "(--cutoff and --cutoff-tz still win)",
    )
    imp.add_argument("--actor", default="cli", help="who imports (recorded in the audit log)")
    imp.add_argument("files", type=Path, nargs="+")
    return p


def _cutoff(text: str) -> str:
    from collector.reconcile import parse_cutoff

    try:
        parse_cutoff(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r}; use an IANA name such as Asia/Shanghai"
        ) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from collector.alerts.config import AlertConfigError
    from collector.config import ConfigError, load_config
    from collector.inventory import InventoryError
    from collector.sinks.settings import InfluxConfigError
    from collector.store.db import StoreError

    try:
        if args.command == "migrate":
            return _migrate(args.db)
        config = load_config(
            db=args.db,
            broker_host=getattr(args, "broker_host", None),
            broker_port=getattr(args, "broker_port", None),
            metrics_host=getattr(args, "metrics_host", None),
            metrics_port=getattr(args, "metrics_port", None),
            inventory=getattr(args, "inventory", None),
            client_id=getattr(args, "client_id", None),
            share_group=getattr(args, "share_group", None),
        )
        settings = config.collector
        if args.command == "run":
            from collector.service import Collector

            return Collector(config).run_until_signalled()
        if args.command == "settlement":
            from collector.reconcile import Cutoff, parse_cutoff

            tolerance = settings.settlement_tolerance if args.tolerance is None else args.tolerance
            base = settings.settlement_cutoff_rule
            if args.acquirer is not None:
                rules = settings.settlement_acquirer_rules
                if args.acquirer not in rules:
                    known = ", ".join(sorted(rules)) or "none"
                    print(
                        f"posfleet-collector: --acquirer {args.acquirer!r} is not in "
                        f"POSFLEET_SETTLEMENT_ACQUIRERS (acquirers there: {known}): add it as "
                        "NAME=HH:MM[@ZONE], or give --cutoff and --cutoff-tz",
                        file=sys.stderr,
                    )
                    return 2
                base = rules[args.acquirer]
            cutoff = Cutoff(
                parse_cutoff(args.cutoff) if args.cutoff else base.at,
                args.cutoff_tz or base.tz,
            )
            return _settlement(settings.db, args.files, args.actor, tolerance, cutoff)
        if args.command == "enrolment":
            return _enrolment(args.enrolment_command, settings.db, getattr(args, "directory", None))
        return _inventory(args.command, settings.db, args.directory)
    # InventoryError: run --inventory DIR (POSFLEET_INVENTORY) refused a file; nothing imported.
    except (ConfigError, StoreError, InfluxConfigError, AlertConfigError, InventoryError) as exc:
        print(f"posfleet-collector: {exc}", file=sys.stderr)
        return 2


def _migrate(db: str | None) -> int:
    from collector.config import load_config
    from collector.store.db import redact
    from collector.store.migrate import ensure_schema_at

    # --db as text: a postgresql:// URL is not a path.
    target = db if db else str(load_config().collector.db)
    before, after = ensure_schema_at(target)
    if before == after:
        print(f"{redact(target)}: at schema revision {after}, nothing to do")
    else:
        print(f"{redact(target)}: schema revision {before or 'none'} -> {after}")
    return 0


def _inventory(command: str, db: Path | str, directory: Path) -> int:
    from collector.inventory import InventoryError, export_dir, import_dir
    from collector.store.store import open_store

    store = open_store(db)
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


def _enrolment(command: str, db: Path | str, directory: Path | None) -> int:
    from collector.inventory import export_enrolment, list_enrolment
    from collector.store.store import open_store

    store = open_store(db)
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


def _settlement(
    db: Path | str, files: Sequence[Path], actor: str, tolerance: int, cutoff: Cutoff
) -> int:
    """Reconcile each file; print what it opened. Exit 1 when a file could not be read."""
    from datetime import UTC, datetime

    from collector.actions import Actor, Role
    from collector.reconcile import (
        ReconcileError,
        format_amounts,
        import_settlement,
        read_settlement_file,
        rejudge_late_batches,
    )
    from collector.store import db as store_db

    conn = store_db.connect(db)
    failed = 0
    try:
        # Batches terminals reported since the last import, for cases that lacked them.
        late = rejudge_late_batches(conn, now=datetime.now(UTC), tolerance=tolerance)
        if late.closed or late.updated:
            print(
                f"batches reported late: {late.closed} missing_on_terminal cases closed, "
                f"{late.updated} now mismatches"
            )
        for path in files:
            try:
                r = import_settlement(
                    conn,
                    read_settlement_file(path),
                    name=path.name,
                    actor=Actor(actor, Role.OPERATOR),
                    now=datetime.now(UTC),
                    tolerance=tolerance,
                    cutoff=cutoff,
                )
            except (OSError, ReconcileError) as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                failed += 1
                continue
            if r.duplicate:
                print(f"{path}: imported before (import {r.import_id}); nothing done")
                continue
            print(
                f"{path}: import {r.import_id}: {r.rows} rows ({r.bad_rows} bad), "
                f"{r.matched} matching, cases opened {r.opened or 0}, closed {r.closed}; "
                f"open short amount {format_amounts(r.short_amount)}"
            )
            for e in r.errors:
                print(f"  {e}", file=sys.stderr)
    finally:
        conn.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
