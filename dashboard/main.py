"""``posfleet-dashboard``: run the NOC console, or manage its users.

    posfleet-dashboard [run] --db PATH|postgresql://USER@HOST:PORT/DB [--port 8501]
                       [--address 127.0.0.1]

The console listens on 127.0.0.1 unless told otherwise: a production console names the
interface it serves (``--address 10.20.0.5`` or POSFLEET_DASHBOARD_ADDRESS), so a new
install is never open to every network the server is on.
    posfleet-dashboard add-user NAME --role viewer|operator|admin --db PATH [--password-file F]

Streamlit is imported by the child (``dashboard.serve``, Streamlit's command line after the
page imports are done), never by this launcher.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

APP = Path(__file__).with_name("app.py")
DEFAULT_ADDRESS = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posfleet-dashboard", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="serve the console (default)")
    add = sub.add_parser("add-user", help="create a user or reset its password and role")
    for p in (parser, run, add):
        p.add_argument(
            "--db",
            default=os.environ.get("POSFLEET_DB"),
            help="the store: an SQLite file path or a postgresql://USER@HOST:PORT/DB URL",
        )
    for p in (parser, run):
        p.add_argument(
            "--port", type=int, default=int(os.environ.get("POSFLEET_DASHBOARD_PORT", 8501))
        )
        p.add_argument(
            "--address",
            default=os.environ.get("POSFLEET_DASHBOARD_ADDRESS") or DEFAULT_ADDRESS,
            help="interface to listen on (POSFLEET_DASHBOARD_ADDRESS; default 127.0.0.1, "
            "0.0.0.0 for every interface)",
        )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    add.add_argument("--password-file", type=Path, help="read the password from this file")
    return parser


def streamlit_command(db: str | Path, port: int, address: str = DEFAULT_ADDRESS) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "dashboard.serve",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # A console, not a Streamlit workspace: no "Deploy" button nor developer menu.
        "--client.toolbarMode",
        "viewer",
        # Always given: Streamlit's own default is every interface.
        "--server.address",
        address or DEFAULT_ADDRESS,
    ]
    return [*cmd, "--", "--db", str(db)]


def _require_db(db: str | None) -> str:
    """The store named by --db: an existing SQLite file (made absolute: Streamlit runs
    elsewhere) or a PostgreSQL URL, as is."""
    from dashboard.settings import SettingsError, check_db

    if not db:
        raise SystemExit(
            "posfleet-dashboard: --db PATH or postgresql://USER@HOST:PORT/DB (or POSFLEET_DB) "
            "is required: the store"
        )
    try:
        check_db(db)
    except SettingsError as exc:
        raise SystemExit(f"posfleet-dashboard: {exc}") from None
    from collector.store.db import is_postgres

    return db if is_postgres(db) else str(Path(db).resolve())


def add_user(args: argparse.Namespace) -> int:
    from collector.actions import ActionError
    from dashboard.auth import add_user as store_user

    db = _require_db(args.db)
    if args.password_file:
        password = args.password_file.read_text(encoding="utf-8").rstrip("\n")
    else:
        password = sys.stdin.readline().rstrip("\n")
    from collector.store.db import StoreError, connect

    try:
        conn = connect(db, timeout=10)
    except StoreError as exc:
        print(f"posfleet-dashboard add-user: {exc}", file=sys.stderr)
        return 2
    try:
        store_user(conn, args.name, args.role, password, datetime.now(UTC))
    except ActionError as exc:
        print(f"posfleet-dashboard add-user: {exc}", file=sys.stderr)
        return 2
    finally:
        conn.close()
    print(f"user {args.name} ({args.role}) saved")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "add-user":
        return add_user(args)
    db = _require_db(args.db)
    cmd = streamlit_command(db, args.port, args.address)
    with subprocess.Popen(cmd) as proc:
        # A service manager stops us with SIGTERM: pass it on so Streamlit is never orphaned.
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            return proc.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the child too (same process group)
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
