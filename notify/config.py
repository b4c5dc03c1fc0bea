"""The relay's configuration: one TOML file, read once in ``main()``, failing loudly.

Secrets (robot signing secrets, webhook URLs that embed an access token, the ack-link key,
provider auth headers) come from files so they never sit in the config or the logs; only
the URL's host is ever logged (``Channel.host``).
"""

from __future__ import annotations

import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notify import ConfigError

CHANNEL_TYPES = ("dingtalk", "wecom", "feishu", "http")
LANGS = ("zh-CN", "en")
# Per robot, from each vendor's documentation (docs/notify.md cites the sources): DingTalk
# and WeCom 20 messages a minute; Feishu custom bots 100 a minute and 5 a second.
DEFAULT_LIMITS: dict[str, list[tuple[int, float]]] = {
    "dingtalk": [(20, 60.0)],
    "wecom": [(20, 60.0)],
    "feishu": [(100, 60.0), (5, 1.0)],
    "http": [(60, 60.0)],
}


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    url: str = field(repr=False)
    secret: str = field(default="", repr=False)
    lang: str = "zh-CN"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    limits: tuple[tuple[int, float], ...] = ((20, 60.0),)
    digest_max: int = 20
    # http (SMS / voice) providers only
    method: str = "POST"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    to: tuple[str, ...] = ()
    # Also send to the phone of whoever is on call for the alert's region and tier.
    to_oncall: bool = False
    ok_field: str = ""
    ok_value: str = ""

    @property
    def host(self) -> str:
        """What the logs may show of the URL (tokens live in the query string)."""
        return urllib.parse.urlsplit(self.url).netloc


@dataclass(frozen=True)
class Config:
    listen_host: str
    listen_port: int
    spool: Path
    channels: dict[str, Channel]
    routes: dict[str, tuple[str, ...]]
    public_url: str
    ack_secret: bytes = field(repr=False)
    ack_ttl_s: float = 86400.0
    give_up_after_s: float = 3600.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0
    console_url: str = ""
    db: str | None = None  # the posfleet store: an SQLite file path or a postgresql:// URL


def _read_secret(base: Path, table: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{table}.{key} must be a file path (string)")
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{table}.{key}: cannot read {path} ({exc.strerror}); create the file or fix the path"
        ) from None
    if not text:
        raise ConfigError(f"{table}.{key}: {path} is empty; put the secret in it")
    return text


def _get(table: dict[str, Any], name: str, key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(
            f"{name}.{key} must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _channel(base: Path, name: str, table: dict[str, Any]) -> Channel:
    where = f"channels.{name}"
    ctype = table.get("type")
    if ctype not in CHANNEL_TYPES:
        raise ConfigError(f"{where}.type must be one of {', '.join(CHANNEL_TYPES)}, got {ctype!r}")
    if "url_file" in table:
        url = _read_secret(base, where, "url_file", table["url_file"])
    else:
        url = _get(table, where, "url", str, "")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where}.url (or url_file) must be an http(s) URL such as the robot's webhook "
            "address; got a value without scheme or host"
        )
    secret = (
        _read_secret(base, where, "secret_file", table["secret_file"])
        if "secret_file" in table
        else ""
    )
    lang = _get(table, where, "lang", str, "zh-CN")
    if lang not in LANGS:
        raise ConfigError(f"{where}.lang must be one of {', '.join(LANGS)}, got {lang!r}")
    tz_name = _get(table, where, "tz", str, "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}.tz: unknown time zone {tz_name!r}; use e.g. Asia/Shanghai"
        ) from None
    limits = list(DEFAULT_LIMITS[ctype])
    if "rate" in table or "per_s" in table:
        # rate/per_s replace the main (longest) window; Feishu keeps its 5-a-second pacing.
        rate = _get(table, where, "rate", int, limits[0][0])
        per_s = _get(table, where, "per_s", float, limits[0][1])
        if rate < 1 or per_s <= 0:
            raise ConfigError(
                f"{where}.rate must be >= 1 and {where}.per_s > 0 (messages per window)"
            )
        limits[0] = (rate, per_s)
    digest_max = _get(table, where, "digest_max", int, 20)
    if digest_max < 1:
        raise ConfigError(f"{where}.digest_max must be >= 1 (alerts listed in one digest)")
    headers: dict[str, str] = {}
    to: tuple[str, ...] = ()
    body: Any = None
    method = "POST"
    ok_field = ok_value = ""
    to_oncall = False
    if ctype == "http":
        method = _get(table, where, "method", str, "POST").upper()
        if method not in ("POST", "PUT", "GET"):
            raise ConfigError(f"{where}.method must be POST, PUT or GET")
        body = table.get("body")
        if body is not None and not isinstance(body, dict):
            raise ConfigError(f"{where}.body must be a TOML table (the JSON body template)")
        raw_to = table.get("to", [])
        to_oncall = _get(table, where, "to_oncall", bool, False)
        if (
            not isinstance(raw_to, list)
            or not all(isinstance(t, str) for t in raw_to)
            or not (raw_to or to_oncall)
        ):
            raise ConfigError(
                f"{where}.to must be a non-empty list of recipients (phone numbers), "
                "unless to_oncall = true sends to whoever is on call"
            )
        to = tuple(raw_to)
        extra = table.get("headers", {})
        if not isinstance(extra, dict):
            raise ConfigError(f"{where}.headers must be a table of header = value")
        headers = {str(k): str(v) for k, v in extra.items()}
        if "auth_file" in table:
            header = _get(table, where, "auth_header", str, "Authorization")
            headers[header] = _read_secret(base, where, "auth_file", table["auth_file"])
        _check_template(where, "url", url)
        _check_template(where, "body", body)
        ok_field = _get(table, where, "ok_field", str, "")
        ok_value = _get(table, where, "ok_value", str, "")
    return Channel(
        name=name,
        type=ctype,
        url=url,
        secret=secret,
        lang=lang,
        tz=tz,
        limits=tuple(limits),
        digest_max=digest_max,
        method=method,
        body=body,
        headers=headers,
        to=to,
        to_oncall=to_oncall,
        ok_field=ok_field,
        ok_value=ok_value,
    )


PLACEHOLDERS = ("to", "title", "text")


def _check_template(where: str, key: str, template: Any) -> None:
    """Fail at start-up, not at the first page, on a placeholder the relay cannot fill."""
    if isinstance(template, dict):
        for k, v in template.items():
            _check_template(where, f"{key}.{k}", v)
    elif isinstance(template, list):
        for i, v in enumerate(template):
            _check_template(where, f"{key}[{i}]", v)
    elif isinstance(template, str):
        try:
            template.format(**dict.fromkeys(PLACEHOLDERS, ""))
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"{where}.{key}: bad placeholder {exc} in {template!r}; use {{to}}, {{title}} "
                "or {text} (write {{ and }} for literal braces)"
            ) from None


def parse(data: dict[str, Any], base: Path) -> Config:
    """Build a ``Config`` from parsed TOML; relative paths are relative to ``base``."""
    relay = data.get("relay", {})
    if not isinstance(relay, dict):
        raise ConfigError("[relay] must be a table")
    listen = _get(relay, "relay", "listen", str, "127.0.0.1:9095")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"relay.listen must be host:port such as 127.0.0.1:9095, got {listen!r}")
    spool = Path(_get(relay, "relay", "spool", str, "notify-spool.sqlite"))
    if not spool.is_absolute():
        spool = base / spool
    public_url = _get(relay, "relay", "public_url", str, f"http://{listen}").rstrip("/")
    if "ack_secret_file" not in relay:
        raise ConfigError(
            "relay.ack_secret_file is missing: ack links are signed with it; create a file "
            "with a random key (head -c32 /dev/urandom | base64 > notify-ack.key)"
        )
    ack_secret = _read_secret(base, "relay", "ack_secret_file", relay["ack_secret_file"]).encode()
    channels_table = data.get("channels", {})
    if not isinstance(channels_table, dict) or not channels_table:
        raise ConfigError("[channels] is empty: define at least one [channels.NAME] table")
    channels = {name: _channel(base, name, t) for name, t in channels_table.items()}
    routes_table = data.get("routes", {})
    if not isinstance(routes_table, dict) or not routes_table:
        raise ConfigError(
            "[routes] is empty: map each Alertmanager receiver name to channels, "
            'e.g. north-oncall = ["noc-dingtalk"]'
        )
    routes: dict[str, tuple[str, ...]] = {}
    for receiver, names in routes_table.items():
        if not isinstance(names, list) or not names:
            raise ConfigError(f"routes.{receiver} must be a non-empty list of channel names")
        for n in names:
            if n not in channels:
                raise ConfigError(
                    f"routes.{receiver} names channel {n!r}, which is not defined; "
                    f"add [channels.{n}] or use one of {', '.join(sorted(channels))}"
                )
        routes[receiver] = tuple(names)
    db = relay.get("db")
    return Config(
        listen_host=host,
        listen_port=int(port),
        spool=spool,
        channels=channels,
        routes=routes,
        public_url=public_url,
        ack_secret=ack_secret,
        ack_ttl_s=_get(relay, "relay", "ack_ttl_s", float, 86400.0),
        give_up_after_s=_get(relay, "relay", "give_up_after_s", float, 3600.0),
        backoff_initial_s=_get(relay, "relay", "backoff_initial_s", float, 1.0),
        backoff_max_s=_get(relay, "relay", "backoff_max_s", float, 300.0),
        timeout_s=_get(relay, "relay", "timeout_s", float, 10.0),
        console_url=_get(relay, "relay", "console_url", str, "").rstrip("/"),
        db=db if isinstance(db, str) and db else None,
    )


def load(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path} ({exc.strerror}); fix the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML ({exc})") from None
    return parse(data, path.parent)
