"""Typed agent settings: a TOML file plus ``POSFLEET_AGENT_*`` environment variables.

Read once in ``main()``; a bad value raises :class:`ConfigError` naming the setting and
the fix. Precedence: explicit overrides > environment > file > defaults.

Standard library only (tomllib + a dataclass), not pydantic-settings: pydantic costs ~18 MB
of RSS on a gateway whose whole budget is 30 MB (see docs/agent.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from agent.contract import ID_PATTERN, RECONNECT_MAX_DELAY_S, RECONNECT_MIN_DELAY_S, valid_id

ENV_PREFIX = "POSFLEET_AGENT_"
DEFAULT_CONFIG = Path("/etc/posfleet/agent.toml")


class ConfigError(Exception):
    """The configuration is wrong; the message names the setting and the fix."""


def _range(lo: float = -math.inf, hi: float = math.inf, open_lo: bool = False) -> Any:
    return {"lo": lo, "hi": hi, "open_lo": open_lo}


@dataclass(frozen=True)
class AgentSettings:
    gateway_id: str
    broker_host: str = "localhost"
    broker_port: int = field(default=1883, metadata=_range(1, 65535))
    # TLS with the broker's CA pinned (no system trust store).
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure_hostname: bool = False
    username: str | None = None
    password_file: Path | None = None

    state_dir: Path = Path("/var/lib/posfleet-agent")

    # Publishing policy. Defaults fit <= 150 KB/day on the wire (see docs/agent.md):
    # downtime is detected by the broker's will within 1.5 x keepalive = 90 s; the
    # heartbeat only has to catch a hung agent, so it can be slower than the keepalive.
    heartbeat_interval: float = field(default=120.0, metadata=_range(0, 3600, True))
    # Mosquitto 2.0 allows 1.5 x keepalive and checks only every 5 s: 55 s -> will sent
    # within 82.5 + 5 s, inside the 90 s goal (60 s would be up to 95 s).
    keepalive: int = field(default=55, metadata=_range(1, 60))
    full_heartbeat_every: int = field(default=15, metadata=_range(1))
    probe_interval: float = field(default=60.0, metadata=_range(0, open_lo=True))
    network_max_silence: float = field(default=3600.0, metadata=_range(0, open_lo=True))
    firmware_max_silence: float = field(default=86400.0, metadata=_range(0, open_lo=True))
    hardware_max_silence: float = field(default=3600.0, metadata=_range(0, open_lo=True))
    reconnect_min_delay: float = field(
        default=RECONNECT_MIN_DELAY_S, metadata=_range(0, open_lo=True)
    )
    reconnect_max_delay: float = field(
        default=RECONNECT_MAX_DELAY_S, metadata=_range(0, open_lo=True)
    )

    # Transaction aggregates from the payment app (docs/agent.md): a spool directory of JSON
    # lines (default: <state_dir>/txn-spool), read every txn_interval seconds. The group
    # (name or gid) the payment app writes through, given to the spool when the agent
    # creates it (mode 2770).
    txn_spool_dir: Path | None = None
    txn_spool_group: str | None = None
    txn_interval: float = field(default=1200.0, metadata=_range(0, 86400, True))

    # Store-and-forward bounds.
    queue_max_messages: int = field(default=20_000, metadata=_range(1))
    queue_max_age_s: float = field(default=7 * 86400.0, metadata=_range(0, open_lo=True))

    # Probes: roots and commands are injectable (tests run on fixture trees).
    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    etc_root: Path = Path("/etc")
    disk_path: Path = Path("/")
    payment_hosts: list[str] = field(default_factory=list)
    dns_name: str | None = None
    connect_timeout: float = field(default=2.0, metadata=_range(0, open_lo=True))
    latency_attempts: int = field(default=3, metadata=_range(1, 10))
    mmcli: str = "mmcli"
    model: str | None = None
    terminal_fw_source: str | None = None
    payment_app_source: str | None = None
    patch_level_source: str | None = None
    printer_source: str | None = None
    terminal_plugins: bool = True

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"password_file: cannot read {self.password_file} ({exc.strerror}); "
                f"fix the path or set {ENV_PREFIX}PASSWORD_FILE"
            ) from exc


_HINTS = get_type_hints(AgentSettings)
_ID_OR_NAME = {"txn_spool_group"}  # a name or a number (a gid), written either way in TOML
_FIELDS = {f.name: f for f in dataclasses.fields(AgentSettings)}


def _coerce(name: str, raw: Any, from_env: bool) -> Any:
    hint = _HINTS[name]
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    base = next(a for a in get_args(hint) if a is not type(None)) if optional else hint
    if optional and (raw is None or (from_env and raw == "")):
        return None
    if base is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return raw.lower() in {"1", "true", "yes", "on"}
        raise ValueError("must be true or false")
    if base is int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError("must be an integer")
        return int(raw)
    if base is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError("must be a number")
        return float(raw)
    if base is Path:
        if not isinstance(raw, str | Path):
            raise ValueError("must be a path")
        return Path(raw)
    if base is str:
        if name in _ID_OR_NAME and isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)  # txn_spool_group = 1001: a gid, as the docs allow
        if not isinstance(raw, str):
            raise ValueError("must be a string")
        return raw
    if get_origin(base) is list:
        if isinstance(raw, str):
            raw = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise ValueError("must be a list of strings")
        return [x.strip() for x in raw if x.strip()]
    raise AssertionError(f"unsupported setting type {hint}")


def _check(s: AgentSettings) -> list[tuple[str, str]]:
    problems = []
    if not valid_id(s.gateway_id):
        problems.append(("gateway_id", f"must match {ID_PATTERN}"))
    for name, f in _FIELDS.items():
        if "lo" in f.metadata:
            v = getattr(s, name)
            lo, hi, open_lo = f.metadata["lo"], f.metadata["hi"], f.metadata["open_lo"]
            if v > hi or (v <= lo if open_lo else v < lo):
                bound = f"> {lo}" if open_lo else f">= {lo}"
                problems.append((name, f"{v} is out of range: must be {bound} and <= {hi}"))
    for h in s.payment_hosts:
        host, _, port = h.rpartition(":")
        if not host or not port.isdigit():
            problems.append(("payment_hosts", f"{h!r} is not host:port"))
    if s.tls and s.ca_file is None:
        problems.append(("ca_file", "tls = true needs ca_file (the broker CA to pin)"))
    if (s.cert_file is None) != (s.key_file is None):
        problems.append(("cert_file", "cert_file and key_file go together"))
    if s.password_file is not None and s.username is None:
        problems.append(("username", "password_file needs username"))
    if s.reconnect_max_delay < s.reconnect_min_delay:
        problems.append(("reconnect_max_delay", "must be >= reconnect_min_delay"))
    return problems


def load_settings(config_file: Path | None = None, **overrides: Any) -> AgentSettings:
    """Build settings from ``config_file`` (TOML), the environment and ``overrides``."""
    where = f"the config file ({config_file})" if config_file else "a config file (--config)"
    raw: dict[str, tuple[Any, bool]] = {}
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"config file {config_file} does not exist: pass --config with an existing "
                f"TOML file (see deploy/systemd/agent.toml.example)"
            ) from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}; fix its syntax") from None
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(
                f"setting {unknown[0]!r} is unknown; remove it from {where} "
                f"(known: see deploy/systemd/agent.toml.example)"
            )
        raw.update({k: (v, False) for k, v in data.items()})
    for name in _FIELDS:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            raw[name] = (env, True)
    raw.update({k: (v, False) for k, v in overrides.items()})
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, (value, from_env) in raw.items():
        if name not in _FIELDS:
            problems.append((name, "unknown setting"))
            continue
        try:
            values[name] = _coerce(name, value, from_env)
        except (ValueError, json.JSONDecodeError) as exc:
            problems.append((name, f"{value!r}: {exc}"))
    if "gateway_id" not in values and not problems:
        problems.append(("gateway_id", "required"))
    if not problems:
        settings = AgentSettings(**values)
        problems = _check(settings)
    if problems:
        raise ConfigError(
            "\n".join(
                f"setting {name!r}: {msg}; fix it in {where} or via {ENV_PREFIX}{name.upper()}"
                for name, msg in problems
            )
        )
    return settings
