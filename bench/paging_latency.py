"""Paging latency, measured on real Prometheus and Alertmanager with the shipped rules and
routes, for each interval profile (tests, recommended):

- ``prom_am``: an alert appears in /metrics (a stand-in exporter serving
  posfleet_alert_firing) -> the webhook receives the page: the share the intervals decide;
- ``full`` (when ``posfleet-collector`` is installed): a gateway's death (SIGKILL, so its
  Last Will fires) -> page, through Mosquitto -> posfleet-collector -> Prometheus ->
  Alertmanager; the collector's share (will -> alert firing in its /metrics, mostly the
  engine's pending_for) is recorded apart;
- ``store``: store power cuts: each store's gateways die one by one over 1.5 x the agent's
  keepalive (as their wills arrive after a power cut), then power comes back (the store's
  gateways together); every notification of the store's Alertmanager group is counted (one
  page, the first gateway's: the store is covered by it, never paged again; and one
  resolve), with the latencies of the page and of the resolve.

Each trial is a subject on its own site (a new Alertmanager group that pays group_wait, as a
real outage does), started at a random moment relative to the scrape/evaluation cycles.

    .venv/bin/python -m bench.paging_latency [--profiles test,recommended] [--trials 6] [--stores 3]

Writes bench/results/paging_latency.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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
    # the intervals the end-to-end test uses, the engine's shipped pending delays, and the
    # store hold scaled down with the store's spread: 8 s of wills + the 2 s will hold + a
    # tick, as the shipped 90 s covers 82.5 s + 2 s (tests/deploy/test_paging_e2e.py)
    "test": (TEST_INTERVALS, {"POSFLEET_ALERT_SITE_SPREAD_S": "12"}),
    # the shipped deploy/ intervals and the engine's shipped defaults
    "recommended": (RECOMMENDED_INTERVALS, {}),
}
# How far apart a store's wills arrive after a power cut: each gateway's keepalive expires
# on its own, within 1.5 x keepalive of the cut (docs/agent.md: keepalive 55 s). The test
# profile scales it like the e2e test (a 6 s keepalive).
STORE_SPREAD_S = {"test": 8.0, "recommended": 1.5 * 55}
STORE_SIZE = 3


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


def run_store(name: str, trials: int, spread_s: float, workdir: Path) -> dict[str, Any]:
    """Store power cuts: each store's gateways die one by one over STORE_SPREAD_S (SIGKILL
    at the moment its will would arrive), stores starting at random moments; then power
    comes back. Counts every notification of each store's group."""
    intervals, env = PROFILES[name]
    cut_spread = STORE_SPREAD_S[name]
    group_interval = _seconds(intervals.group_interval)
    specs = [
        GatewaySpec(f"gw-{i}-{j}", f"store-{i}", "north")
        for i in range(trials)
        for j in range(STORE_SIZE)
    ]
    rng = random.Random(7)
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
        # (moment, gateway): the first of a store at its start, the last at start + spread
        plan: list[tuple[float, str]] = []
        for i in range(trials):
            at = rng.uniform(0, spread_s)
            middle = sorted(rng.uniform(0, cut_spread) for _ in range(STORE_SIZE - 2))
            offsets = [0.0, *middle, cut_spread]
            plan += [(at + o, f"gw-{i}-{j}") for j, o in enumerate(offsets)]
        plan.sort()
        kills: dict[str, float] = {}
        start = time.monotonic()
        for offset, gw in plan:
            time.sleep(max(0.0, start + offset - time.monotonic()))
            kills[gw] = time.monotonic()
            stack.kill(procs[gw])
        stores = [f"store-{i}" for i in range(trials)]

        def notes(site: str) -> list[Any]:
            return stack.webhook.received(lambda n: n.group_labels.get("site") == site)

        def firing(ns: list[Any]) -> list[tuple[str, str]]:
            return [
                (a["labels"]["alertname"], a["labels"].get("gateway", ""))
                for n in ns
                for a in n.alerts
                if a["status"] == "firing"
            ]

        # Every store is down in the collector (its site_down firing, paging or covered) and
        # Prometheus has scraped that, and each store's first notification is in: from here
        # any second notification (a site-down page, a sibling's) would be on its way.
        deadline = time.monotonic() + 300
        while not (
            all(notes(s) for s in stores)
            and prom.query(f'posfleet_alerts{{kind="site_down", state="firing"}} == {trials}')
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("not every store paged and went down in the collector")
            time.sleep(0.2)
        # Quiet: two group intervals without a further notification for any store.
        seen, quiet_since = sum(len(notes(s)) for s in stores), time.monotonic()
        while time.monotonic() - quiet_since < 2 * group_interval + 5:
            now_seen = sum(len(notes(s)) for s in stores)
            if now_seen != seen:
                seen, quiet_since = now_seen, time.monotonic()
            time.sleep(0.5)
        down_notes = {s: notes(s) for s in stores}
        back: dict[str, float] = {}
        for i, site in enumerate(stores):  # power back: a store's gateways together
            back[site] = time.monotonic()
            stack.start_gateways([f"gw-{i}-{j}" for j in range(STORE_SIZE)], session=2)

        def resolved(site: str) -> list[Any]:
            return [n for n in notes(site) if n.status == "resolved"]

        deadline = time.monotonic() + 300
        while not all(resolved(s) for s in stores):
            if time.monotonic() > deadline:
                raise RuntimeError("not every store's resolve arrived")
            time.sleep(0.2)
        # Quiet again: nothing else (no straggler's page) after the resolves.
        seen, quiet_since = sum(len(notes(s)) for s in stores), time.monotonic()
        while time.monotonic() - quiet_since < 2 * group_interval + 5:
            now_seen = sum(len(notes(s)) for s in stores)
            if now_seen != seen:
                seen, quiet_since = now_seen, time.monotonic()
            time.sleep(0.5)
        results = []
        for i, site in enumerate(stores):
            gws = [f"gw-{i}-{j}" for j in range(STORE_SIZE)]
            ns = down_notes[site]
            after = notes(site)[len(ns) :]
            results.append(
                {
                    "site": site,
                    "notifications": len(ns),
                    "groups": len({n.body.get("groupKey") for n in ns}),
                    "paged_as": firing(ns),
                    "gateways_paged": sorted(
                        {g for a, g in firing(ns) if a == "PosfleetGatewayDown"}
                    ),
                    "site_down_notifications": sum(
                        1 for n in ns if ("PosfleetSiteDown", "") in firing([n])
                    ),
                    "first_kill_to_first_notification_s": ns[0].received_at - kills[gws[0]],
                    "power_back_to_resolved_s": resolved(site)[0].received_at - back[site],
                    "resolved_notifications": len(resolved(site)),
                    "notifications_after_power_back": len(after),
                }
            )
    return {
        "what": (
            f"store power cut: {STORE_SIZE} gateways die over {cut_spread:g} s "
            "(1.5 x keepalive), then power is back; every notification of the store's group"
        ),
        "intervals": vars(intervals),
        "engine_env": env,
        "store_size": STORE_SIZE,
        "cut_spread_s": cut_spread,
        "trials": len(results),
        "notifications_per_store": sorted(r["notifications"] for r in results),
        "groups_per_store": sorted(r["groups"] for r in results),
        "sibling_gateway_pages": sum(max(0, len(r["gateways_paged"]) - 1) for r in results),
        "site_down_notifications": sum(r["site_down_notifications"] for r in results),
        "notifications_after_power_back_per_store": sorted(
            r["notifications_after_power_back"] for r in results
        ),
        "first_kill_to_first_notification": _summary(
            [r["first_kill_to_first_notification_s"] for r in results]
        ),
        "power_back_to_resolved": _summary([r["power_back_to_resolved_s"] for r in results]),
        "raw": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in results
        ],
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
        elif path == "store":
            first = res.get("first_kill_to_first_notification", {})
            h.figures.append(
                Figure(
                    f"{key}: notifications per store while down (groups), sibling gateway "
                    "pages, site-down pages; notifications per store after power back",
                    f"{res.get('notifications_per_store')} ({res.get('groups_per_store')}), "
                    f"{res.get('sibling_gateway_pages')}, {res.get('site_down_notifications')}; "
                    f"{res.get('notifications_after_power_back_per_store')}",
                )
            )
            h.figures.append(
                Figure(
                    f"{key}: first death → first notification, median (max)",
                    f"{fmt(first.get('median_s'), 's')} ({fmt(first.get('max_s'), 's')})",
                )
            )
            back = res.get("power_back_to_resolved", {})
            h.figures.append(
                Figure(
                    f"{key}: power back → resolved notification, median (max)",
                    f"{fmt(back.get('median_s'), 's')} ({fmt(back.get('max_s'), 's')})",
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
    parser.add_argument("--paths", default="prom_am,full,store")
    parser.add_argument("--stores", type=int, default=3, help="store power cuts per profile")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "paging_latency.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "what": "time to page on real Prometheus + Alertmanager with the shipped config",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
            "started_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        },
        "results": {},
    }
    paths = args.paths.split(",")
    needs_collector = [p for p in ("full", "store") if p in paths]
    if needs_collector and not importlib.util.find_spec("collector.main"):
        report["full_path_skipped"] = "posfleet-collector (collector.main) is not available"
        paths = [p for p in paths if p not in needs_collector]
    runners = {"prom_am": run_prom_am, "full": run_full, "store": run_store}
    for name in args.profiles.split(","):
        intervals, _ = PROFILES[name]
        cycle = _seconds(intervals.scrape) + _seconds(intervals.evaluation)
        spread = args.spread if args.spread is not None else max(5.0, 3 * cycle)
        for path in paths:
            with tempfile.TemporaryDirectory(prefix=f"posfleet-paging-{name}-") as tmp:
                n = args.stores if path == "store" else args.trials
                result = runners[path](name, n, spread, Path(tmp))
            report["results"][f"{path}/{name}"] = result
            key = {"prom_am": "metrics_to_page", "store": "notifications_per_store"}.get(
                path, "death_to_page"
            )
            print(f"{path}/{name}", json.dumps(result[key]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_result(out, report, headline)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
