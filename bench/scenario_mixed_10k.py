"""The 10,000-gateway mixed scenario, scored: detection at fleet scale, and what it costs.

    .venv/bin/python bench/scenario_mixed_10k.py [--scenario mixed-10k] [--gateways N]
        [--out scenario-runs/mixed-10k]

Plays ``simulators/scenarios/library/mixed-10k.toml`` (every fault kind on 10,000 live
gateways, the 60 s / 30 s engine holds set in the file) against its own Mosquitto and collector process and
writes bench/results/scenario_mixed_10k.json: the scorecard per fault kind, bad input
injected vs counted, publish errors, CPU and memory of the simulator and the collector.

The ceiling each detection delay is compared with is the delay the design asks for: the
alert's pending delay (a down page is not allowed earlier, so a store outage is recognised
as one site). ``delay_past_pending_p50_s`` is what the collector adds on top of it
(detection through the will or the heartbeat deadline, the 2 s will hold, sweep ticks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, get, ratio, write_result
from simulators.fleetmodel import generate
from simulators.scenarios import library
from simulators.scenarios.run import ScenarioRun
from simulators.scenarios.spec import load

ROOT = Path(__file__).resolve().parents[1]

# The alert kind each fault of the truth expects (for its pending delay).
EXPECTS = {
    "site_power_outage": "site_down",
    "regional_isp_outage": "site_down",
    "hung_app": "gateway_down",
    "pin_pad_unplugged": "terminal_down",
    "firmware_rollout_failed": "gateway_down",
    "maintenance_overrun": "gateway_down",
    "flapping_link": "flapping",
    "clock_skew": "clock_skew",
    "printer_paper_out": "hardware_fault",
    "battery_drain": "hardware_fault",
    "firmware_behind_policy": "firmware_non_compliant",
}


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    h = Headline()
    h.ratios.append(
        Figure(
            "faults detected ÷ faults that should page",
            ratio(r.get("detected"), r.get("expected")),
            "the simulator's ground truth (missed, false and duplicate pages below)",
        )
    )
    for fault, k in sorted((r.get("by_fault") or {}).items()):
        if k.get("delay_past_pending_p50_s") is not None:
            h.ratios.append(
                Figure(
                    f"{fault}: page delay p50 ÷ the design's pending delay",
                    ratio(k.get("delay_p50_s"), k.get("pending_s")),
                    f"pending {fmt(k.get('pending_s'), 's')}",
                )
            )
    h.figures += [
        Figure("gateways / terminals", f"{fmt(r.get('gateways'))} / {fmt(r.get('terminals'))}"),
        Figure(
            "missed / false / duplicate pages",
            f"{fmt(r.get('missed'))} / {fmt(r.get('false'))} / {fmt(r.get('duplicate'))}",
        ),
        Figure("timeline (after all online)", fmt(r.get("timeline_s"), "s")),
        Figure("connect until all seen online", fmt(r.get("connect_all_online_s"), "s")),
        Figure("publish errors", fmt(get(r, "fleet.publish_errors"))),
        Figure(
            "simulator CPU / RSS",
            f"{fmt(get(r, 'resources.simulator_cpu_pct_of_one_core'), '%')} of a core / "
            f"{fmt(get(r, 'resources.simulator_rss_mb'), 'MB')}",
        ),
        Figure(
            "collector CPU / peak RSS",
            f"{fmt(get(r, 'resources.collector_cpu_pct_of_one_core'), '%')} of a core / "
            f"{fmt(get(r, 'resources.collector_peak_rss_mb'), 'MB')}",
        ),
    ]
    for fault, k in sorted((r.get("by_fault") or {}).items()):
        if k.get("expected"):
            h.figures.append(
                Figure(
                    f"{fault}: detected / expected, delay p50 / p99 / max",
                    f"{fmt(k.get('detected'))} / {fmt(k.get('expected'))}, "
                    f"{fmt(k.get('delay_p50_s'))} / {fmt(k.get('delay_p99_s'))} / "
                    f"{fmt(k.get('delay_max_s'), 's')}",
                )
            )
    return h


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="mixed-10k")
    ap.add_argument("--gateways", type=int, help="override the fleet size (quick runs)")
    ap.add_argument("--out", type=Path, default=ROOT / "scenario-runs" / "mixed-10k")
    ap.add_argument("--result", type=Path, default=ROOT / "bench/results/scenario_mixed_10k.json")
    args = ap.parse_args()
    scenario = load(library()[args.scenario])
    if args.gateways:
        fleet = scenario.fleet.model_copy(update={"gateways": args.gateways})
        scenario = scenario.model_copy(update={"fleet": fleet})
    model = generate(scenario.fleet.gateways, scenario.seed)
    run = ScenarioRun(scenario, model, args.out, say=lambda m: print(m, flush=True))
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    result = run.run()
    t = run.plan.timing
    assert t is not None
    kinds = {}
    for fault, s in result.scorecard["by_fault"].items():
        row = dict(s)
        expect = EXPECTS.get(fault)
        if expect and s["delay_p50_s"] is not None:
            pending = t.alerts.pending_for(expect)
            row["pending_s"] = pending
            row["delay_past_pending_p50_s"] = round(s["delay_p50_s"] - pending, 3)
            row["delay_past_pending_max_s"] = round(s["delay_max_s"] - pending, 3)
        kinds[fault] = row
    out = {
        "benchmark": "scenario_mixed_10k",
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "command": "bench/scenario_mixed_10k.py  (= posfleet-sim scenario mixed-10k)",
        "scenario": result.scenario,
        "seed": result.seed,
        "gateways": result.gateways,
        "terminals": result.terminals,
        "heartbeat_s": scenario.fleet.heartbeat,
        "timeline_s": result.duration_s,
        "connect_all_online_s": result.connect_s,
        "ok": result.ok,
        "problems": result.problems,
        "missed": sum(s["missed"] for s in kinds.values()),
        "false": result.scorecard["false"],
        "duplicate": sum(s["duplicate"] for s in kinds.values()),
        "detected": sum(s["detected"] for s in kinds.values()),
        "expected": sum(s["expected"] for s in kinds.values()),
        "by_fault": kinds,
        "false_pages": result.scorecard["false_pages"][:20],
        "bad_input": result.bad_input,
        "fleet": result.fleet,
        "resources": result.resources,
        "late_steps_max_s": result.late_steps_max_s,
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.result, out, headline)
    print(
        json.dumps(
            {
                k: out[k]
                for k in ("ok", "expected", "detected", "missed", "false", "duplicate", "resources")
            },
            indent=2,
        )
    )
    print(f"-> {args.result}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
