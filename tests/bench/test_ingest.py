"""bench/ingest.py's fair ceiling and its count after commit (issue #14): collectors are
counted when their batch's transaction has committed, bare subscribers run the collector's
read path, and N of either share one ``$share`` group on a real Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench._ingest_member import CommitCounter, Tally
from bench.ingest import Databases, run_group
from collector.inventory import upsert_rows
from collector.store.sqlite import Batch, SqliteStore, SubjectUpdate
from simulators.broker import MosquittoProcess


def _store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "s.sqlite")
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": "gw-1"}])
    return store


def _batch(at: datetime, n: int) -> Batch:
    return Batch(gateways={"gw-1": SubjectUpdate(last_seen_at=at)}, accepted={"heartbeat": n})


def test_messages_count_only_once_their_transaction_has_committed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    tally = Tally()
    counter = CommitCounter(store, tally)
    counter.reset()
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with store.transaction() as conn:
        store.write(conn, _batch(at, 3))
        assert tally.count == 0, "counted before the commit"
    assert tally.count == 3
    assert tally.last is not None
    assert tally.cpu_at_last > 0
    assert counter.commits == 1
    assert counter.rows_written() == 1  # the one gateway row
    (seen,) = store.conn.execute("SELECT last_seen_at FROM gateways").fetchone()
    assert seen is not None


def test_a_batch_that_rolls_back_is_not_counted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    tally = Tally()
    counter = CommitCounter(store, tally)
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def failing_batch() -> None:
        with store.transaction() as conn:
            store.write(conn, _batch(at, 5))
            raise RuntimeError("the batch fails")

    with pytest.raises(RuntimeError):
        failing_batch()
    with store.transaction():
        pass  # a transaction without messages (a listener tick) counts no message
    assert tally.count == 0
    assert counter.commits == 1
    (seen,) = store.conn.execute("SELECT last_seen_at FROM gateways").fetchone()
    assert seen is None


@pytest.mark.parametrize("role", ["bare", "collector"])
def test_two_members_of_a_share_group_count_every_message_once(
    role: str, mosquitto: MosquittoProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    gateways, per = 20, 5
    # Collectors share a group only on PostgreSQL (an SQLite store has one collector).
    target = request.getfixturevalue("pg_url") if role == "collector" else "sqlite"
    with Databases(target, tmp_path) as dbs:
        got = run_group(role, 2, mosquitto.port, gateways, per, tmp_path, dbs, "t")
    assert sum(got["per_member"]) == gateways * per
    assert all(n > 0 for n in got["per_member"]), "the broker shared the backlog"
    assert got["rate"] > 0
    assert got["cpu_s"] > 0
    if role == "collector":
        # The collectors' own accepted-messages metric agrees with what was committed.
        assert got["accepted_counter"] == gateways * per
        assert not got["rejected"]
        assert got["commits"] >= 2
        assert got["rows_written"] >= gateways  # each gateway's row at least once
