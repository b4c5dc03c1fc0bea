"""``posfleet-dashboard``: run the NOC console, or manage its users.

    posfleet-dashboard [run] --db PATH|postgresql://USER@HOST:PORT/DB [--port 8501]
                       [--address 127.0.0.1] [--lang zh-CN|en] [--tz Asia/Shanghai]

The console listens on 127.0.0.1 unless told otherwise: a production console names the
interface it serves (``--address 10.20.0.5`` or POSFLEET_DASHBOARD_ADDRESS), so a new
install is never open to every network the server is on.
    posfleet-dashboard add-user NAME --role viewer|operator|admin --db PATH [--password-file F]
    posfleet-dashboard remove-user NAME --db PATH

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
    remove = sub.add_parser("remove-user", help="delete a user (their sessions end)")
    remove.add_argument("name")
    for p in (parser, run, add, remove):
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
        p.add_argument(
            "--lang",
            default=os.environ.get("POSFLEET_LANG"),
            help="the console's language for a viewer who has not picked one: zh-CN or en "
            "(POSFLEET_LANG; default en)",
        )
        p.add_argument(
            "--tz",
            default=os.environ.get("POSFLEET_TZ"),
            help="the zone times are shown in, an IANA name such as Asia/Shanghai "
            "(POSFLEET_TZ; default the host's zone); stored times stay UTC",
        )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    add.add_argument("--password-file", type=Path, help="read the password from this file")
    return parser


def streamlit_command(
    db: str | Path,
    port: int,
    address: str = DEFAULT_ADDRESS,
    lang: str | None = None,
    tz: str | None = None,
) -> list[str]:
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
        # A console, not a Streamlit workspace: no "Deploy" button, developer menu nor the
        # viewer's menu (theme, print, screencast: English only, and not a NOC's work).
        "--client.toolbarMode",
        "minimal",
        # No source watcher: after every script run (each new tab, page switch and fragment
        # refresh) Streamlit's would walk every imported module's path (pandas, pyarrow,
        # altair: ~1,600 modules) on the server's event loop to find files to watch for a
        # developer's edits. 0.1 s of CPU per new tab at 2 cores; a console reloads its code
        # by a restart.
        "--server.fileWatcherType",
        "none",
        # Always given: Streamlit's own default is every interface.
        "--server.address",
        address or DEFAULT_ADDRESS,
    ]
    app_args = ["--db", str(db)]
    app_args += ["--lang", lang] if lang else []
    app_args += ["--tz", tz] if tz else []
    return [*cmd, "--", *app_args]


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


def remove_user(args: argparse.Namespace) -> int:
    from collector.actions import ActionError
    from collector.store.db import StoreError, connect
    from dashboard.auth import remove_user as delete_user

    try:
        conn = connect(_require_db(args.db), timeout=10)
    except StoreError as exc:
        print(f"posfleet-dashboard remove-user: {exc}", file=sys.stderr)
        return 2
    try:
        delete_user(conn, args.name, datetime.now(UTC))
    except ActionError as exc:
        print(f"posfleet-dashboard remove-user: {exc}", file=sys.stderr)
        return 2
    finally:
        conn.close()
    print(f"user {args.name} removed")
    return 0


def _given(lang: str | None, tz: str | None) -> list[str]:
    return (["--lang", lang] if lang else []) + (["--tz", tz] if tz else [])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "add-user":
        return add_user(args)
    if args.command == "remove-user":
        return remove_user(args)
    db = _require_db(args.db)
    from dashboard.settings import SettingsError, load_settings

    try:  # a bad --lang / --tz is said here, not on the first viewer's page
        load_settings(["--db", str(db), *_given(args.lang, args.tz)])
    except SettingsError as exc:
        raise SystemExit(f"posfleet-dashboard: {exc}") from exc
    cmd = streamlit_command(db, args.port, args.address, args.lang, args.tz)
    with subprocess.Popen(cmd) as proc:
        # A service manager stops us with SIGTERM: pass it on so Streamlit is never orphaned.
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            return proc.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the child too (same process group)
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
