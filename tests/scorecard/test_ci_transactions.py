"""The CI scenario of transaction health (simulators/scenarios/library/ci-transactions.toml):
40 gateways' payment devices back-fill two weeks of transaction windows, then report live
while stuck payment apps, an issuer outage, network time-outs, a duplicated refund and a
late settlement file strike, through a real Mosquitto and a real collector process. The
scorecard must show 0 missed, 0 false, 0 duplicate.

One run serves every test of the module (about three minutes). The failure-spike tests need
the collector's ``txn_failure_spike`` detector.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.services import missing

from simulators.broker import find_mosquitto
from simulators.fleetmodel import generate
from simulators.scenarios import library
from simulators.scenarios.run import RunResult, ScenarioRun
from simulators.scenarios.spec import TXN_FAULTS, load

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    if find_mosquitto() is None:
        missing("mosquitto")
    out = tmp_path_factory.mktemp("ci-transactions")
    scenario = load(library()["ci-transactions"])
    result = ScenarioRun(scenario, generate(scenario.fleet.gateways, scenario.seed), out).run()
    return result, out


def _truth(out: Path, fault: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    return [r for r in rows if r["fault"] == fault]


def _db(out: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{out / 'collector.sqlite'}?mode=ro", uri=True)


def test_every_transaction_fault_was_injected_and_no_page_or_case_is_false(
    run: tuple[RunResult, Path],
) -> None:
    result, out = run
    card = result.scorecard
    assert json.loads((out / "scorecard.json").read_text())["scorecard"] == card
    assert set(TXN_FAULTS) <= set(card["by_fault"]), sorted(card["by_fault"])
    assert card["false"] == 0, card["false_pages"]
    assert result.fleet["publish_errors"] == 0
    assert result.fleet["txn_history_windows"] > 0
    assert result.fleet["txn_live_windows"] > 0


def test_a_stuck_payment_app_pages_terminal_silent_once_for_its_terminal(
    run: tuple[RunResult, Path],
) -> None:
    result, out = run
    s = result.scorecard["by_fault"]["stuck_app"]
    assert s["expected"] == 2
    assert (s["detected"], s["missed"], s["duplicate"]) == (2, 0, 0), s
    stuck = {r["subject_id"] for r in _truth(out, "stuck_app")}
    with _db(out) as conn:
        silent = {
            tid
            for (tid,) in conn.execute(
                "SELECT subject_id FROM alerts WHERE kind = 'terminal_silent' "
                "AND fired_at IS NOT NULL"
            )
        }
    assert silent == stuck


def test_a_duplicated_refund_opens_one_mismatch_case_short_by_the_refund(
    run: tuple[RunResult, Path],
) -> None:
    result, out = run
    s = result.scorecard["by_fault"]["duplicated_refund"]
    assert (s["expected"], s["detected"], s["missed"], s["duplicate"]) == (1, 1, 0, 0), s
    (mark,) = _truth(out, "duplicated_refund")
    terminal, batch = mark["subject_id"].split("/")
    with _db(out) as conn:
        cases = conn.execute(
            "SELECT kind, status, terminal_count, terminal_amount, settled_count, settled_amount, "
            "difference FROM shortfall_cases"
        ).fetchall()
        reported = (
            conn.execute(
                "SELECT count, amount FROM txn_batches WHERE terminal_id = ? AND batch_id = ?",
                (terminal, batch),
            ).fetchone()
            or conn.execute(
                "SELECT count, amount FROM txn_batches WHERE gateway_id = ? AND terminal_id = '' "
                "AND batch_id = ?",
                (terminal, batch),
            ).fetchone()
        )
    (settled,) = [
        r
        for name in sorted((out / "settlement").iterdir())
        for r in csv.DictReader(io.StringIO(name.read_text()))
        if (r["terminal"], r["batch"]) == (terminal, batch)
    ]
    settled_minor = round(float(settled["amount"]) * 100)
    # The case holds the terminal's own batch (as it reported it) against the file's figures.
    assert cases == [
        (
            "mismatch",
            "open",
            reported[0],
            reported[1],
            int(settled["count"]),
            settled_minor,
            reported[1] - settled_minor,
        )
    ]
    assert int(settled["count"]) == reported[0] + 1  # the refund booked twice
    assert reported[1] - settled_minor > 0  # the merchant is short


def test_a_late_settlement_file_opens_no_case_before_or_after_it_arrives(
    run: tuple[RunResult, Path],
) -> None:
    _result, out = run
    (start,) = _truth(out, "late_settlement")
    (end,) = _truth(out, "late_settlement_end")
    assert end["start"] > start["start"]
    with _db(out) as conn:
        imports = conn.execute(
            "SELECT name, first_day, imported_at FROM settlement_imports ORDER BY id"
        ).fetchall()
        late_day = imports[-1][1]
        cases = conn.execute(
            "SELECT kind, batch_id FROM shortfall_cases WHERE business_date = ?", (late_day,)
        ).fetchall()
        batches = conn.execute(
            "SELECT count(*) FROM settlement_rows WHERE business_date = ?", (late_day,)
        ).fetchone()[0]
    # The late day's file came last, after the others, and settled every batch of its day.
    assert len(imports) == 2
    assert imports[0][1] > late_day
    due, arrived = datetime.fromisoformat(start["start"]), datetime.fromisoformat(imports[-1][2])
    assert due < arrived <= datetime.fromisoformat(end["start"])
    assert batches > 0
    assert cases == []


@pytest.mark.parametrize("fault", ["issuer_outage", "network_timeouts"])
def test_a_failure_spike_at_a_store_pages_txn_failure_spike_once(
    run: tuple[RunResult, Path], fault: str
) -> None:
    """Needs the collector's per-site failure-spike detector (txn_failure_spike)."""
    result, _out = run
    s = result.scorecard["by_fault"][fault]
    assert s["expected"] == 1
    assert (s["detected"], s["missed"], s["duplicate"]) == (1, 0, 0), s


def test_the_whole_scorecard_is_clean(run: tuple[RunResult, Path]) -> None:
    result, _out = run
    for fault, s in result.scorecard["by_fault"].items():
        assert (s["missed"], s["duplicate"]) == (0, 0), (fault, s)
        assert s["detected"] == s["expected"], (fault, s)
    assert result.ok, result.problems
