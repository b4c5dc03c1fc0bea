"""Collector-restart drill, on real processes with the shipped rules and routes: gateways ->
Mosquitto -> posfleet-collector -> Prometheus -> Alertmanager -> webhook.

Two sites with two gateways each. One gateway of each site dies (SIGKILL: its Last Will
fires) and pages. The s-2 gateway recovers first: its resolve latency is the one without a
collector restart. Then the collector is SIGKILLed until PosfleetCollectorDown has paged,
restarted while gw-1-a is still down, and watched for two group intervals (any resolve or
second page of the s-1 outage would have arrived by then). Finally gw-1-a recovers: its
resolve latency is the one after a collector restart.

Counts notifications per outcome; the outage that continued across the collector's death
should show 1 page, 0 resolves before the recovery and 1 after, the collector's own outage
1 page and 1 resolve.

    .venv/bin/python bench/collector_restart.py [--profiles test,recommended] [--before REV]
        [--repeat N]

``--before REV`` runs the same drill once more per profile with the rules file of git
revision REV (e.g. the commit before the hold), for comparison; ``--repeat N`` runs each
combination N times. Writes bench/results/collector_restart.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "deploy")]

from paging_stack import GatewaySpec, PagingStack  # noqa: E402
from promstack import (  # noqa: E402
    RECOMMENDED_INTERVALS,
    RULES,
    TEST_INTERVALS,
    Intervals,
    PrometheusProcess,
)
from support.webhook import Notification, WebhookReceiver  # noqa: E402

from simulators.broker import MosquittoProcess  # noqa: E402

# Short engine delays in both profiles: the engine's pending_for is not what this measures.
ENGINE_ENV = {
    "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "3",
    "POSFLEET_ALERT_PENDING_SITE_DOWN_S": "1",
}
PROFILES: dict[str, Intervals] = {"test": TEST_INTERVALS, "recommended": RECOMMENDED_INTERVALS}
SPECS = [
    GatewaySpec("gw-1-a", "s-1", "north"),
    GatewaySpec("gw-1-b", "s-1", "north"),
    GatewaySpec("gw-2-a", "s-2", "north"),
    GatewaySpec("gw-2-b", "s-2", "north"),
]


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(value[:-1]) * units[value[-1]]


def _site(site: str, status: str) -> Callable[[Notification], bool]:
    def pred(n: Notification) -> bool:
        return (
            n.path == "/page/north-oncall"
            and n.group_labels.get("site") == site
            and n.status == status
        )

    return pred


def _collector_down(status: str) -> Callable[[Notification], bool]:
    def pred(n: Notification) -> bool:
        return (
            n.path == "/page/platform-oncall"
            and n.group_labels.get("alertname") == "PosfleetCollectorDown"
            and n.status == status
        )

    return pred


def _gateway_down_gone(prom: PrometheusProcess, gateway: str, since: float) -> float:
    """Seconds from ``since`` until Prometheus no longer has the gateway's alert active: the
    rules' share of the resolve, apart from Alertmanager's group_interval phase."""
    deadline = time.monotonic() + 300
    while any(
        a["labels"].get("alertname") == "PosfleetGatewayDown"
        and a["labels"].get("gateway") == gateway
        for a in prom.alerts()
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the alert of {gateway} did not resolve in Prometheus")
        time.sleep(0.1)
    return time.monotonic() - since


def _wait(hook: WebhookReceiver, pred: Callable[[Notification], bool], timeout: float) -> float:
    """Receipt time of the first notification matching ``pred`` (raises on timeout)."""
    deadline = time.monotonic() + timeout
    while not (found := hook.received(pred)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no notification within {timeout} s")
        time.sleep(0.05)
    return found[0].received_at


def drill(intervals: Intervals, rules: Path, workdir: Path) -> dict[str, Any]:
    scrape, evaluation = _seconds(intervals.scrape), _seconds(intervals.evaluation)
    group_interval = _seconds(intervals.group_interval)
    # the longest a resolve (or a changed group) can take to leave Alertmanager
    notify_s = scrape + evaluation + group_interval + 5
    with (
        MosquittoProcess(workdir=workdir / "mosquitto") as broker,
        PagingStack(
            workdir=workdir / "stack",
            broker_port=broker.port,
            gateways=SPECS,
            intervals=intervals,
            heartbeat_interval=1.0,
            collector_env=ENGINE_ENV,
            rules=rules,
        ) as stack,
    ):
        hook = stack.webhook
        procs = {s.gateway_id: stack.start_gateways([s.gateway_id], session=1) for s in SPECS}
        prom = stack.prometheus
        assert prom is not None
        deadline = time.monotonic() + 120
        while not prom.query(f'sum(posfleet_gateways{{status="online"}}) == {len(SPECS)}'):
            if time.monotonic() > deadline:
                raise RuntimeError("gateways not online in Prometheus")
            time.sleep(0.2)

        stack.kill(procs["gw-1-a"])
        stack.kill(procs["gw-2-a"])
        _wait(hook, _site("s-1", "firing"), 120)
        _wait(hook, _site("s-2", "firing"), 120)

        # s-2 recovers with the collector up: the resolve path as it is without a restart
        recovered = time.monotonic()
        stack.start_gateways(["gw-2-a"], session=2)
        prom_plain_s = _gateway_down_gone(prom, "gw-2-a", recovered)
        resolve_plain_s = _wait(hook, _site("s-2", "resolved"), 3 * notify_s) - recovered

        # the collector dies until its own alert has paged, and comes back
        killed = time.monotonic()
        stack.stop_collector(kill=True)
        collector_page_s = _wait(hook, _collector_down("firing"), 120 + notify_s) - killed
        restarted = time.monotonic()
        stack.start_collector()
        collector_resolve_s = _wait(hook, _collector_down("resolved"), 3 * notify_s) - restarted
        # one more scrape + evaluation + group_interval: a resolve or a second page of s-1
        # would be out by now
        watch_until = time.monotonic() + notify_s
        while time.monotonic() < watch_until:
            time.sleep(0.5)
        s1_before_recovery = {
            "pages": len(hook.received(_site("s-1", "firing"))),
            "resolves": len(hook.received(_site("s-1", "resolved"))),
        }

        recovered = time.monotonic()
        stack.start_gateways(["gw-1-a"], session=2)
        prom_after_restart_s = _gateway_down_gone(prom, "gw-1-a", recovered)
        # with the old rules a resolve may already have been sent: wait for one more
        n_resolved = s1_before_recovery["resolves"]
        deadline = time.monotonic() + 3 * notify_s
        while len(hook.received(_site("s-1", "resolved"))) <= n_resolved:
            if time.monotonic() > deadline:
                raise RuntimeError("no resolve after the recovery of gw-1-a")
            time.sleep(0.05)
        resolve_after_restart_s = hook.received(_site("s-1", "resolved"))[-1].received_at
        resolve_after_restart_s -= recovered
        return {
            "collector_dead_s": round(restarted - killed, 3),
            "outage_across_collector_death_before_recovery": s1_before_recovery,
            "outage_across_collector_death_total": {
                "pages": len(hook.received(_site("s-1", "firing"))),
                "resolves": len(hook.received(_site("s-1", "resolved"))),
            },
            "collector_down": {
                "pages": len(hook.received(_collector_down("firing"))),
                "resolves": len(hook.received(_collector_down("resolved"))),
                "kill_to_page_s": round(collector_page_s, 3),
                "restart_to_resolve_s": round(collector_resolve_s, 3),
            },
            # gateway back (birth acknowledged) -> resolve notification; the group_interval
            # phase decides most of it (the drill recovers right after a notification)
            "resolve_latency_s": {
                "without_collector_restart": round(resolve_plain_s, 3),
                "after_collector_restart": round(resolve_after_restart_s, 3),
            },
            # gateway back -> the alert no longer active in Prometheus (the rules' share)
            "prometheus_resolve_s": {
                "without_collector_restart": round(prom_plain_s, 3),
                "after_collector_restart": round(prom_after_restart_s, 3),
            },
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="test,recommended")
    parser.add_argument("--before", default="", help="git revision whose rules to compare")
    parser.add_argument("--repeat", type=int, default=1, help="runs per profile and rules")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "collector_restart.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "what": "an outage that continues across a collector death: pages, resolves, latency",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "engine_env": ENGINE_ENV,
        "results": {},
    }
    with tempfile.TemporaryDirectory(prefix="posfleet-collector-restart-") as tmp:
        variants = {"shipped": RULES}
        if args.before:
            old = Path(tmp) / "before.rules.yml"
            rel = RULES.relative_to(REPO).as_posix()
            old.write_text(
                subprocess.run(
                    ["git", "-C", str(REPO), "show", f"{args.before}:{rel}"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            variants[f"before ({args.before})"] = old
        for name in args.profiles.split(","):
            intervals = PROFILES[name]
            for variant, rules in variants.items():
                runs = []
                for i in range(args.repeat):
                    workdir = Path(tmp) / f"{name}-{len(report['results'])}-{i}"
                    runs.append(drill(intervals, rules, workdir))
                    print(f"{name}/{variant}", json.dumps(runs[-1]), flush=True)
                clean = [
                    r["outage_across_collector_death_total"] == {"pages": 1, "resolves": 1}
                    for r in runs
                ]
                report["results"][f"{name}/{variant}"] = {
                    "intervals": vars(intervals),
                    "rules": variant,
                    # the continuing outage paged once and resolved once (at its recovery)
                    "runs_one_page_one_resolve": f"{sum(clean)}/{len(runs)}",
                    "runs": runs,
                }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
