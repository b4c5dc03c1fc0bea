"""Paging latency, measured on real Prometheus and Alertmanager with the shipped rules and
routes, for each interval profile (tests, recommended):

- ``prom_am``: an alert appears in /metrics (a stand-in exporter serving
  posfleet_alert_firing) -> the webhook receives the page: the share the intervals decide;
- ``full`` (when ``posfleet-collector`` is installed): a gateway's death (SIGKILL, so its
  Last Will fires) -> page, through Mosquitto -> posfleet-collector -> Prometheus ->
  Alertmanager; the collector's share (will -> alert firing in its /metrics, mostly the
  engine's pending_for) is recorded apart.

Each trial is a subject on its own site (a new Alertmanager group that pays group_wait, as a
real outage does), started at a random moment relative to the scrape/evaluation cycles.

    .venv/bin/python bench/paging_latency.py [--profiles test,recommended] [--trials 6]

Writes bench/results/paging_latency.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, get, ratio, write_result
from simulators.broker import MosquittoProcess
from simulators.stack.paging import GatewaySpec, PagingStack
from simulators.stack.prometheus import (
    RECOMMENDED_INTERVALS,
    TEST_INTERVALS,
    AlertmanagerProcess,
    Intervals,
    PrometheusProcess,
    StandInExporter,
    render_alertmanager_config,
    render_prometheus_config,
)
from simulators.stack.webhook import WebhookReceiver

REPO = Path(__file__).resolve().parents[1]

PROFILES: dict[str, tuple[Intervals, dict[str, str]]] = {
    # the intervals the end-to-end test uses, with short engine delays
    "test": (
        TEST_INTERVALS,
        {
            "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "3",
            "POSFLEET_ALERT_PENDING_SITE_DOWN_S": "1",
        },
    ),
    # the shipped deploy/ intervals and the engine's shipped defaults
    "recommended": (RECOMMENDED_INTERVALS, {}),
}


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert m, value
    return float(m.group(1)) * units[m.group(2)]


def _firing_in_metrics(text: str, gateway: str) -> bool:
    pattern = re.compile(r'^posfleet_alert_firing\{[^}]*alertname="gateway_down"[^}]*\} 1')
    needle = f'gateway="{gateway}"'
    return any(pattern.match(line) and needle in line for line in text.splitlines())


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "min_s": round(ordered[0], 3),
        "median_s": round(statistics.median(ordered), 3),
        "mean_s": round(statistics.fmean(ordered), 3),
        "max_s": round(ordered[-1], 3),
    }


def _bounds(intervals: Intervals) -> dict[str, float]:
    wait_s = _seconds(intervals.group_wait)
    cycle = _seconds(intervals.scrape) + _seconds(intervals.evaluation)
    return {"min": wait_s, "mean": wait_s + cycle / 2, "max": wait_s + cycle}


def _page_times(hook: WebhookReceiver, key: str) -> dict[str, float]:
    times: dict[str, float] = {}
    for note in hook.received(lambda n: n.path == "/page/north-oncall"):
        for alert in note.alerts:
            subject = alert["labels"].get(key, "")
            if alert["status"] == "firing" and subject not in times:
                times[subject] = note.received_at
    return times


def run_prom_am(name: str, trials: int, spread_s: float, workdir: Path) -> dict[str, Any]:
    intervals, _ = PROFILES[name]
    exporter = StandInExporter()
    try:
        with WebhookReceiver() as hook:
            am_conf = render_alertmanager_config(hook.url, intervals, workdir / "am")
            with AlertmanagerProcess(am_conf, workdir / "am") as am:
                assert isinstance(am, AlertmanagerProcess)
                prom_conf = render_prometheus_config(
                    f"127.0.0.1:{exporter.port}", f"127.0.0.1:{am.port}", intervals, workdir / "p"
                )
                with PrometheusProcess(prom_conf, workdir / "p"):
                    return _prom_am_trials(intervals, exporter, hook, trials, spread_s)
    finally:
        exporter.close()


def _alert_labels(gateway: str, site: str) -> dict[str, str]:
    return {
        "alertname": "gateway_down",
        "severity": "critical",
        "region": "north",
        "site": site,
        "gateway": gateway,
        "terminal": "",
        "escalation": "1",
        "summary": f"Gateway {gateway} down",
        "since": "2026-11-22T09:00:00+00:00",
    }


def _prom_am_trials(
    intervals: Intervals,
    exporter: StandInExporter,
    hook: WebhookReceiver,
    trials: int,
    spread_s: float,
) -> dict[str, Any]:
    # Warm-up: Prometheus discovers its Alertmanager a few seconds after start; a first
    # page proves the pipeline is ready, so trials measure the steady state.
    exporter.firing.labels(**_alert_labels("warmup", "warmup")).set(1)
    deadline = time.monotonic() + 180
    while "warmup" not in _page_times(hook, "gateway"):
        if time.monotonic() > deadline:
            raise RuntimeError("warm-up page never arrived")
        time.sleep(0.05)
    rng = random.Random(4)
    offsets = sorted(rng.uniform(0, spread_s) for _ in range(trials))
    start = time.monotonic()
    raised: dict[str, float] = {}
    for i, offset in enumerate(offsets):
        time.sleep(max(0.0, start + offset - time.monotonic()))
        exporter.firing.labels(**_alert_labels(f"gw-{i}", f"s-{i}")).set(1)
        raised[f"gw-{i}"] = time.monotonic()
    deadline = time.monotonic() + 300
    while not set(raised) <= set(_page_times(hook, "gateway")):
        if time.monotonic() > deadline:
            raise RuntimeError("not every page arrived")
        time.sleep(0.05)
    pages = _page_times(hook, "gateway")
    latencies = [pages[gw] - raised[gw] for gw in raised]
    return {
        "what": "alert in /metrics -> webhook page (Prometheus + Alertmanager share)",
        "intervals": vars(intervals),
        "expected_bounds_s": _bounds(intervals),
        "metrics_to_page": _summary(latencies),
        "raw_s": [round(v, 3) for v in latencies],
    }


def run_full(name: str, trials: int, spread_s: float, workdir: Path) -> dict[str, Any]:
    intervals, env = PROFILES[name]
    # Two gateways per site: killing one is a gateway outage, not a site outage.
    specs = [
        GatewaySpec(f"gw-{i}-{j}", f"s-{i}", "north") for i in range(trials) for j in ("a", "b")
    ]
    results: list[dict[str, float]] = []
    with (
        MosquittoProcess(workdir=workdir / "mosquitto") as broker,
        PagingStack(
            workdir=workdir / "stack",
            broker_port=broker.port,
            gateways=specs,
            intervals=intervals,
            heartbeat_interval=5.0,
            collector_env=env,
        ) as stack,
    ):
        procs = {s.gateway_id: stack.start_gateways([s.gateway_id], session=1) for s in specs}
        prom = stack.prometheus
        assert prom is not None
        deadline = time.monotonic() + 120
        while not prom.query(f'sum(posfleet_gateways{{status="online"}}) == {len(specs)}'):
            if time.monotonic() > deadline:
                raise RuntimeError("gateways not online in Prometheus")
            time.sleep(0.2)

        rng = random.Random(4)
        kills: dict[str, float] = {}
        fired: dict[str, float] = {}
        victims = [f"gw-{i}-a" for i in range(trials)]
        offsets = sorted(rng.uniform(0, spread_s) for _ in victims)
        start = time.monotonic()

        def killer() -> None:
            for gw, offset in zip(victims, offsets, strict=True):
                time.sleep(max(0.0, start + offset - time.monotonic()))
                kills[gw] = time.monotonic()
                stack.kill(procs[gw])

        thread = threading.Thread(target=killer)
        thread.start()
        timeout = spread_s + 300
        pages: dict[str, float] = {}
        while len(pages) < len(victims):
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"only {len(pages)} of {len(victims)} pages arrived")
            text = stack.metrics()
            now = time.monotonic()
            for gw in kills:
                if gw not in fired and _firing_in_metrics(text, gw):
                    fired[gw] = now
            for note in stack.webhook.received(lambda n: n.path == "/page/north-oncall"):
                for alert in note.alerts:
                    gw = alert["labels"].get("gateway", "")
                    if alert["status"] == "firing" and gw in kills and gw not in pages:
                        pages[gw] = note.received_at
            time.sleep(0.1)
        thread.join()
        for gw in victims:
            results.append(
                {
                    "death_to_page_s": pages[gw] - kills[gw],
                    "death_to_collector_firing_s": fired.get(gw, pages[gw]) - kills[gw],
                    "collector_firing_to_page_s": pages[gw] - fired.get(gw, pages[gw]),
                }
            )
    return {
        "what": "gateway SIGKILL -> webhook page (full path through posfleet-collector)",
        "intervals": vars(intervals),
        "engine_env": env,
        "trials": len(results),
        "expected_prom_am_bounds_s": _bounds(intervals),
        "death_to_page": _summary([r["death_to_page_s"] for r in results]),
        "death_to_collector_firing": _summary([r["death_to_collector_firing_s"] for r in results]),
        "collector_firing_to_page": _summary([r["collector_firing_to_page_s"] for r in results]),
        "raw": [{k: round(v, 3) for k, v in r.items()} for r in results],
    }


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    h = Headline()
    for key, res in (r.get("results") or {}).items():
        path = key.split("/", 1)[0]
        if path == "prom_am":
            m = res.get("metrics_to_page", {})
            h.ratios.append(
                Figure(
                    f"{key}: measured mean ÷ intervals' expected mean",
                    ratio(m.get("mean_s"), get(res, "expected_bounds_s.mean")),
                    f"{fmt(get(res, 'expected_bounds_s.mean'), 's')} from scrape/eval/group_wait",
                )
            )
            h.figures.append(
                Figure(
                    f"{key}: alert in /metrics → page, median (max)",
                    f"{fmt(m.get('median_s'), 's')} ({fmt(m.get('max_s'), 's')})",
                )
            )
        else:
            page = res.get("death_to_page", {})
            firing = res.get("death_to_collector_firing", {})
            h.ratios.append(
                Figure(
                    f"{key}: collector's share (death → firing ÷ death → page, medians)",
                    ratio(firing.get("median_s"), page.get("median_s")),
                    "the whole death → page path",
                )
            )
            h.figures.append(
                Figure(
                    f"{key}: gateway killed → page, median (min to max)",
                    f"{fmt(page.get('median_s'), 's')} ({fmt(page.get('min_s'), 's')} to {fmt(page.get('max_s'), 's')})",
                )
            )
            h.figures.append(
                Figure(
                    f"{key}: killed → collector firing, median; firing → page, median",
                    f"{fmt(firing.get('median_s'), 's')}; {fmt(get(res, 'collector_firing_to_page.median_s'), 's')}",
                )
            )
    if r.get("full_path_skipped"):
        h.figures.append(Figure("full path skipped", str(r["full_path_skipped"])))
    return h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="test,recommended")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--spread", type=float, default=None, help="start times spread (s)")
    parser.add_argument("--paths", default="prom_am,full")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "paging_latency.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "what": "time to page on real Prometheus + Alertmanager with the shipped config",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": {},
    }
    paths = args.paths.split(",")
    if "full" in paths and not importlib.util.find_spec("collector.main"):
        report["full_path_skipped"] = "posfleet-collector (collector.main) is not available"
        paths.remove("full")
    runners = {"prom_am": run_prom_am, "full": run_full}
    for name in args.profiles.split(","):
        intervals, _ = PROFILES[name]
        cycle = _seconds(intervals.scrape) + _seconds(intervals.evaluation)
        spread = args.spread if args.spread is not None else max(5.0, 3 * cycle)
        for path in paths:
            with tempfile.TemporaryDirectory(prefix=f"posfleet-paging-{name}-") as tmp:
                result = runners[path](name, args.trials, spread, Path(tmp))
            report["results"][f"{path}/{name}"] = result
            key = "metrics_to_page" if path == "prom_am" else "death_to_page"
            print(f"{path}/{name}", json.dumps(result[key]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_result(out, report, headline)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
