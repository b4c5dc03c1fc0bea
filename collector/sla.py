"""Availability, MTTR and MTBF from ``incidents`` rows: plain functions, no I/O.

Used by the dashboard and the metrics. Time covered by excluded classes (planned
maintenance; administrative suspension by default) counts neither as up nor as down:
it is removed from the period. A fault incident overlapping a planned window only counts
outside the window. Open incidents run until ``now`` (or the period's end).

A subject is observed only from when the collector first saw it (``Subject.observed_from``):
time before a device existed, or before the collector watched it, is neither up nor down,
so it cannot inflate availability or MTBF.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from collector.store.times import from_db

DEFAULT_EXCLUDED = ("planned", "administrative")

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Incident:
    subject_type: str
    subject_id: str
    started_at: datetime
    ended_at: datetime | None
    cls: str = "fault"
    site_id: str = ""
    region_id: str = ""
    model: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Incident:
        """From an ``incidents`` row read with ``sqlite3.Row`` (or any mapping)."""
        ended = row.get("ended_at")
        return cls(
            subject_type=str(row["subject_type"]),
            subject_id=str(row["subject_id"]),
            started_at=from_db(str(row["started_at"])),
            ended_at=from_db(str(ended)) if ended else None,
            cls=str(row.get("class") or "fault"),
            site_id=str(row.get("site_id") or ""),
            region_id=str(row.get("region_id") or ""),
            model=str(row.get("model") or ""),
        )

    # The columns ``from_values`` takes, in order: select them in this order to read many
    # incidents without a dict per row (a month of a large fleet is tens of thousands).
    COLUMNS = "subject_type, subject_id, started_at, ended_at, class, site_id, region_id, model"

    @classmethod
    def from_values(
        cls,
        subject_type: str,
        subject_id: str,
        started_at: str,
        ended_at: str | None,
        klass: str | None,
        site_id: str | None,
        region_id: str | None,
        model: str | None,
    ) -> Incident:
        return cls(
            subject_type,
            subject_id,
            from_db(started_at),
            from_db(ended_at) if ended_at else None,
            klass or "fault",
            site_id or "",
            region_id or "",
            model or "",
        )


@dataclass(frozen=True, slots=True)
class Subject:
    """One gateway or terminal of the population, and since when it is observed (None:
    never seen, so never observed)."""

    subject_type: str
    subject_id: str
    observed_from: datetime | None
    site_id: str = ""
    region_id: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True)
class Cohort:
    """``count`` subjects first seen at ``observed_from`` (None: never seen): a population
    as SQL can count it (``GROUP BY`` first sighting), without one object per subject."""

    observed_from: datetime | None
    count: int


@dataclass(frozen=True, slots=True)
class Reliability:
    subjects: int
    observed_s: float  # subjects x period, minus excluded time
    downtime_s: float
    excluded_s: float
    failures: int  # fault incidents that started in the period
    repairs: int  # fault incidents that ended in the period
    mttr_s: float | None  # mean time to repair of the repaired ones
    mtbf_s: float | None  # up time / failures

    @property
    def availability(self) -> float | None:
        if self.observed_s <= 0:
            return None
        return max(0.0, 1.0 - self.downtime_s / self.observed_s)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _subtract(intervals: list[Interval], cut: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in intervals:
        pieces = [(s, e)]
        for cs, ce in cut:
            pieces = [
                p
                for ps, pe in pieces
                for p in ((ps, min(pe, cs)), (max(ps, ce), pe))
                if p[0] < p[1]
            ]
        out.extend(pieces)
    return out


def _seconds(intervals: Iterable[Interval]) -> float:
    return sum((e - s).total_seconds() for s, e in intervals)


def reliability(
    incidents: Iterable[Incident],
    start: datetime,
    end: datetime,
    *,
    population: int | None = None,
    subjects: Iterable[Subject] | None = None,
    cohorts: Iterable[Cohort] | None = None,
    now: datetime | None = None,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDED,
) -> Reliability:
    """Figures for one set of subjects over ``[start, end)``.

    ``subjects`` is the set, including those without incidents, each observed from its
    ``observed_from``; or ``cohorts``, the same set counted by first sighting, which must
    hold every subject of ``incidents`` (the caller counts one that is not in the set as
    seen at ``start``, as ``subjects`` does); or, coarser, ``population`` is how many
    subjects the set has, each observed the whole period (without any of them, only
    subjects that had an incident are counted, which understates availability).
    """
    if end <= start:
        raise ValueError(f"empty period: {start} .. {end}")
    horizon = min(end, now) if now is not None else end
    period = (horizon - start).total_seconds()
    per_subject: dict[tuple[str, str], list[Incident]] = defaultdict(list)
    for inc in incidents:
        per_subject[(inc.subject_type, inc.subject_id)].append(inc)

    downtime = excluded = 0.0
    failures = repairs = 0
    repair_s = 0.0
    for incs in per_subject.values():
        fault: list[Interval] = []
        cut: list[Interval] = []
        for inc in incs:
            s = max(inc.started_at, start)
            e = min(inc.ended_at or horizon, horizon)
            if inc.cls in exclude:
                if s < e:
                    cut.append((s, e))
                continue
            if s < e:
                fault.append((s, e))
            if start <= inc.started_at < horizon:
                failures += 1
            if inc.ended_at is not None and start <= inc.ended_at < horizon:
                repairs += 1
                repair_s += (inc.ended_at - inc.started_at).total_seconds()
        if not cut:  # most subjects: faults only, nothing to cut out
            if len(fault) == 1:
                downtime += (fault[0][1] - fault[0][0]).total_seconds()
            elif fault:
                downtime += _seconds(_merge(fault))
            continue
        cut = _merge(cut)
        excluded += _seconds(cut)
        downtime += _seconds(_subtract(_merge(fault), cut))

    if cohorts is not None:
        count = 0
        observed = -excluded
        for cohort in cohorts:
            count += cohort.count
            if cohort.observed_from is not None:
                span = (horizon - max(start, cohort.observed_from)).total_seconds()
                observed += cohort.count * max(0.0, span)
    elif subjects is None:
        count = max(population or 0, len(per_subject))
        observed = count * period - excluded
    else:
        watched = {(x.subject_type, x.subject_id): x.observed_from for x in subjects}
        for key in per_subject:
            watched.setdefault(key, start)  # had an incident: it was seen
        count = len(watched)
        observed = -excluded
        for since in watched.values():
            if since is not None:
                observed += max(0.0, (horizon - max(start, since)).total_seconds())
    observed = max(0.0, observed)
    up = observed - downtime
    return Reliability(
        subjects=count,
        observed_s=observed,
        downtime_s=downtime,
        excluded_s=excluded,
        failures=failures,
        repairs=repairs,
        mttr_s=repair_s / repairs if repairs else None,
        mtbf_s=up / failures if failures else None,
    )


def combine(a: Reliability, b: Reliability) -> Reliability:
    """The figures of two adjacent periods of the same subjects, as one period: downtime,
    excluded and observed time add up (``reliability`` clips every incident at the period's
    edges), and a failure or repair counts in the period where it happened. So a month's
    figure is its finished days (computed once) combined with today's."""
    repairs = a.repairs + b.repairs
    repair_s = (a.mttr_s or 0.0) * a.repairs + (b.mttr_s or 0.0) * b.repairs
    failures = a.failures + b.failures
    observed = a.observed_s + b.observed_s
    downtime = a.downtime_s + b.downtime_s
    return Reliability(
        subjects=max(a.subjects, b.subjects),
        observed_s=observed,
        downtime_s=downtime,
        excluded_s=a.excluded_s + b.excluded_s,
        failures=failures,
        repairs=repairs,
        mttr_s=repair_s / repairs if repairs else None,
        mtbf_s=(observed - downtime) / failures if failures else None,
    )


GROUPS = ("subject", "site", "region", "model")


def by_group(
    incidents: Iterable[Incident],
    start: datetime,
    end: datetime,
    by: str,
    *,
    population: Mapping[str, int] | None = None,
    subjects: Iterable[Subject] | None = None,
    now: datetime | None = None,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDED,
) -> dict[str, Reliability]:
    """``reliability`` per terminal/gateway ("subject"), site, region or model.

    ``subjects`` (each observed from its ``observed_from``), or coarser ``population``
    (group -> number of subjects); groups that had no incident are reported too
    (availability 1.0) when they appear there.
    """
    if by not in GROUPS:
        raise ValueError(f"group by {by!r}: use one of {', '.join(GROUPS)}")
    groups: dict[str, list[Incident]] = defaultdict(list)
    for inc in incidents:
        key = {
            "subject": inc.subject_id,
            "site": inc.site_id,
            "region": inc.region_id,
            "model": inc.model,
        }[by]
        groups[key].append(inc)
    for key in population or {}:
        groups.setdefault(key, [])
    members: dict[str, list[Subject]] | None = None
    if subjects is not None:
        members = defaultdict(list)
        for x in subjects:
            key = {"subject": x.subject_id, "site": x.site_id, "region": x.region_id,
                   "model": x.model}[by]  # fmt: skip
            members[key].append(x)
            groups.setdefault(key, [])
    return {
        key: reliability(
            incs,
            start,
            end,
            population=(population or {}).get(key, 1 if by == "subject" else None),
            subjects=None if members is None else members.get(key, []),
            now=now,
            exclude=exclude,
        )
        for key, incs in groups.items()
    }
