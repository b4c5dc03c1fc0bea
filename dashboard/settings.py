"""Console settings: typed, read once per script run, failing with the setting and the fix."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.store.db import is_postgres, redact


class SettingsError(Exception):
    """Bad or missing configuration; the message names the setting and the fix."""


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSFLEET_", extra="ignore")

    db: str  # --db or POSFLEET_DB: an SQLite file path or a postgresql:// URL
    dashboard_refresh_s: float = Field(30.0, gt=0)
    dashboard_page_size: int = Field(50, ge=5, le=1000)
    # Behind a reverse proxy every login comes from the proxy's address: trust the last
    # X-Forwarded-For entry instead (only when the proxy sets it; see docs/dashboard.md).
    dashboard_trust_forwarded_for: bool = False
    # A frozen clock for tests, screenshots and benchmarks; unset in production.
    dashboard_now: AwareDatetime | None = None


def load_settings(argv: list[str]) -> DashboardSettings:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db")
    args, _ = parser.parse_known_args(argv)
    overrides = {"db": args.db} if args.db else {}
    try:
        settings = DashboardSettings(**overrides)
    except ValidationError as exc:
        names = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        # pydantic quotes the input: a --db URL's password must not reach the page.
        details = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise SettingsError(
            f"dashboard settings invalid ({names}): pass --db PATH or postgresql://USER@HOST/DB "
            f"(or POSFLEET_DB) for the store; POSFLEET_DASHBOARD_* for the rest. {details}"
        ) from None
    check_db(settings.db)
    return settings


def check_db(db: str) -> None:
    """``db`` names a store the console can open: an existing SQLite file, or a
    PostgreSQL URL with a database name (whether the server answers is the page's to say)."""
    if not db.strip():
        raise SettingsError(
            "--db / POSFLEET_DB is empty: the store's SQLite file path or postgresql:// URL"
        )
    if is_postgres(db):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(db)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise SettingsError(
                f"--db / POSFLEET_DB: {redact(db)} is not a PostgreSQL URL ({exc}); write it "
                "as postgresql://USER@HOST:PORT/DB"
            ) from None
        if (not parts.hostname and "host=" not in parts.query) or parts.path in ("", "/"):
            raise SettingsError(
                f"--db / POSFLEET_DB: {redact(db)} names no server or no database; write it "
                "as postgresql://USER@HOST:PORT/DB (the collector's --db)"
            )
        return
    if not Path(db).is_file():
        raise SettingsError(
            f"--db / POSFLEET_DB: store {db} does not exist; start the collector "
            "(posfleet-collector run --db PATH) first or point --db at its SQLite file "
            "(or at its postgresql:// URL)"
        )


def now_from(settings: DashboardSettings) -> datetime:
    from datetime import UTC

    return settings.dashboard_now or datetime.now(UTC)
