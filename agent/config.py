"""Typed agent settings: a TOML file plus ``POSFLEET_AGENT_*`` environment variables.

Read once in ``main()``; a bad value raises :class:`ConfigError` naming the setting and
the fix. Environment variables override the file (12-factor on top of a shipped file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from telemetry.topics import ID_PATTERN

ENV_PREFIX = "POSFLEET_AGENT_"
DEFAULT_CONFIG = Path("/etc/posfleet/agent.toml")


class ConfigError(Exception):
    """The configuration is wrong; the message names the setting and the fix."""


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    gateway_id: str = Field(pattern=f"^{ID_PATTERN}$")
    broker_host: str = "localhost"
    broker_port: int = Field(1883, ge=1, le=65535)
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
    heartbeat_interval: float = Field(120.0, gt=0, le=3600)
    keepalive: int = Field(60, ge=1, le=60)
    full_heartbeat_every: int = Field(15, ge=1)
    probe_interval: float = Field(60.0, gt=0)
    network_max_silence: float = Field(3600.0, gt=0)
    firmware_max_silence: float = Field(86400.0, gt=0)
    hardware_max_silence: float = Field(3600.0, gt=0)
    reconnect_min_delay: float = Field(1.0, gt=0)
    reconnect_max_delay: float = Field(120.0, gt=0)

    # Store-and-forward bounds.
    queue_max_messages: int = Field(20_000, ge=1)
    queue_max_age_s: float = Field(7 * 86400.0, gt=0)

    # Probes: roots and commands are injectable (tests run on fixture trees).
    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    etc_root: Path = Path("/etc")
    disk_path: Path = Path("/")
    payment_hosts: list[str] = Field(default_factory=list)
    dns_name: str | None = None
    connect_timeout: float = Field(2.0, gt=0)
    latency_attempts: int = Field(3, ge=1, le=10)
    mmcli: str = "mmcli"
    model: str | None = None
    terminal_fw_source: str | None = None
    payment_app_source: str | None = None
    patch_level_source: str | None = None
    printer_source: str | None = None
    terminal_plugins: bool = True

    @field_validator("payment_hosts")
    @classmethod
    def _host_port(cls, hosts: list[str]) -> list[str]:
        for h in hosts:
            host, _, port = h.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{h!r} is not host:port")
        return hosts

    @model_validator(mode="after")
    def _tls_consistent(self) -> AgentSettings:
        if self.tls and self.ca_file is None:
            raise ValueError("tls = true needs ca_file (the broker CA to pin)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs username")
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be >= reconnect_min_delay")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

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


def load_settings(config_file: Path | None = None, **overrides: Any) -> AgentSettings:
    """Build settings from ``config_file`` (TOML), the environment and ``overrides``."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(
            f"config file {config_file} does not exist: pass --config with an existing "
            f"TOML file (see deploy/systemd/agent.toml.example)"
        )

    class _FromFile(AgentSettings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX, extra="forbid", toml_file=config_file
        )

    try:
        return _FromFile(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "(settings)"
            env = f"{ENV_PREFIX}{name.upper()}" if err["loc"] else "the file"
            lines.append(
                f"setting {name!r}: {err['msg']}; fix it in the config file"
                f" ({config_file}) or via {env}"
            )
        raise ConfigError("\n".join(lines)) from None
