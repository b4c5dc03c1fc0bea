"""Typed InfluxDB sink settings (``POSFLEET_INFLUX_*``), read once in ``main()``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "POSFLEET_INFLUX_"


class InfluxConfigError(Exception):
    """The InfluxDB configuration is wrong; the message names the setting and the fix."""


class InfluxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    enabled: bool = False
    url: str | None = None
    org: str | None = None
    bucket: str | None = None
    # Prefer token_file (a mounted secret); token is for development.
    token: str | None = Field(None, repr=False)
    token_file: Path | None = None
    batch_size: int = Field(1000, ge=1, le=50_000)
    flush_interval_s: float = Field(1.0, gt=0, le=60)
    timeout_s: float = Field(10.0, gt=0, le=120)
    retry_initial_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(60.0, gt=0)
    queue_max_points: int = Field(50_000, ge=1)
    buffer_path: Path = Path("/var/lib/posfleet/influx-buffer.sqlite")
    buffer_max_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    buffer_max_age_s: float = Field(7 * 86400.0, gt=0)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> InfluxSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError(f"{ENV_PREFIX}RETRY_MAX_S must be >= {ENV_PREFIX}RETRY_INITIAL_S")
        if not self.enabled:
            return self
        for name in ("url", "org", "bucket"):
            if not getattr(self, name):
                raise ValueError(
                    f"{ENV_PREFIX}{name.upper()} is required when {ENV_PREFIX}ENABLED=true"
                    f" (set it, or set {ENV_PREFIX}ENABLED=false)"
                )
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"{ENV_PREFIX}URL must start with http:// or https://")
        if self.token and self.token_file:
            raise ValueError(f"set {ENV_PREFIX}TOKEN or {ENV_PREFIX}TOKEN_FILE, not both")
        if self.token is None and self.token_file is None:
            raise ValueError(
                f"{ENV_PREFIX}TOKEN_FILE (a file holding the API token) is required when"
                f" {ENV_PREFIX}ENABLED=true"
            )
        return self

    def resolved_token(self) -> str:
        """The API token; reads token_file now so a rotated secret needs only a restart."""
        if self.token is not None:
            return self.token
        assert self.token_file is not None
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise InfluxConfigError(
                f"{ENV_PREFIX}TOKEN_FILE={self.token_file}: cannot read it ({exc.strerror});"
                " point it at a readable file holding the token"
            ) from exc
        if not token:
            raise InfluxConfigError(f"{ENV_PREFIX}TOKEN_FILE={self.token_file} is empty")
        return token


def load_influx_settings(**overrides: object) -> InfluxSettings:
    """Environment (+ ``overrides``) -> settings, or :class:`InfluxConfigError`."""
    try:
        settings = InfluxSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in exc.errors()
        )
        raise InfluxConfigError(f"invalid InfluxDB settings: {problems}") from None
    if settings.enabled:
        settings.resolved_token()
    return settings
