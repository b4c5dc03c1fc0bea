"""Silent terminals: online, yet no transaction for longer than their own week says is normal.

A terminal can beat every minute while its payment app is stuck, so liveness never sees it;
the merchant sees a queue of customers whose cards "do not work". Each terminal learns its
own rhythm from the transaction windows it reports (``txn_aggregates``):

- **Baseline**: per terminal and *hour of the week in its store's time zone* (168 buckets:
  a Sunday is not a Monday, 09:00 is not 03:00), the transactions it took and the hours it
  was observed in that bucket. Rate = transactions / hours. The sums are halved once a bucket
  has seen ``max_hours`` hours, so the baseline follows a store whose trade changes.
- **Judgement** (Poisson): if the terminal took λ(h) transactions per hour in the hours since
  its last transaction, the chance of seeing none is ``exp(-Σ λ(h)·Δt)``. It is *silent*
  when that expected count reaches ``expected`` (default 15: a chance of 3e-7 that a
  working terminal's gap between two sales is this long; a terminal has a few hundred gaps
  a day, so 100,000 terminals see a few false silences a day at most, where 7 would give
  about one per 100 terminals a day) and the silence has lasted at least ``floor_s`` (a quiet
  store is never judged on minutes). Hours without enough history count as closed (rate 0),
  so a shop that is closed at night, or a terminal too new to know, is never called silent.
- Only a terminal that is **online** is judged: a terminal or gateway that is down is the
  liveness alerts' business (and inhibits this one through the usual dependencies).

Both steps run a chunk at a time from the alert listener's tick (never a fleet scan in one
tick): the fold reads new windows past a cursor kept in ``meta``; the judgement walks the
terminals that ever reported transactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.alerts.model import Key, Kind, Place
from collector.alerts.rules import Verdict
from collector.alerts.txnfeed import REGION, SITE, ZONE, WindowFeed, read_windows
from collector.model import SubjectType
from collector.store.db import Connection
from collector.store.meta import get_meta, set_meta
from collector.store.times import from_db, from_db_opt, to_db

HOURS_PER_WEEK = 168
CURSOR_KEY = "silence_fold_cursor"


@dataclass(frozen=True, slots=True)
class SilenceSettings:
    expected: float = 15.0  # expected transactions in the silence before it is silent
    floor_s: float = 1800.0  # never silent sooner than this
    min_hours: float = 1.5  # a bucket needs this much history to count as open
    max_hours: float = 12.0  # halve a bucket's sums past this (follows change, bounded)
    lookback_s: float = 7 * 86400.0  # silences longer than this are judged on the last week


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def hour_of_week(at: datetime, tz: ZoneInfo) -> int:
    local = at.astimezone(tz)
    return local.weekday() * 24 + local.hour


def split_hours(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[int, float]]:
    """[(hour of week, hours of [start, end) in it)], in the store's zone (DST-safe: each
    piece is cut at the next local hour boundary, computed from UTC)."""
    # The folds call this for every window stored: the local hours of each UTC hour are
    # worked out once (_hour_cuts) for every window that touches it, not again per window.
    # An hour in which the zone's offset changes has none: the walk cuts the whole span.
    if start.tzinfo is not UTC:
        start = start.astimezone(UTC)
    out: list[tuple[int, float]] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    piece_start, piece_how, t = start, -1, start
    while t < end:
        cuts = _hour_cuts(tz, hour)
        if cuts is None:
            return [(how, (e - s).total_seconds() / 3600) for s, e, how in _pieces(start, end, tz)]
        for cut, how in cuts:
            if cut <= t:
                continue
            if how != piece_how:  # a local hour across two UTC hours (+05:30) stays one
                if piece_how >= 0:
                    out.append((piece_how, (t - piece_start).total_seconds() / 3600))
                piece_start, piece_how = t, how
            t = min(cut, end)
            if t >= end:
                break
        hour += _HOUR
    if piece_how >= 0:
        out.append((piece_how, (t - piece_start).total_seconds() / 3600))
    return out


_HOUR = timedelta(hours=1)


@lru_cache(maxsize=8192)
def _hour_cuts(tz: ZoneInfo, hour: datetime) -> tuple[tuple[datetime, int], ...] | None:
    """The UTC hour from ``hour`` cut where its local hour of week changes: (piece end,
    hour of week) in order; None when the zone's offset changes in it (such an hour is
    walked per window, cut at the transition itself)."""
    end = hour + _HOUR
    if hour.astimezone(tz).utcoffset() != end.astimezone(tz).utcoffset():
        return None
    pieces = _pieces(hour, end, tz)
    if any(how != _how(piece_end - _LAST, tz) for _, piece_end, how in pieces):
        return None  # never, as _pieces cuts; a cached hour is trusted by every window
    return tuple((piece_end, how) for _, piece_end, how in pieces)


_LAST = timedelta(microseconds=1)


def _how(at: datetime, tz: ZoneInfo) -> int:
    local = at.astimezone(tz)
    return local.weekday() * 24 + local.hour


def _pieces(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime, int]]:
    """[start, end) cut where the local hour of week changes: (from, to, hour of week).

    A piece ends at the next local hour boundary as long as the zone's offset holds, else at
    the offset's change: a transition need not fall on an hour boundary (Pacific/Chatham's
    clocks go back at 03:45) and may repeat more than the hour being walked
    (Antarctica/Troll's go back two hours: 02:30 is followed by 01:00, not by 03:00).
    Neighbours of the same hour (Europe's clocks going back: 02:00-03:00 twice) are one."""
    out: list[tuple[datetime, datetime, int]] = []
    t = start
    while t < end:
        local = t.astimezone(tz)
        how = local.weekday() * 24 + local.hour
        wall = local.replace(tzinfo=None)
        nxt = t + (wall.replace(minute=0, second=0, microsecond=0) + _HOUR - wall)
        offset = local.utcoffset()
        if (nxt - _LAST).astimezone(tz).utcoffset() != offset:
            nxt = _offset_change(t, nxt - _LAST, tz, offset)
        piece_end = min(nxt, end)
        if out and out[-1][2] == how:
            out[-1] = (out[-1][0], piece_end, how)
        else:
            out.append((t, piece_end, how))
        t = piece_end
    return out


def _offset_change(lo: datetime, hi: datetime, tz: ZoneInfo, offset: timedelta | None) -> datetime:
    """The first instant in (lo, hi] whose offset is not ``offset`` (lo's is, hi's is not)."""
    while hi - lo > _LAST:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    return hi


def expected_count(
    rates: Mapping[int, float], since: datetime, now: datetime, tz: ZoneInfo
) -> float:
    """Transactions a terminal with these per-bucket rates would take in [since, now)."""
    return sum(rates.get(how, 0.0) * hours for how, hours in split_hours(since, now, tz))


def rates_of(buckets: Iterable[tuple[int, float, float]], min_hours: float) -> dict[int, float]:
    """(hour of week, transactions, hours) -> rate per hour, for buckets with enough history."""
    return {how: txn / hours for how, txn, hours in buckets if hours >= min_hours and hours > 0}


def is_silent(
    rates: Mapping[int, float],
    last_txn: datetime,
    now: datetime,
    tz: ZoneInfo,
    s: SilenceSettings,
) -> tuple[bool, float]:
    silence = (now - last_txn).total_seconds()
    if silence < s.floor_s:
        return False, 0.0
    since = max(last_txn, now - timedelta(seconds=s.lookback_s))
    exp = expected_count(rates, since, now, tz)
    return exp >= s.expected, exp


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


class SilenceSweep:
    """Fold new windows into the baselines, then judge a chunk of payment devices.

    A payment device is a terminal, or a gateway that is the payment device itself (an
    all-in-one POS: its windows come on the gateway's own topic, ``terminal_id`` '')."""

    def __init__(self, settings: SilenceSettings | None = None, chunk: int = 5000) -> None:
        self.s = settings or SilenceSettings()
        self.chunk = chunk
        self.cursor: tuple[str, str] = ("", "")  # (subject_type, device) last judged

    # ------------------------------------------------------------------ fold
    def fold(self, conn: Connection, limit: int = 20000, feed: WindowFeed | None = None) -> int:
        """Add windows stored since the last fold to ``txn_baseline``/``txn_state``; keep
        what was read in ``feed`` for the spike fold."""
        after = int(get_meta(conn, CURSOR_KEY) or 0)
        rows = feed.read(conn, after, limit) if feed else read_windows(conn, after, limit)
        if not rows:
            return 0
        sums: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
        # -> [last_txn, window_end, window_s, live: a window sent live (not back-filled)]
        state: dict[tuple[str, str], list[Any]] = {}
        zones: dict[str, ZoneInfo] = {}
        split = feed.split if feed is not None else None  # the spike fold's, from the same rows
        # Once per window stored: no enum lookup, zone() call or list built per row here.
        terminal, gateway = SubjectType.TERMINAL.value, SubjectType.GATEWAY.value
        for _id, tid, gw, start, end, n, last_txn, tz, historical, *_spikes in rows:
            kind, dev = (terminal, tid) if tid else (gateway, gw)
            zi = zones.get(tz) or zones.setdefault(tz, zone(tz))
            t0, t1 = from_db(start), from_db(end)
            span_s = (t1 - t0).total_seconds()
            span = span_s / 3600
            if span <= 0 or span > 24:
                continue  # not a window a baseline can use (device clock); still stored
            pieces = split_hours(t0, t1, zi)
            if split is not None:
                split[_id] = (span_s, pieces)
            for how, hours in pieces:
                acc = sums[(kind, dev, how)]
                acc[0] += n * hours / span
                acc[1] += hours
            st = state.get((kind, dev))
            if st is None:
                st = state[(kind, dev)] = [None, "", 0.0, 0]
            if not historical:
                st[3] = 1
            if last_txn is not None and (st[0] is None or last_txn > st[0]):
                st[0] = last_txn
            if end > st[1]:
                st[1], st[2] = end, span * 3600
        conn.executemany(
            "INSERT INTO txn_baseline (subject_type, device_id, how, txn, hours) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject_type, device_id, how) DO UPDATE SET "
            "txn = CASE WHEN txn_baseline.hours >= ? THEN txn_baseline.txn / 2 "
            "ELSE txn_baseline.txn END + excluded.txn, "
            "hours = CASE WHEN txn_baseline.hours >= ? THEN txn_baseline.hours / 2 "
            "ELSE txn_baseline.hours END + excluded.hours",
            [
                (st, dev, how, v[0], v[1], self.s.max_hours, self.s.max_hours)
                for (st, dev, how), v in sums.items()
            ],
        )
        conn.executemany(
            "INSERT INTO txn_state (subject_type, device_id, last_txn_at, last_window_end, "
            "window_s, live) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subject_type, device_id) DO UPDATE SET "
            "live = CASE WHEN excluded.live > txn_state.live THEN excluded.live "
            "ELSE txn_state.live END, "
            "last_txn_at = CASE WHEN txn_state.last_txn_at IS NULL "
            "OR excluded.last_txn_at > txn_state.last_txn_at THEN excluded.last_txn_at "
            "ELSE txn_state.last_txn_at END, "
            "window_s = CASE WHEN excluded.last_window_end > txn_state.last_window_end "
            "THEN excluded.window_s ELSE txn_state.window_s END, "
            "last_window_end = CASE WHEN excluded.last_window_end > txn_state.last_window_end "
            "THEN excluded.last_window_end ELSE txn_state.last_window_end END",
            [(st, dev, *v) for (st, dev), v in sorted(state.items())],
        )
        set_meta(conn, CURSOR_KEY, str(rows[-1][0]))
        return len(rows)

    # ------------------------------------------------------------------ judge
    def step(self, conn: Connection, now: datetime) -> list[Verdict]:
        """Judge the next chunk of devices that ever reported transactions."""
        rows = conn.execute(
            "SELECT x.subject_type, x.device_id, x.last_txn_at, x.last_window_end, x.window_s, "
            "x.live, "
            "COALESCE(t.status, g.status), COALESCE(t.gateway_id, g.gateway_id), "
            f"{SITE}, {REGION}, "
            f"COALESCE(t.model, g.model), {ZONE}, "
            "COALESCE(t.suspended, g.suspended), COALESCE(t.decommissioned, g.decommissioned) "
            "FROM txn_state x "
            "LEFT JOIN terminals t ON x.subject_type = 'terminal' AND t.terminal_id = x.device_id "
            # a POS's own row, or a terminal's gateway (its place when it names none); the
            # terminal's own columns come first in every COALESCE
            "LEFT JOIN gateways g ON g.gateway_id = CASE WHEN x.subject_type = 'gateway' "
            "THEN x.device_id ELSE t.gateway_id END "
            f"LEFT JOIN sites s ON s.site_id = {SITE} "
            "WHERE (x.subject_type, x.device_id) > (?, ?) "
            "ORDER BY x.subject_type, x.device_id LIMIT ?",
            (*self.cursor, self.chunk),
        ).fetchall()
        self.cursor = (rows[-1][0], rows[-1][1]) if len(rows) == self.chunk else ("", "")
        if not rows:
            return []
        buckets: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
        for st, dev, how, txn, hours in conn.execute(
            "SELECT subject_type, device_id, how, txn, hours FROM txn_baseline "
            "WHERE (subject_type, device_id) >= (?, ?) AND (subject_type, device_id) <= (?, ?)",
            (rows[0][0], rows[0][1], rows[-1][0], rows[-1][1]),
        ):
            buckets[(st, dev)].append((how, txn, hours))
        out = []
        for (
            st,
            dev,
            last_txn,
            window_end,
            window_s,
            live,
            status,
            gw,
            site,
            region,
            model,
            tz,
            susp,
            gone,
        ) in rows:
            subject = SubjectType(st)
            key = Key(Kind.TERMINAL_SILENT, subject, dev)
            tid = dev if subject is SubjectType.TERMINAL else ""
            place = Place(region or "", site or "", gw or dev, tid, model or "")
            last = from_db_opt(last_txn)
            if last is None or status != "online" or susp or gone:
                out.append(Verdict(key, False, place))
                continue
            zi = zone(tz)
            ended = from_db_opt(window_end)
            if not live:
                # Only back-filled history so far: judged as far as it goes, never beyond (a
                # device whose first live report is still queued is not silent).
                horizon = min(now, ended) if ended else now - timedelta(days=365)
            else:
                horizon = _horizon(now, ended, window_s)
            rates = rates_of(buckets.get((st, dev), ()), self.s.min_hours)
            silent, expected = is_silent(rates, last, horizon, zi, self.s)
            usual = rates.get(hour_of_week(horizon, zi), 0.0)
            where = f" at site {site}" if site else ""
            what = "Terminal" if subject is SubjectType.TERMINAL else "POS"
            summary = (
                f"{what} {dev}{where} is online but has taken no transaction for "
                f"{_duration((horizon - last).total_seconds())} (since "
                f"{last.astimezone(zi):%Y-%m-%d %H:%M} store time; usually {usual:.0f} per hour "
                f"now, {expected:.0f} expected since)"
            )
            details = {
                "last_txn_at": to_db(last),
                "expected": round(expected, 1),
                "usual_per_hour": round(usual, 1),
            }
            out.append(Verdict(key, silent, place, summary if silent else "", details))
        return out


def _horizon(now: datetime, window_end: datetime | None, window_s: float | None) -> datetime:
    """How far the device's reports are known: the end of its last window, while windows
    keep coming. A device's windows arrive up to one window late (they are sent when they
    close): judging up to ``now`` would count a store's first minutes of the day before
    their window arrived. When windows stop altogether, judgement goes on up to two
    windows behind ``now``."""
    span = float(window_s) if window_s and window_s > 0 else 1200.0  # the agent's default
    # At least 30 s: a device's reports can lag a little behind its heartbeats (a busy
    # link, a loaded simulator with seconds-long windows); it is not silence.
    behind = now - timedelta(seconds=max(2 * span, 30.0))
    if window_end is None:
        return behind
    return min(now, max(window_end, behind))
