"""``posfleet-sim scenario`` and ``posfleet-sim scenarios``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulators.scenarios import library
from simulators.scenarios.spec import Scenario, ScenarioError, load


def resolve(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        return path
    lib = library()
    if name not in lib:
        raise ScenarioError(
            f"{name!r} is neither a scenario file nor in the library; "
            f"library: {', '.join(lib)} (posfleet-sim scenarios)"
        )
    return lib[name]


def list_library() -> int:
    for name, path in library().items():
        s = load(path)
        print(f"{name:<22} {s.fleet.gateways:>6} gateways  {s.description}")
    return 0


def run_scenario(args: argparse.Namespace) -> int:
    from simulators.fleetmodel import generate
    from simulators.scenarios.plan import compile_plan
    from simulators.scenarios.run import ScenarioRun, ScenarioRunError

    try:
        scenario: Scenario = load(resolve(args.file))
        fleet = scenario.fleet.model_copy(
            update={"gateways": args.gateways} if args.gateways else {}
        )
        scenario = scenario.model_copy(
            update={"fleet": fleet} | ({"seed": args.seed} if args.seed is not None else {})
        )
        model = generate(scenario.fleet.gateways, scenario.seed)
        if args.plan:
            plan = compile_plan(scenario, model)
            for st in plan.steps:
                print(f"{st.at:9.2f}s {st.op:<18} {' '.join(st.targets)[:60]:<60} {st.note}")
            print(f"ends at {plan.end:.0f}s; faults: {dict(plan.faults())}")
            return 0
        out = args.out or Path("scenario-runs") / scenario.name

        def say(msg: str) -> None:
            if not args.quiet:
                print(msg, file=sys.stderr, flush=True)

        result = ScenarioRun(
            scenario,
            model,
            out,
            say=say,
            store=getattr(args, "db", None),
            collectors=getattr(args, "collectors", 1),
            share_group=getattr(args, "share_group", None),
        ).run()
    except (ScenarioError, ScenarioRunError) as exc:
        print(f"posfleet-sim: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.scorecard, indent=2))
    print(
        f"{'OK' if result.ok else 'FAILED'}: {result.scenario}, {result.gateways} gateways, "
        f"seed {result.seed}; bad input {result.bad_input}; fleet {result.fleet}; "
        f"resources {result.resources}; scorecard in {out / 'scorecard.json'}"
    )
    for p in result.problems:
        print(f"  problem: {p}")
    return 0 if result.ok else 1
