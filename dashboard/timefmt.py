"""Every time the console shows, from one place: stored UTC in, the viewer's wall time out.

- ``local``: wall time in a zone, to the minute (``2026-11-30 14:04``), no microseconds, no
  offset: the zone is said once per page (``zone_caption``), not in every cell.
- ``relative``: "12 minutes ago" / "12分钟前" (Babel's CLDR data, both languages).
- ``day_start`` / ``month_start``: where "today" and "this month" begin on the viewer's
  clock, as aware UTC datetimes the queries compare with stored times.
- ``frame``: a table's time columns as local wall time, for display; CSV exports keep the
  stored ISO UTC text (machine-readable, sortable, the same in every zone).

Pure functions of (time, zone, language): no Streamlit, no settings.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from babel.dates import format_timedelta

from collector.store.times import from_db

WALL = "%Y-%m-%d %H:%M"
# Stored times (collector/store/times.py) and anything ISO with a clock: "...T14:04:..."
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_BABEL_LOCALE = {"zh-CN": "zh_Hans_CN", "en": "en"}


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError naming it when there is no such zone."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from exc


def host_zone(localtime: Path = Path("/etc/localtime")) -> str:
    """The host's zone as an IANA name: $TZ, else what /etc/localtime links to, else UTC."""
    env = os.environ.get("TZ", "").lstrip(":")
    if env.startswith("/"):  # TZ=:/etc/localtime names a file, as glibc reads it
        localtime = Path(env)
    elif env:
        try:
            zone(env)
            return env
        except ValueError:  # a POSIX rule ("CST-8") is no IANA name: read the host's file
            pass
    try:
        target = str(localtime.resolve())
    except OSError:
        return "UTC"
    marker = "/zoneinfo/"
    if marker in target:
        name = target.split(marker, 1)[1]
        return "UTC" if name in ("Etc/UTC", "UCT", "Zulu", "Etc/Zulu") else name
    return "UTC"


def parse(value: datetime | str | None) -> datetime | None:
    """A stored time (aware datetime or the store's ISO text) as an aware datetime."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    at = value if isinstance(value, datetime) else from_db(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # the store writes UTC only


def local(value: datetime | str | None, tz: ZoneInfo, fmt: str = WALL) -> str:
    """``value`` as wall time in ``tz`` ('' when there is none)."""
    at = parse(value)
    return "" if at is None else at.astimezone(tz).strftime(fmt)


def offset_text(at: datetime, tz: ZoneInfo) -> str:
    """``UTC+08:00``, ``UTC+01:00``, ``UTC-03:30``."""
    off = at.astimezone(tz).utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_caption(now: datetime, name: str) -> str:
    """``Asia/Shanghai (CST, UTC+08:00)``: what the page's times are, said once."""
    tz = zone(name)
    abbr = now.astimezone(tz).tzname() or ""
    off = offset_text(now, tz)
    # Zones whose "abbreviation" is only an offset ("-03") or their own name ("UTC").
    if abbr in ("", off, name) or abbr.startswith(("+", "-")):
        return f"{name} ({off})"
    return f"{name} ({abbr}, {off})"


def relative(value: datetime | str | None, now: datetime, lang: str) -> str:
    """``value`` relative to ``now``: "12 minutes ago", "in 2 hours", "12分钟前"."""
    at = parse(value)
    if at is None:
        return ""
    delta = at - now
    if abs(delta) < timedelta(seconds=1):
        delta = timedelta(seconds=-1)  # "in 0 seconds" for what just happened reads wrong
    # threshold 2: a unit is used from two of it up, so 90 minutes stay "90 minutes ago",
    # not "2 hours ago" (half an hour off, where a NOC reads the age of an outage).
    return str(
        format_timedelta(
            delta, add_direction=True, threshold=2.0, locale=_BABEL_LOCALE.get(lang, "en")
        )
    )


def day_start(now: datetime, name: str) -> datetime:
    """The start of ``now``'s day on the clock of zone ``name``, in UTC."""
    tz = zone(name)
    here = now.astimezone(tz)
    midnight = datetime(here.year, here.month, here.day, tzinfo=tz)
    return midnight.astimezone(UTC)


def month_start(now: datetime, name: str) -> datetime:
    """The start of ``now``'s month on the clock of zone ``name``, in UTC."""
    tz = zone(name)
    here = now.astimezone(tz)
    return datetime(here.year, here.month, 1, tzinfo=tz).astimezone(UTC)


def local_day(value: datetime | str, name: str) -> str:
    """The calendar day (``2026-11-30``) of a stored time on the clock of zone ``name``."""
    return local(value, zone(name), "%Y-%m-%d")


def is_time_column(series: pd.Series) -> bool:
    """A column of stored times (text with a clock, or datetimes): not dates, not numbers."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
        return False
    sample = series.dropna()
    sample = sample[sample.astype(str) != ""]
    return len(sample) > 0 and all(
        isinstance(v, str) and _ISO_TIME.match(v) for v in sample.head(20)
    )


def frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` with every column of stored times shown as wall time in zone ``name``."""
    tz = zone(name)
    out = df
    for col in df.columns:
        if is_time_column(df[col]):
            if out is df:
                out = df.copy()
            out[col] = [local(v, tz) if isinstance(v, str | datetime) else "" for v in df[col]]
    return out


# Units of ``duration``: the NOC's shorthand, not Babel's words ("2 h 5 min", "2小时5分").
_UNITS = {
    "en": ("{d} d", "{h} h", "{m} min", "<1 min", " "),
    "zh-CN": ("{d}天", "{h}小时", "{m}分", "<1分", ""),
}


def duration(value: datetime | str | None, now: datetime, lang: str) -> str:
    """How long since ``value``, to the minute, the two largest units: "2 h 5 min",
    "3 d 4 h", "<1 min"; "2小时5分" in zh-CN ('' for none; a time to come counts as 0)."""
    at = parse(value)
    if at is None:
        return ""
    day, hour, minute, under, sep = _UNITS.get(lang, _UNITS["en"])
    minutes = max(0, int((now - at).total_seconds()) // 60)
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    if d:
        parts = [day.format(d=d)] + ([hour.format(h=h)] if h else [])
    elif h:
        parts = [hour.format(h=h)] + ([minute.format(m=m)] if m else [])
    elif m:
        parts = [minute.format(m=m)]
    else:
        return under
    return sep.join(parts)
