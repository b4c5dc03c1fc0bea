"""Alert engine at fleet scale (pure core, fake time).

100,000 gateways in 20,000 sites of 5; 1% of the gateways go down: 10 whole sites (50
gateways) plus 950 scattered single gateways, wills spread over 45 s. Reports the cost of
one evaluation (the per-second tick) while ~1,000 alerts are active, the pages produced,
and the engine's memory per gateway (topology + state).

    .venv/bin/python bench/alerts_engine.py [--gateways 100000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, get, ratio, write_result
from collector.alerts.config import AlertSettings
from collector.alerts.engine import AlertEngine
from collector.alerts.model import COVERED_NOTE, Kind
from collector.model import DetectedBy, Liveness, SubjectType, Transition

RESULTS = Path(__file__).resolve().parent / "results" / "alerts_engine.json"


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    return Headline(
        [
            Figure(
                "evaluate() p99 ÷ its 1 s tick",
                ratio(get(r, "evaluate_ms.p99"), 1000, 4),
                "the per-second evaluation period",
            ),
            Figure(
                "site_down alerts ÷ whole sites down",
                ratio(r.get("firing_site_down"), r.get("whole_sites_down")),
                "sites down",
            ),
        ],
        [
            Figure("gateways / down", f"{fmt(r.get('gateways'))} / {fmt(r.get('down'))}"),
            Figure(
                "evaluate() per tick p50 / p99 / max",
                f"{fmt(get(r, 'evaluate_ms.p50'))} / {fmt(get(r, 'evaluate_ms.p99'))} / {fmt(get(r, 'evaluate_ms.max'), 'ms')}",
            ),
            Figure("pages", fmt(r.get("pages"))),
            Figure("engine memory per gateway", fmt(r.get("bytes_per_gateway"), "B")),
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=100_000)
    ap.add_argument("--per-site", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rnd = random.Random(7)
    n, per_site = args.gateways, args.per_site

    tracemalloc.start()
    engine = AlertEngine(AlertSettings())
    for i in range(n):
        engine.topology.set_gateway(
            f"gw{i}",
            site_id=f"s{i // per_site}",
            region_id=f"r{i % 20}",
            model="R1",
            status=Liveness.ONLINE,
        )
    engine.load([])
    mem, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    whole_sites = list(range(10))
    down = [f"gw{s * per_site + k}" for s in whole_sites for k in range(per_site)]
    pool = [f"gw{i}" for i in range(len(whole_sites) * per_site, n, per_site)]  # 1 per site
    down += rnd.sample(pool, n // 100 - len(down))
    spread = {gw: rnd.uniform(0, 45) for gw in down}
    events = sorted(down, key=spread.__getitem__)

    costs: list[float] = []
    pages = 0
    t = 0.0
    idx = 0
    while t < 300:
        at = now + timedelta(seconds=t)
        batch = []
        while idx < len(events) and spread[events[idx]] <= t:
            batch.append(events[idx])
            idx += 1
        for gw in batch:
            engine.apply_transition(
                Transition(
                    SubjectType.GATEWAY, gw, Liveness.ONLINE, Liveness.DOWN, at, DetectedBy.WILL
                )
            )
        start = time.perf_counter()
        engine.evaluate(at)
        costs.append(time.perf_counter() - start)
        out = engine.drain()
        pages += sum(
            1
            for e in out.events
            if (e.from_state, e.to_state) == ("pending", "firing")
            and not e.note.startswith(COVERED_NOTE)  # a store covered by its gateway's page
        )
        t += 1.0

    firing = engine.firing()  # what pages now (a covered site_down does not)
    kinds = {
        k: sum(1 for a in firing if a.key.kind.value == k) for k in ("site_down", "gateway_down")
    }
    sites_down = sum(
        1
        for a in engine.active.values()
        if a.key.kind is Kind.SITE_DOWN and a.state.value == "firing"
    )
    # One paging alert per whole site: its site_down, or (wills spread out) its first
    # gateway's page, which covers the store.
    paging_by_site = [sum(1 for a in firing if a.place.site_id == f"s{s}") for s in whole_sites]
    costs_ms = sorted(c * 1000 for c in costs)
    active = len(engine.active)
    print(f"gateways={n} down={len(down)} (whole sites={len(whole_sites)}) active={active}")
    print(
        f"pages={pages} site_down firing={sites_down}, paging={kinds['site_down']}; "
        f"gateway_down paging={kinds['gateway_down']}"
    )
    p50, p99 = statistics.median(costs_ms), costs_ms[int(len(costs_ms) * 0.99) - 1]
    print(f"evaluate() per tick ms: p50={p50:.2f} p99={p99:.2f} max={costs_ms[-1]:.2f}")
    print(f"engine memory: {mem / 1e6:.1f} MB = {mem / n:.0f} bytes per gateway")
    assert sites_down == len(whole_sites), sites_down
    assert paging_by_site == [1] * len(whole_sites), paging_by_site
    assert len(firing) == len(down) - len(whole_sites) * (per_site - 1), kinds
    result = {
        "gateways": n,
        "down": len(down),
        "whole_sites_down": len(whole_sites),
        "active_alerts": active,
        "pages": pages,
        "firing_site_down": sites_down,  # paging or covered by a gateway's page
        "paging_site_down": kinds["site_down"],
        "paging_gateway_down": kinds["gateway_down"],
        "paging_alerts_per_whole_site": sorted(set(paging_by_site)),
        "evaluate_ms": {"p50": round(p50, 3), "p99": round(p99, 3), "max": round(costs_ms[-1], 3)},
        "memory_mb": round(mem / 1e6, 1),
        "bytes_per_gateway": round(mem / n),
    }
    write_result(args.out, result, headline)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
