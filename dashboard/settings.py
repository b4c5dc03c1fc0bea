"""Console settings: typed, read once per script run, failing with the setting and the fix."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.store.db import is_postgres, redact
from dashboard import timefmt
from dashboard.i18n import DEFAULT_LANG, LANGS


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
    # Login sessions (dashboard/session.py): the signing secret (else one kept in the
    # store's meta table), the idle timeout and the absolute lifetime of a login.
    dashboard_secret: SecretStr | None = None
    dashboard_secret_file: Path | None = None
    dashboard_idle_timeout_s: float = Field(8 * 3600, gt=0)
    dashboard_session_max_s: float = Field(12 * 3600, gt=0)

    def session_secret(self) -> str | None:
        """POSFLEET_DASHBOARD_SECRET, else the content of POSFLEET_DASHBOARD_SECRET_FILE."""
        if self.dashboard_secret is not None:
            return self.dashboard_secret.get_secret_value() or None
        if self.dashboard_secret_file is not None:
            return self.dashboard_secret_file.read_text(encoding="utf-8").strip() or None
        return None

    # The console's language and time zone for a viewer who has not picked one (sidebar,
    # ``?lang=``): --lang / POSFLEET_LANG, --tz / POSFLEET_TZ (IANA; default the host's).
    lang: str = DEFAULT_LANG
    tz: str = Field(default_factory=timefmt.host_zone)

    @field_validator("lang")
    @classmethod
    def _known_lang(cls, value: str) -> str:
        if value not in LANGS:
            raise ValueError(f"unknown language {value!r}")
        return value

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        timefmt.zone(value)  # ValueError naming the zone
        return value


# What each setting's error says to do (pydantic's own text follows it).
_FIXES = {
    "db": "pass --db PATH or postgresql://USER@HOST:PORT/DB (or POSFLEET_DB) for the store",
    "lang": f"--lang / POSFLEET_LANG must be one of {', '.join(LANGS)}",
    "tz": "--tz / POSFLEET_TZ must be an IANA time zone name such as Asia/Shanghai or UTC",
}


def load_settings(argv: list[str]) -> DashboardSettings:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db")
    parser.add_argument("--lang")
    parser.add_argument("--tz")
    args, _ = parser.parse_known_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v}
    try:
        settings = DashboardSettings(**overrides)
    except ValidationError as exc:
        names = [".".join(map(str, e["loc"])) for e in exc.errors()]
        fixes = [_FIXES.get(n, f"POSFLEET_{n.upper()}") for n in names]
        # pydantic quotes the input: a --db URL's password must not reach the page.
        details = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise SettingsError(
            f"dashboard settings invalid ({', '.join(names)}): {'; '.join(fixes)}. "
            f"Details: {details}"
        ) from None
    if settings.dashboard_secret_file is not None and not settings.dashboard_secret_file.is_file():
        raise SettingsError(
            f"POSFLEET_DASHBOARD_SECRET_FILE: {settings.dashboard_secret_file} does not exist; "
            "point it at a file holding the session secret, or unset it to keep one in the store"
        )
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
