"""Transaction failure spikes at a store: infrastructure declines, time-outs, reversals.

A store whose sales start failing (its line times out, its issuer route is cut, the payment
app reverses every sale) loses money while every terminal is online and busy. Per **site**
and per *hour of the week in the store's time zone*, the collector keeps how many
transactions were attempted and how many failed in each category, folded from the windows
the terminals report (``txn_aggregates``):

- ``issuer_unavailable``: the response class of ISO 8583 codes 06/19/68/90/91/92/96/98
  (network, switch or issuer: docs/protocol.md "Outcomes and response classes");
- ``timed_out``: the outcome ``timed_out`` (no answer at all);
- ``reversed``: the outcome ``reversed``.

Every ``poll_spikes_s`` the last ``spike_window_s`` of windows is summed per site. A category
*spikes* when at least ``spike_min_failures`` failed out of at least ``spike_min_attempts``,
and the failed share is at least ``spike_min_ratio`` and ``spike_factor`` times the store's
own share for this hour of the week (smoothed, so a store without history is held to the
floor). One alert per store, ``txn_failure_spike`` (subject: the site), naming the
categories; it clears when no category is above half its threshold. Cardholder declines
(05/51/55: no money, wrong PIN) are the customers' business and never count.

Region- and acquirer-wide spikes (an issuer's outage across a province) are judged by
Prometheus on the bounded counters against the same hour a week before
(deploy/prometheus/rules: PosfleetAcquirerFailureSpike, PosfleetRegionTimeoutSpike), and
inhibit the store-level pages they explain. An acquirer's spike explains a store's only when
the store's failures are that acquirer's: when at least ``acquirer_share`` (80 %) of the
failures the page counts (its spiking categories, in the window) came from one acquirer, the
spike names it (``details.acquirer``, the ``acquirer`` label of ``posfleet_alert_firing``), so
Alertmanager's ``equal: [region, acquirer]`` can match. A store failing on several acquirers
names none and is never inhibited by one of them. Only an acquirer the counters label by name
is named (one of the first ``ACQUIRERS_MAX``): those counted as ``other`` or ``unknown`` share
their label with others, whose spike would not explain this store.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.alerts.model import Key, Kind, Place
from collector.alerts.rules import Verdict
from collector.alerts.silence import split_hours, zone
from collector.alerts.txnfeed import REGION, SITE, ZONE, WindowFeed, read_windows
from collector.model import SubjectType
from collector.store.db import Connection
from collector.store.meta import get_meta, set_meta
from collector.store.times import from_db, to_db
from collector.store.transactions import NO_ACQUIRER, OTHER_ACQUIRER

CATEGORIES = ("issuer_unavailable", "timed_out", "reversed")
CURSOR_KEY = "spike_fold_cursor"
LABEL = {
    "issuer_unavailable": "issuer/network declines (91, 96, 68 ...)",
    "timed_out": "time-outs",
    "reversed": "reversals",
}


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    window_s: float = 1200.0
    min_attempts: int = 10
    min_failures: int = 5
    min_ratio: float = 0.2
    factor: float = 4.0
    # Smoothing of the store's own share: (failed + PRIOR_FAILED) / (attempted + PRIOR_ATTEMPTS).
    prior_attempts: float = 50.0
    prior_ratio: float = 0.01
    max_attempts: float = 20000.0  # halve a bucket's sums past this: bounded and current
    # A spike names an acquirer when at least this share of its failures are that acquirer's.
    acquirer_share: float = 0.8


def threshold(base_failed: float, base_attempted: float, s: SpikeSettings) -> float:
    """The share of failures that counts as a spike for a store with this history."""
    usual = (base_failed + s.prior_ratio * s.prior_attempts) / (base_attempted + s.prior_attempts)
    return max(s.min_ratio, s.factor * usual)


def spiking(failed: int, attempted: int, limit: float, s: SpikeSettings, *, active: bool) -> bool:
    if active:  # hysteresis: clears below half the threshold (or when the store goes quiet)
        return failed >= s.min_failures // 2 and attempted > 0 and failed / attempted >= limit / 2
    return attempted >= s.min_attempts and failed >= s.min_failures and failed / attempted >= limit


def dominant(failed: dict[str, int], share: float) -> str:
    """The acquirer with at least ``share`` of the ``failed`` (acquirer -> failures), else ''."""
    total = sum(failed.values())
    if total <= 0:
        return ""
    acquirer, most = max(failed.items(), key=lambda kv: (kv[1], kv[0]))
    return acquirer if most >= share * total else ""


class SpikeSweep:
    def __init__(self, settings: SpikeSettings | None = None) -> None:
        self.s = settings or SpikeSettings()
        self.active: set[str] = set()  # sites with a spike raised by this sweep

    def fold(self, conn: Connection, limit: int = 20000, feed: WindowFeed | None = None) -> int:
        """Add windows stored since the last fold to ``txn_site_baseline``; those the
        silence fold read are taken from ``feed``."""
        after = int(get_meta(conn, CURSOR_KEY) or 0)
        rows = feed.take(conn, after, limit) if feed else read_windows(conn, after, limit)
        if not rows:
            return 0
        sums: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0] * 4)
        split = feed.split if feed is not None else {}
        for _id, _t, _g, start, end, n, _l, tz, _h, site, iu, to, rv in rows:
            if not site or not n:
                continue
            # The silence fold cut this window into the store's hours already (same row).
            done = split.get(_id)
            if done is None:
                t0, t1 = from_db(start), from_db(end)
                span = (t1 - t0).total_seconds()
                if span <= 0 or span > 86400:
                    continue
                done = (span, split_hours(t0, t1, zone(tz)))
            span, pieces = done
            for how, hours in pieces:
                share = hours * 3600 / span
                acc = sums[(site, how)]
                for i, v in enumerate((n, iu, to, rv)):
                    acc[i] += v * share
        cap = self.s.max_attempts
        conn.executemany(
            "INSERT INTO txn_site_baseline (site_id, how, attempted, issuer_unavailable, "
            "timed_out, reversed) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (site_id, how) DO UPDATE SET "
            "attempted = CASE WHEN txn_site_baseline.attempted >= ? THEN txn_site_baseline.attempted / 2 "
            "ELSE txn_site_baseline.attempted END + excluded.attempted, "
            "issuer_unavailable = CASE WHEN txn_site_baseline.attempted >= ? "
            "THEN txn_site_baseline.issuer_unavailable / 2 ELSE txn_site_baseline.issuer_unavailable END "
            "+ excluded.issuer_unavailable, "
            "timed_out = CASE WHEN txn_site_baseline.attempted >= ? THEN txn_site_baseline.timed_out / 2 "
            "ELSE txn_site_baseline.timed_out END + excluded.timed_out, "
            "reversed = CASE WHEN txn_site_baseline.attempted >= ? THEN txn_site_baseline.reversed / 2 "
            "ELSE txn_site_baseline.reversed END + excluded.reversed",
            [(site, how, *v, cap, cap, cap, cap) for (site, how), v in sums.items()],
        )
        set_meta(conn, CURSOR_KEY, str(rows[-1][0]))
        return len(rows)

    def step(self, conn: Connection, now: datetime) -> list[Verdict]:
        """Judge every store that reported windows in the last ``window_s`` (and those with
        a spike open, so that a store that went quiet clears)."""
        since = to_db(now - timedelta(seconds=self.s.window_s))
        recent: dict[str, tuple[int, int, int, int, str, str]] = {}
        # site -> acquirer -> failures per category (a store's sales go to a few acquirers)
        by_acquirer: dict[str, dict[str, tuple[int, int, int]]] = defaultdict(dict)
        for site, acquirer, region, tz, n, iu, to, rv in conn.execute(
            f"SELECT {SITE}, a.acquirer, MAX({REGION}), "
            f"MAX({ZONE}), SUM(a.approved + a.declined + a.reversed + "
            "a.timed_out + a.error), SUM(a.rc_issuer_unavailable), SUM(a.timed_out), "
            "SUM(a.reversed) FROM txn_aggregates a "
            "LEFT JOIN terminals t ON t.terminal_id = a.terminal_id AND a.terminal_id != '' "
            "LEFT JOIN gateways g ON g.gateway_id = a.gateway_id "
            f"LEFT JOIN sites s ON s.site_id = {SITE} "
            "WHERE a.received_at >= ? AND a.historical = 0 "
            f"GROUP BY {SITE}, a.acquirer",
            (since,),
        ):
            if not site:
                continue
            # One row per acquirer: the place is the greatest over them all, as MAX over the
            # store's windows was before they were told apart (never the first row's: its
            # order is the engine's, and terminals may disagree on their region; NULL: no
            # gateway row, no region).
            was = recent.get(site, (0, 0, 0, 0, region, tz))
            recent[site] = (
                was[0] + int(n), was[1] + int(iu), was[2] + int(to), was[3] + int(rv),
                max(was[4] or "", region or ""), max(was[5], tz),
            )  # fmt: skip
            by_acquirer[site][acquirer] = (int(iu), int(to), int(rv))
        out: list[Verdict] = []
        for site in sorted(set(recent) | self.active):
            n, iu, to, rv, region, tz = recent.get(site, (0, 0, 0, 0, "", "UTC"))
            # The store's usual shares over the hours of the week the window covers (a
            # window straddling 21:00 on Sunday is judged against 20:00 and 21:00 both).
            base = [0.0, 0.0, 0.0, 0.0]
            start = now - timedelta(seconds=self.s.window_s)
            for how, hours in split_hours(start, now, zone(tz)):
                row = conn.execute(
                    "SELECT attempted, issuer_unavailable, timed_out, reversed "
                    "FROM txn_site_baseline WHERE site_id = ? AND how = ?",
                    (site, how),
                ).fetchone()
                for i, v in enumerate(row or ()):
                    base[i] += v * hours
            active = site in self.active
            hits = []
            for i, (cat, failed) in enumerate(zip(CATEGORIES, (iu, to, rv), strict=True)):
                limit = threshold(base[i + 1], base[0], self.s)
                if spiking(failed, n, limit, self.s, active=active):
                    hits.append((cat, failed, limit))
            key = Key(Kind.TXN_FAILURE_SPIKE, SubjectType.SITE, site)
            place = Place(region_id=region, site_id=site)
            if not hits:
                self.active.discard(site)
                out.append(Verdict(key, False, place))
                continue
            self.active.add(site)
            minutes = int(self.s.window_s // 60)
            what = "; ".join(
                f"{LABEL[cat]} {failed} of {n} ({failed / n:.0%}, usually under {limit:.0%})"
                for cat, failed, limit in hits
            )
            acquirer = self._acquirer(conn, by_acquirer.get(site, {}), [c for c, _, _ in hits])
            summary = f"Site {site}: sales failing in the last {minutes} min: {what}"
            if acquirer:
                summary += f" (on acquirer {acquirer})"
            details = {
                "category": hits[0][0],
                "categories": [c for c, _, _ in hits],
                "attempted": n,
                "acquirer": acquirer,  # always set: an update must clear a previous one
            }
            out.append(Verdict(key, True, place, summary, details))
        return out

    def _acquirer(
        self, conn: Connection, failed: dict[str, tuple[int, int, int]], categories: list[str]
    ) -> str:
        """The acquirer the spike's failures are on (``acquirer_share`` of them), as the
        counters label it; '' when they are spread, or its label is shared (other, unknown)."""
        idx = [CATEGORIES.index(c) for c in categories]
        acquirer = dominant(
            {a: sum(v[i] for i in idx) for a, v in failed.items()}, self.s.acquirer_share
        )
        if acquirer in ("", OTHER_ACQUIRER, NO_ACQUIRER):
            return ""
        # Named by the counters (collector/store/transactions.py: the first ACQUIRERS_MAX
        # seen) iff it has rows of its own there; a later one counts as 'other'.
        named = conn.execute(
            "SELECT 1 FROM txn_totals WHERE acquirer = ? LIMIT 1", (acquirer,)
        ).fetchone()
        return acquirer if named else ""

    def load(self, conn: Connection) -> None:
        """After a restart: the spikes the store holds are this sweep's to clear."""
        self.active = {
            sid
            for (sid,) in conn.execute(
                "SELECT subject_id FROM alerts WHERE kind = ? AND state != 'resolved'",
                (Kind.TXN_FAILURE_SPIKE.value,),
            )
        }
