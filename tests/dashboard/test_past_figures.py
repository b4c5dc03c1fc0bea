"""The month's finished days: computed once per process (and before the port opens), then
kept for PAST_TTL_S; a real store (either engine) from the simulator-style fleet."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from collector.store import db
from collector.store.times import to_db
from dashboard import queries, serve
from dashboard.queries_ops import day_start, month_start
from simulators.stack.seeded_store import NOW
from simulators.stack.wait import wait_for

START, END = month_start(NOW), day_start(NOW)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    queries.clear_past()
    yield
    queries.clear_past()


def direct(store: object) -> object:
    with queries.open_ro(str(store)) as conn:
        return queries.fleet_reliability(conn, START, END)


def add_outage(store: object) -> None:
    conn = db.connect(str(store))
    with conn:
        gw = conn.execute(
            "SELECT gateway_id FROM gateways WHERE status='online' LIMIT 1"
        ).fetchone()
        conn.execute(
            "INSERT INTO incidents (subject_type, subject_id, started_at, ended_at, class) "
            "VALUES ('gateway', ?, ?, ?, 'fault')",
            (gw[0], to_db(START.replace(day=3)), to_db(START.replace(day=4))),
        )
    conn.close()


def test_kept_within_the_ttl_and_read_again_after(fleet, monkeypatch) -> None:
    first = queries.past_reliability(fleet.path, START, END)
    assert first == direct(fleet.path)
    add_outage(fleet.path)  # a late correction
    assert queries.past_reliability(fleet.path, START, END) is first  # within the TTL
    monkeypatch.setattr(queries, "PAST_TTL_S", 0.0)
    later = queries.past_reliability(fleet.path, START, END)
    assert later == direct(fleet.path)
    assert later.downtime_s == pytest.approx(first.downtime_s + 86400)


def test_the_console_computes_it_before_it_opens_its_port(fleet) -> None:
    assert not queries._PAST
    serve.warm(["--db", str(fleet.path)])  # POSFLEET_DASHBOARD_NOW is the fleet's NOW
    assert list(queries._PAST) == [(str(fleet.path), START, END)]
    assert queries._PAST[(str(fleet.path), START, END)][1] == direct(fleet.path)


def test_warming_a_missing_store_leaves_it_to_the_page(tmp_path) -> None:
    serve.warm(["--db", str(tmp_path / "nope.sqlite")])
    assert not queries._PAST


def test_a_fresh_warm_replaces_the_kept_figure_before_it_expires(fleet) -> None:
    first = queries.past_reliability(fleet.path, START, END)
    add_outage(fleet.path)  # a late correction
    serve.warm(["--db", str(fleet.path)], fresh=True)  # what the refresher does
    kept = queries.past_reliability(fleet.path, START, END)
    assert kept == direct(fleet.path)
    assert kept.downtime_s == pytest.approx(first.downtime_s + 86400)
    assert queries.past_reliability(fleet.path, START, END) is kept  # kept again, afresh


def test_the_console_keeps_the_month_figure_fresh_in_the_background(fleet) -> None:
    """No viewer waits for the month's finished days after the first 10 minutes: a thread
    of the console's process computes them again before the kept figure expires."""
    serve.warm(["--db", str(fleet.path)])
    first = queries.past_reliability(fleet.path, START, END)
    add_outage(fleet.path)
    stop = threading.Event()
    thread = serve.keep_warm(["--db", str(fleet.path)], every_s=0.05, stop=stop)
    try:
        assert thread.daemon  # never holds the console's exit
        wait_for(
            lambda: queries._PAST[(str(fleet.path), START, END)][1] != first,
            30,
            what="the refresher to compute the month again",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert queries.past_reliability(fleet.path, START, END) == direct(fleet.path)


def test_the_console_starts_the_refresher_with_its_own_arguments(fleet, monkeypatch) -> None:
    from streamlit.web import cli

    started: list[list[str]] = []
    monkeypatch.setattr(serve, "keep_warm", lambda argv: started.append(argv))
    monkeypatch.setattr(cli, "main", lambda: None)  # Streamlit itself is not the point here
    monkeypatch.setattr(
        "sys.argv", ["dashboard.serve", "run", "app.py", "--", "--db", str(fleet.path)]
    )
    serve.main()
    assert started == [["--db", str(fleet.path)]]
    assert (str(fleet.path), START, END) in queries._PAST  # and warmed before the port
