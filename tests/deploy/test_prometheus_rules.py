"""The shipped Prometheus config and alert rules, checked and unit-tested with promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.stack.prometheus import PROM_DIR, REPO, RULES

RULE_TESTS = PROM_DIR / "tests" / "posfleet.rules.test.yml"
# Every shipped rule file (prometheus.yml loads rules/*.rules.yml) and every unit-test file.
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.rules.yml"))
RULE_TEST_FILES = sorted((PROM_DIR / "tests").glob("*.test.yml"))


# `promtool test rules` evaluates every rule at every step of each test's time span (a week
# and more for the transaction rules' `offset 1w`): 30 s alone, over 3 minutes measured on
# the shared 2-core machine at load average 11, 5 minutes at 8 with two runs at once. A
# deadline, not a wait; pytest-timeout's 300 s is raised to match on the two tests.
UNIT_TESTS_TIMEOUT_S = 900


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _rules(path: Path) -> list[dict[str, Any]]:
    """Every rule of ``path``, recording and alerting."""
    doc = yaml.safe_load(path.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _alert_rules(*paths: Path) -> list[dict[str, Any]]:
    """The alert rules of ``paths``, by default of every shipped rule file."""
    return [rule for path in paths or RULE_FILES for rule in _rules(path) if "alert" in rule]


def test_shipped_prometheus_config_and_its_rule_files_pass_promtool_check(
    promtool_exe: str,
) -> None:
    result = _run([promtool_exe, "check", "config", str(PROM_DIR / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout + result.stderr


def test_alert_rules_pass_promtool_check_rules(promtool_exe: str) -> None:
    for path in RULE_FILES:
        result = _run([promtool_exe, "check", "rules", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(_rules(path))} rules found" in result.stdout + result.stderr


@pytest.mark.timeout(UNIT_TESTS_TIMEOUT_S + 60)
def test_alert_rules_pass_their_promtool_unit_tests(promtool_exe: str) -> None:
    # Every rule file is some unit-test file's rule file.
    tested = {
        (path.parent / rule_file).resolve()
        for path in RULE_TEST_FILES
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]
    }
    assert {path.resolve() for path in RULE_FILES} <= tested
    result = _run([promtool_exe, "test", "rules", *map(str, RULE_TEST_FILES)], UNIT_TESTS_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_has_a_firing_and_a_silent_promtool_case() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _alert_rules()}
    assert names - firing == set(), "rules without a firing unit test"
    # The engine-fed rules share one shape (`posfleet_alert_firing:held{alertname=kind} == 1`);
    # the silent cases of gateway/site/terminal stand for them. Every rule with its own
    # threshold or hold time must be shown silent below it.
    thresholded = {rule["alert"] for rule in _alert_rules() if "for" in rule}
    assert thresholded - silent == set(), "thresholded rules without a silent unit test"
    assert {"PosfleetSiteDown", "PosfleetGatewayDown"} <= silent


def test_every_alert_has_severity_summary_description_and_a_runbook_that_exists() -> None:
    for rule in _alert_rules():
        name = rule["alert"]
        annotations = rule.get("annotations", {})
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), name
        for word in ("What:", "Where:", "Since:"):
            assert word in annotations["description"], f"{name}: description lacks {word}"
        runbook = annotations["runbook_url"]
        marker = "/blob/main/"
        assert marker in runbook, f"{name}: runbook_url {runbook} is not in this repository"
        assert (REPO / runbook.split(marker, 1)[1]).is_file(), f"{name}: {runbook} missing"
        # Severity comes from the rule, or for engine-fed rules from the series itself.
        assert "severity" in rule.get("labels", {}) or "posfleet_alert_firing" in rule["expr"]


def test_every_alert_has_a_chinese_summary_and_description_with_what_where_and_whom_to_call() -> (
    None
):
    # NOC operators in China read the page in Chinese (templates/posfleet.tmpl shows these
    # first, and the start in China time from StartsAt: the engine's `since` label is UTC,
    # so it has no place in the Chinese text).
    for rule in _alert_rules():
        name = rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary_zh"), f"{name}: no summary_zh"
        description = annotations.get("description_zh", "")
        for word in ("内容：", "位置：", "联系："):
            assert word in description, f"{name}: description_zh lacks {word}"
        assert "$labels.since" not in description, name


@pytest.mark.timeout(UNIT_TESTS_TIMEOUT_S + 60)
def test_a_rule_that_matches_the_wrong_alert_kind_fails_the_unit_tests(
    promtool_exe: str, tmp_path: Path
) -> None:
    # Guards against unit tests that cannot fail: break one rule, the suite must notice.
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    broken = RULES.read_text().replace('alertname="gateway_down"', 'alertname="gw_down"')
    assert broken != RULES.read_text()
    (tmp_path / "rules" / RULES.name).write_text(broken)
    (tmp_path / "tests" / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = _run(
        [promtool_exe, "test", "rules", str(tmp_path / "tests" / RULE_TESTS.name)],
        UNIT_TESTS_TIMEOUT_S,
    )
    assert result.returncode != 0
    assert "PosfleetGatewayDown" in result.stdout + result.stderr


def test_every_alert_kind_of_the_engine_has_exactly_one_rule() -> None:
    # The contract between the engine (alerts.kind -> posfleet_alert_firing{alertname}) and
    # the rules: a new kind without a rule would never page.
    from collector.alerts.model import Kind

    # They read the held series, so a collector death neither resolves nor re-pages them.
    kinds: list[str] = []
    for rule in _alert_rules(RULES):
        kinds += re.findall(r'posfleet_alert_firing:held\{alertname="([a-z_]+)"\}', rule["expr"])
    assert sorted(kinds) == sorted(k.value for k in Kind)
