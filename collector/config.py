"""Collector configuration: typed, read once in ``main()``, failing loudly.

Every setting is a ``POSFLEET_*`` environment variable and most have a command-line flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.enrolment import AutoEnrol
from telemetry.models import RECONNECT_MAX_DELAY_S

if TYPE_CHECKING:
    from collector.alerts.config import AlertSettings
    from collector.reconcile import Cutoff
    from collector.sinks.settings import InfluxSettings


DEFAULT_CLIENT_ID = "posfleet-collector"


class ConfigError(ValueError):
    """A bad setting; the message names the variable and how to fix it."""


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSFLEET_", extra="ignore")

    # The store: an SQLite file path, or a postgresql://USER@HOST:PORT/DB URL (kept as text).
    db: Path | str = Path("posfleet.sqlite")
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    broker_username: str | None = None
    broker_password_file: Path | None = None
    broker_tls_ca: Path | None = None
    broker_tls_cert: Path | None = None
    broker_tls_key: Path | None = None
    client_id: str = DEFAULT_CLIENT_ID
    # Several collectors on one $share group and one PostgreSQL store (collector/store/shared.py).
    share_group: str | None = None
    share_session: Literal["clean", "persistent"] = "clean"  # MQTT session in a share group
    # /metrics and /healthz: loopback unless a production deploy names its interface
    # (POSFLEET_METRICS_HOST / --metrics-host), e.g. the one Prometheus scrapes from.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535)
    inventory: Path | None = None
    default_interval_s: float = Field(60.0, gt=0)
    grace_ratio: float = Field(0.25, ge=0)
    grace_min_s: float = Field(1.0, ge=0)
    grace_max_s: float = Field(30.0, gt=0)
    batch_max: int = Field(5000, ge=1)
    max_payload_bytes: int = Field(16 * 1024, ge=256)
    stall_after_s: float = Field(120.0, gt=0)
    max_defer_s: float = Field(30.0, ge=0)  # deadlines wait this long at most for a backlog
    # A broker restart's wills (and silence) are evidence only after the agents' reconnect
    # backoff: held agent_reconnect_max_s + restart_margin_s after the collector is back.
    agent_reconnect_max_s: float = Field(RECONNECT_MAX_DELAY_S, gt=0)
    restart_margin_s: float = Field(10.0, ge=0)
    alerts: bool = True
    telemetry_raw_days: float = Field(3.0, gt=0)  # raw history kept in SQLite
    telemetry_rollup_days: float = Field(90.0, gt=0)  # hourly rollups kept in SQLite
    # Ids not in the inventory (collector/enrolment.py): listed, never paged, unless enrolled.
    auto_enrol: AutoEnrol = AutoEnrol.OFF
    auto_enrol_region: str = Field("unassigned", min_length=1)
    enrolment_max: int = Field(1000, ge=1)
    # The zone of schedules whose scope has none of its own (region- and model-scoped
    # maintenance windows); stores use their own ``sites.tz``. Written to the store's meta
    # so that the console reads the same one.
    default_tz: str = "UTC"
    # Settlement inbox (collector/settlement_inbox.py): the acquirer's files dropped here are
    # reconciled and moved to done/ or rejected/. Unset: no inbox (import with the CLI).
    settlement_dir: Path | None = None
    settlement_poll_s: float = Field(30.0, gt=0)
    settlement_tolerance: int = Field(0, ge=0)  # minor units a batch may differ by
    # The acquirer's end of business day (HH:MM; collector/reconcile.py Cutoff), on the clock
    # of settlement_cutoff_tz (the acquirer's zone), unset: each store's own.
    settlement_cutoff: str = "00:00"
    settlement_cutoff_tz: str | None = None
    # Acquirers whose day ends at another time: NAME=HH:MM[@ZONE],... Each NAME gets a
    # subdirectory of settlement_dir whose files are reconciled with its own cut-off.
    settlement_acquirers: str = ""

    @field_validator("db", mode="before")
    @classmethod
    def _db(cls, value: object) -> object:
        from urllib.parse import urlsplit

        from collector.store.db import is_postgres

        if isinstance(value, str | Path) and is_postgres(value):
            url = urlsplit(str(value))
            if not url.hostname or not url.path.strip("/"):
                raise ValueError(
                    "a PostgreSQL store is postgresql://USER@HOST:PORT/DB "
                    "(host and database name required)"
                )
            return str(value)
        if isinstance(value, str):
            if "://" in value:
                raise ValueError(
                    "not a file path nor a postgresql:// URL; use a path such as "
                    "posfleet.sqlite or postgresql://USER@HOST:PORT/DB"
                )
            return Path(value)
        return value

    @field_validator("share_group")
    @classmethod
    def _share_group(cls, value: str | None, info: ValidationInfo) -> str | None:
        from collector.store.db import is_postgres

        if value is None:
            return None
        if not value or any(c in value for c in "/+#"):
            raise ValueError("a share group is a name without '/', '+' or '#', e.g. posfleet")
        target = info.data.get("db")
        if target is not None and not is_postgres(target):
            raise ValueError(
                "several collectors share their liveness through a PostgreSQL store: set "
                "POSFLEET_DB / --db to postgresql://USER@HOST:PORT/DB, or run one collector "
                "without a share group on SQLite"
            )
        return value

    @property
    def member_client_id(self) -> str:
        """The MQTT client id: in a share group each collector needs its own, so the
        default one gets the host and process id (an explicit one is used as given)."""
        if self.share_group is None or self.client_id != DEFAULT_CLIENT_ID:
            return self.client_id
        import os
        import socket

        return f"{self.client_id}-{socket.gethostname()}-{os.getpid()}"

    @field_validator("auto_enrol", mode="before")
    @classmethod
    def _auto_enrol(cls, value: object) -> object:
        # "true"/"false" read as the whole policy on or off: off | terminals | all.
        if isinstance(value, bool):
            return AutoEnrol.ALL if value else AutoEnrol.OFF
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
            return AutoEnrol.ALL
        if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", ""):
            return AutoEnrol.OFF
        return value

    @property
    def restart_hold_s(self) -> float:
        """The one broker-restart hold, derived from the agents' maximum reconnect backoff."""
        return self.agent_reconnect_max_s + self.restart_margin_s

    @field_validator("default_tz", "settlement_cutoff_tz")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        return value

    @field_validator("settlement_cutoff")
    @classmethod
    def _cutoff(cls, value: str) -> str:
        from collector.reconcile import parse_cutoff

        at = parse_cutoff(value)
        return f"{at.seconds // 3600:02d}:{at.seconds // 60 % 60:02d}"

    @field_validator("settlement_acquirers")
    @classmethod
    def _acquirers(cls, value: str) -> str:
        from collector.reconcile import parse_acquirer_cutoffs

        rules = parse_acquirer_cutoffs(value)
        return ",".join(f"{name}={rule.spec()}" for name, rule in rules.items())

    @property
    def settlement_acquirer_rules(self) -> dict[str, Cutoff]:
        from collector.reconcile import parse_acquirer_cutoffs

        return parse_acquirer_cutoffs(self.settlement_acquirers)

    @property
    def settlement_cutoff_rule(self) -> Cutoff:
        from collector.reconcile import Cutoff, parse_cutoff

        return Cutoff(parse_cutoff(self.settlement_cutoff), self.settlement_cutoff_tz or "")

    @field_validator("broker_password_file", "broker_tls_ca", "broker_tls_cert", "broker_tls_key")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value


def load_settings(**overrides: object) -> CollectorSettings:
    """Settings from the environment, overridden by command-line values that were given."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return CollectorSettings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            got = err.get("input")
            if name == "db" and got is not None:
                from collector.store.db import redact

                got = redact(str(got))  # a URL's password is never printed
            lines.append(
                f"POSFLEET_{name.upper()} (--{name.replace('_', '-')}): {err['msg']} (got {got!r})"
            )
        raise ConfigError("invalid collector configuration:\n  " + "\n  ".join(lines)) from None


@dataclass(frozen=True)
class Config:
    """Everything the collector reads from its environment, read once (``load_config``)."""

    collector: CollectorSettings
    alerts: AlertSettings | None  # None: the alert engine is off (POSFLEET_ALERTS=false)
    influx: InfluxSettings


def load_config(**overrides: object) -> Config:
    """The collector's settings (environment, then the command line's ``overrides``), the
    alert engine's (``POSFLEET_ALERT_*``) and the InfluxDB sink's (``POSFLEET_INFLUX_*``).
    Each kind raises its own error naming the variable and the fix."""
    from collector.alerts.config import AlertSettings
    from collector.sinks.settings import load_influx_settings

    collector = load_settings(**overrides)
    alerts = AlertSettings.from_env() if collector.alerts else None
    return Config(collector, alerts, load_influx_settings())
