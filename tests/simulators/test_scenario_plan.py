"""Scenario files and their compiled plans (pure: no broker, no collector)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simulators.fleetmodel import generate
from simulators.scenarios import library
from simulators.scenarios.inject import bad_messages
from simulators.scenarios.plan import Plan, compile_plan
from simulators.scenarios.spec import (
    FAULTS,
    TXN_FAULTS,
    ScenarioError,
    load,
    parse,
    parse_duration,
)
from telemetry.codec import Rejected, decode

FAST = {
    "fleet": {"gateways": 300, "heartbeat": "2s"},
    "collector": {
        "settings": {"grace_min_s": 1},
        "alerts": {"pending_gateway_down_s": 8, "pending_site_down_s": 3,
                   "pending_terminal_down_s": 12, "planned_grace_s": 20,
                   "poll_windows_s": 1},
    },
}  # fmt: skip


def plan_of(*events: dict[str, object], seed: int = 3, **top: object) -> Plan:
    s = parse({"name": "t", "seed": seed, **FAST, **top, "events": list(events)})
    return compile_plan(s, generate(s.fleet.gateways, s.seed))


@pytest.mark.parametrize("name", sorted(library()))
def test_every_library_scenario_loads_and_compiles(name: str) -> None:
    s = load(library()[name])
    plan = compile_plan(s, generate(s.fleet.gateways, s.seed))
    assert plan.steps, name
    assert plan.end > plan.steps[-1].at


def test_the_library_covers_every_fault_kind() -> None:
    used = {ev.fault for p in library().values() for ev in load(p).events}
    assert used == set(FAULTS) | set(TXN_FAULTS)


def test_the_ci_scenario_injects_every_fault_kind() -> None:
    assert {ev.fault for ev in load(library()["ci"]).events} == set(FAULTS)


def test_a_plan_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    ci = load(library()["ci"])
    fleet = generate(ci.fleet.gateways, ci.seed)
    a, b = compile_plan(ci, fleet), compile_plan(ci, fleet)
    assert a.steps == b.steps
    other = compile_plan(ci.model_copy(update={"seed": ci.seed + 1}), fleet)
    assert [s.targets for s in other.steps] != [s.targets for s in a.steps]


def test_durations_take_units() -> None:
    assert [parse_duration(v) for v in (90, "90s", "2m", "500ms", "1h", 1.5)] == [
        90.0, 90.0, 120.0, 0.5, 3600.0, 1.5]  # fmt: skip
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_an_unknown_fault_names_the_event_and_lists_the_faults() -> None:
    with pytest.raises(ScenarioError, match=r"events\[0\].*unknown fault; use one of: site_power"):
        parse({"name": "t", "events": [{"at": 1, "fault": "meteor"}]})


def test_an_unknown_key_names_the_event_and_the_key() -> None:
    with pytest.raises(ScenarioError, match=r"events\[0\] \(hung_app\) key hodl: unknown key"):
        parse({"name": "t", "events": [{"at": 1, "fault": "hung_app", "hodl": 5}]})


def test_an_unknown_collector_setting_names_it_and_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"\[collector.alerts\] has no setting 'pending_x'"):
        parse({"name": "t", "collector": {"alerts": {"pending_x": 1}}})


def test_a_bad_toml_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        load(bad)


def test_a_hold_too_short_to_page_is_refused_with_the_minimum() -> None:
    with pytest.raises(ScenarioError, match=r"hold 5s is shorter than the gateway_down page delay"):
        plan_of({"at": 1, "fault": "hung_app", "hold": "5s"})


def test_a_store_outage_kills_every_gateway_of_the_store_and_restores_them() -> None:
    plan = plan_of({"at": 10, "fault": "site_power_outage", "count": 2, "min_gateways": 2,
                    "hold": "30s"})  # fmt: skip
    kill, back = plan.steps
    assert (kill.op, kill.at, back.op, back.at) == ("kill", 10, "connect", 40)
    assert kill.targets == back.targets
    assert len(kill.targets) >= 4
    sites = [m.subject_id for m in kill.truth]
    fleet = generate(300, 3)
    assert set(kill.targets) == {g.gateway_id for s in sites for g in fleet.gateways_of_site(s)}
    assert {m.expect_alert for m in kill.truth} == {"site_down"}


def test_subjects_are_never_shared_between_events() -> None:
    plan = plan_of(
        {"at": 1, "fault": "regional_isp_outage", "region": "north", "share": 1.0},
        {"at": 1, "fault": "hung_app", "count": 20, "hold": "30s"},
        {"at": 1, "fault": "clock_skew", "count": 20},
    )
    fleet = generate(300, 3)
    north = {g.gateway_id for g in fleet.gateways if g.region_id == "north"}
    by_event = [{t for s in plan.steps if s.op == op for t in s.targets}
                for op in ("kill", "hang", "skew")]  # fmt: skip
    assert by_event[0] == north
    assert not by_event[1] & by_event[0]
    assert not by_event[2] & (by_event[0] | by_event[1])


def test_flapping_expects_one_flapping_alert_and_refuses_drops_that_would_page() -> None:
    plan = plan_of({"at": 0, "fault": "flapping_link", "cycles": 4, "down": "3s", "up": "5s"})
    assert [s.op for s in plan.steps] == ["kill", "connect"] * 4
    assert [m.expect_alert for s in plan.steps for m in s.truth if not m.end] == ["flapping"]
    with pytest.raises(ScenarioError, match="down 7s must be shorter than pending_gateway"):
        plan_of({"at": 0, "fault": "flapping_link", "down": "7s"})
    with pytest.raises(ScenarioError, match="a flapping alert needs more than flap_changes=5"):
        plan_of({"at": 0, "fault": "flapping_link", "cycles": 2})


def test_battery_truth_starts_when_the_reported_level_crosses_the_low_threshold() -> None:
    plan = plan_of({"at": 0, "fault": "battery_drain", "from_pct": 30, "pct_per_min": 60,
                    "report_every": "4s", "hold": "10s"})  # fmt: skip
    reports = [(s.at, s.kw.get("battery_pct"), bool(s.truth)) for s in plan.steps]
    start = next(r for r in reports if r[2])
    assert start[1] is not None
    assert start[1] <= 10.0
    assert all(pct > 10.0 for at, pct, _t in reports if at < start[0])
    assert plan.steps[-1].kw == {"battery_pct": 25.0, "charging": True}


def test_a_maintenance_overrun_is_a_hard_kill_expected_to_page_at_the_window_end() -> None:
    plan = plan_of({"at": 0, "fault": "maintenance_window", "count": 2, "lead": "3s",
                    "length": "40s", "reboot": "18s", "overrun": 1, "overrun_by": "25s"})  # fmt: skip
    (overrun,) = [m for s in plan.steps for m in s.truth if m.fault == "maintenance_overrun"
                  and not m.end]  # fmt: skip
    mark = next(s for s in plan.steps if overrun in s.truth)
    assert mark.at == 43.0
    downs = [s.op for s in plan.steps if overrun.subject_id in s.targets and s.at < mark.at]
    assert downs == ["kill"]
    windows = [s for s in plan.steps if s.op == "window"]
    assert len(windows) == 2
    assert all(w.kw["length"] == 43.0 for w in windows)


def test_firmware_enforcement_expects_a_page_for_every_gateway_left_behind() -> None:
    plan = plan_of({"at": 0, "fault": "firmware_rollout", "model": "AP-500", "target": "5.1",
                    "spread": "10s", "reboot": "5s", "fail_share": 0.2, "rollback_share": 0.2,
                    "hold": "30s", "enforce_after": "90s"})  # fmt: skip
    policy = next(s for s in plan.steps if s.op == "policy")
    behind = {m.subject_id for m in policy.truth}
    failed_or_rolled = {m.subject_id for s in plan.steps for m in s.truth
                        if m.fault in ("firmware_rollback", "firmware_rollout_failed")}  # fmt: skip
    assert failed_or_rolled == behind
    upgraded = {s.targets[0] for s in plan.steps if s.op == "firmware"}
    assert not upgraded & behind
    model = {g.gateway_id for g in generate(300, 3).gateways if g.model == "AP-500"}
    assert upgraded | behind == model


def test_bad_input_counts_what_it_injects() -> None:
    plan = plan_of({"at": 0, "fault": "bad_input", "count": 3, "kinds": ["schema", "oversized"]})
    assert plan.expected_rejects == Counter({"schema": 3, "oversized": 3})


@pytest.mark.parametrize(
    "kind",
    ["malformed_json", "schema", "oversized", "unknown_topic", "gateway_mismatch", "non_finite",
     "future_timestamp"],
)  # fmt: skip
def test_each_bad_message_is_rejected_by_the_contract_for_its_reason(kind: str) -> None:
    from datetime import UTC, datetime

    topic, payload = bad_messages("gw-00001", "gw-00002", 3, kind)
    out = decode(topic, payload, now=datetime.now(UTC))
    assert isinstance(out, Rejected), out
    assert out.reason.value == kind, out


def test_a_region_window_takes_its_region_wherever_it_is_listed() -> None:
    plan = plan_of(
        {"at": 0, "fault": "hung_app", "count": 40, "hold": "30s"},
        {"at": 0, "fault": "maintenance_window", "scope": "region", "region": "east",
         "lead": "3s", "length": "40s", "reboot": "18s"},
    )  # fmt: skip
    east = {g.gateway_id for g in generate(300, 3).gateways if g.region_id == "east"}
    hung = {t for s in plan.steps if s.op == "hang" for t in s.targets}
    rebooted = {t for s in plan.steps if s.op in ("kill", "offline") for t in s.targets}
    assert rebooted == east
    assert not hung & east


def test_every_event_type_of_the_spec_has_an_expander() -> None:
    import typing

    from simulators.scenarios import plan
    from simulators.scenarios import spec as S

    union, *_ = typing.get_args(S.EventSpec)  # Annotated[A | B | ..., discriminator]
    kinds = set(typing.get_args(union))
    assert kinds, "EventSpec is a union of the event types"
    assert kinds == set(plan._EXPANDERS), kinds ^ set(plan._EXPANDERS)


def test_the_runs_collector_is_told_the_fleets_reconnect_backoff(tmp_path: Path) -> None:
    from simulators.scenarios.run import ScenarioRun

    def env(**top: object) -> dict[str, str]:
        s = parse({"name": "t", **top})
        return ScenarioRun(s, generate(s.fleet.gateways, s.seed), tmp_path).collector_env()

    assert env()["POSFLEET_AGENT_RECONNECT_MAX_S"] == "120.0"  # the agent's own
    assert env(fleet={"reconnect_max": "55s"})["POSFLEET_AGENT_RECONNECT_MAX_S"] == "55.0"
    told = env(
        fleet={"reconnect_max": "55s"}, collector={"settings": {"agent_reconnect_max_s": 30}}
    )
    assert told["POSFLEET_AGENT_RECONNECT_MAX_S"] == "30"  # a scenario may lie on purpose
    with pytest.raises(ScenarioError, match="reconnect_max must be >= reconnect_min"):
        parse({"name": "t", "fleet": {"reconnect_min": "10s", "reconnect_max": "5s"}})
