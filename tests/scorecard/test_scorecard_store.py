"""The scorecard reads the pages from the collectors' store on either engine (an SQLite file
or a PostgreSQL database), and from the command line with ``--db URL`` too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.store import db
from collector.store.migrate import ensure_schema
from simulators.main import main as sim_main
from simulators.scorecard import Page, read_pages

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def _store(target: str) -> str:
    conn = db.connect(target)
    ensure_schema(conn)
    with conn:
        conn.executemany(
            "INSERT INTO gateways (gateway_id, site_id) VALUES (?, ?)",
            [("gw-1", "s-1"), ("gw-2", "s-2")],
        )
        conn.execute("INSERT INTO terminals (terminal_id, gateway_id, site_id) VALUES (?, ?, ?)",
                     ("pp-1", "gw-1", "s-1"))  # fmt: skip
        conn.executemany(
            "INSERT INTO alerts (kind, subject_type, subject_id, state, started_at, fired_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("gateway_down", "gateway", "gw-2", "firing", at(100), at(130)),
                ("gateway_down", "gateway", "gw-1", "resolved", at(5), at(40)),
                ("gateway_down", "gateway", "gw-1", "pending", at(200), None),  # never paged
                ("maintenance_overdue", "terminal", "pp-1", "firing", at(1), at(2)),  # not paging
            ],
        )
    conn.close()
    return target


def test_pages_and_sites_are_read_from_the_store_on_either_engine(store_url: str) -> None:
    pages, site_of = read_pages(_store(store_url))
    assert pages == [
        Page("gateway_down", "gateway", "gw-1", T0 + timedelta(seconds=40)),
        Page("gateway_down", "gateway", "gw-2", T0 + timedelta(seconds=130)),
    ]
    assert site_of == {"gw-1": "s-1", "gw-2": "s-2", "pp-1": "s-1"}


def test_the_scorecard_command_takes_the_store_url(store_url: str, tmp_path: Path, capsys) -> None:
    store = _store(store_url)
    lines = [
        {"fault": "gateway_down", "subject_type": "gateway", "subject_id": "gw-2",
         "start": at(0), "end": None, "expect_alert": "gateway_down"},
        {"fault": "gateway_down_end", "subject_type": "gateway", "subject_id": "gw-2",
         "start": at(600), "end": at(600), "expect_alert": None},
    ]  # fmt: skip
    facts = tmp_path / "truth.jsonl"
    facts.write_text("".join(json.dumps(r) + "\n" for r in lines))
    code = sim_main(["scorecard", "--db", store, "--truth", str(facts)])
    card = json.loads(capsys.readouterr().out)
    down = card["by_fault"]["gateway_down"]
    assert (down["detected"], down["missed"], down["duplicate"]) == (1, 0, 0)
    assert card["false_pages"] == [f"gateway_down gateway gw-1 at {at(40)}"]
    assert code == 1  # the false page fails the card
