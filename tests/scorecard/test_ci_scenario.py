"""The CI scenario (simulators/scenarios/library/ci.toml): every fault kind of the library
on 300 gateways, through a real Mosquitto and a real collector process, scored against the
ground truth. The scorecard must show 0 missed, 0 false, 0 duplicate; every bad message
must be counted under its reason; the fleet must see no publish error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators.fleetmodel import generate
from simulators.scenarios import library
from simulators.scenarios.run import ScenarioRun
from simulators.scenarios.spec import BAD_INPUTS, FAULTS, load

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

NO_PAGE = {"bad_input", "broker_restart", "collector_restart", "firmware_rollout",
           "firmware_rollback", "maintenance_window"}  # fmt: skip


def test_ci_scenario_scorecard_has_no_miss_no_false_page_no_duplicate(
    tmp_path: Path, require_mosquitto: None
) -> None:
    scenario = load(library()["ci"])
    run = ScenarioRun(scenario, generate(scenario.fleet.gateways, scenario.seed), tmp_path)
    result = run.run()
    card = result.scorecard
    saved = json.loads((tmp_path / "scorecard.json").read_text())
    assert saved["scorecard"] == card
    assert card["false"] == 0, card["false_pages"]
    by_fault = card["by_fault"]
    # Every fault kind of the file was injected and each one that should page did, once.
    assert set(FAULTS) <= set(by_fault), sorted(by_fault)
    for fault, s in by_fault.items():
        assert (s["missed"], s["duplicate"]) == (0, 0), (fault, s)
        assert s["detected"] == s["expected"], (fault, s)
        if fault not in NO_PAGE:
            assert s["expected"] >= 1, (fault, s)
    for reason in BAD_INPUTS:
        assert result.bad_input[reason]["counted"] == result.bad_input[reason]["injected"] == 2
    assert result.fleet["publish_errors"] == 0
    assert result.ok, result.problems
