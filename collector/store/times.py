"""The store's one time format, for every table and every reader.

Aware UTC times as ISO-8601 text with microseconds (``2026-11-30T08:00:00.000000+00:00``):
fixed width, so text order is time order and SQL can compare and sort them as text. A naive
time is refused on the way in (whose clock would it be?); on the way out a naive text, which
only a hand-edited row can hold, is read as UTC, the only zone the store ever writes.
"""

from __future__ import annotations

from datetime import UTC, datetime


class NaiveTimeError(ValueError):
    """A time without a zone reached the store: a programming error, not bad input."""


def to_db(when: datetime) -> str:
    if when.tzinfo is None:
        raise NaiveTimeError(f"naive datetime {when!r}: the store holds aware UTC times only")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def from_db_opt(value: str | None) -> datetime | None:
    return from_db(value) if value else None


class DbTimes:
    """``to_db`` remembered by value, for one batch's write: a transaction window's
    receipt time is also its terminal's and gateway's ``last_seen_at``, and a fleet's windows
    share their bounds, so one conversion (2-5 µs for a pydantic datetime) serves them all.
    Equal aware times are the same instant, hence the same text; a naive time is never
    remembered (``to_db`` refuses it every time)."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[datetime, str] = {}

    def __call__(self, when: datetime) -> str:
        text = self._memo.get(when)
        if text is None:
            text = self._memo[when] = to_db(when)
        return text
