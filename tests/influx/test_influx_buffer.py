"""The on-disk point buffer: order, byte and age bounds, survival across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.sinks.buffer import PointBuffer


def _lines(n: int, start: int = 0) -> list[str]:
    return [f"m,gateway=g{i:04d} v={i:04d}.0 {1000 + i}" for i in range(start, start + n)]


def test_points_come_back_oldest_first_and_leave_only_when_deleted(tmp_path: Path) -> None:
    buf = PointBuffer(tmp_path / "b.sqlite", max_bytes=1_000_000, max_age_s=3600)
    buf.append(_lines(5), now=100.0)
    rows = buf.peek(3)
    assert [line for _, line in rows] == _lines(3)
    assert buf.delete_through(rows[-1][0]) == 3
    assert [line for _, line in buf.peek(10)] == _lines(2, start=3)
    assert buf.count == 2
    buf.close()


def test_when_full_the_oldest_points_are_dropped_and_counted(tmp_path: Path) -> None:
    lines = _lines(100)
    size = len(lines[0])
    buf = PointBuffer(tmp_path / "b.sqlite", max_bytes=size * 40, max_age_s=3600)
    dropped = buf.append(lines, now=1.0)
    assert dropped == 60
    assert buf.count == 40
    assert buf.bytes <= buf.max_bytes
    assert [line for _, line in buf.peek(100)] == lines[60:]
    buf.close()


def test_points_older_than_max_age_expire(tmp_path: Path) -> None:
    buf = PointBuffer(tmp_path / "b.sqlite", max_bytes=1_000_000, max_age_s=60)
    buf.append(_lines(3), now=1000.0)
    buf.append(_lines(2, start=3), now=1050.0)
    assert buf.expire(now=1059.0) == 0
    assert buf.expire(now=1061.0) == 3
    assert [line for _, line in buf.peek(10)] == _lines(2, start=3)
    buf.close()


def test_buffered_points_and_their_size_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buf = PointBuffer(path, max_bytes=1_000_000, max_age_s=3600)
    buf.append(_lines(7), now=1.0)
    size = buf.bytes
    buf.close()
    again = PointBuffer(path, max_bytes=1_000_000, max_age_s=3600)
    assert (again.count, again.bytes) == (7, size)
    assert [line for _, line in again.peek(10)] == _lines(7)
    again.close()


def test_nonsense_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        PointBuffer(tmp_path / "b.sqlite", max_bytes=0, max_age_s=1)
