"""Write throughput through the InfluxDB sink against a real victoria-metrics.

Measures (1) how fast the processing thread hands messages to ``submit`` and (2) the
end-to-end rate until every point is acknowledged by the server, for a few batch sizes,
then checks the server holds exactly the points sent. Writes
``bench/results/influx_throughput.json``.

    .venv/bin/python bench/influx_throughput.py [--points 50000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.report import Figure, Headline, fmt, ratio, write_result
from collector.sinks.influx import build_influx_sink
from collector.sinks.settings import InfluxSettings
from simulators.stack.victoria import VictoriaMetrics
from telemetry.codec import Decoded
from telemetry.models import Heartbeat
from telemetry.topics import Kind, TopicRef

ROOT = Path(__file__).resolve().parents[1]

RESULTS = Path(__file__).parent / "results" / "influx_throughput.json"
GATEWAYS = 1000


def _messages(n: int, run: int) -> list[Decoded]:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    out = []
    for i in range(n):
        gw = f"r{run}-gw-{i % GATEWAYS:04d}"
        msg = Heartbeat(
            gw=gw,
            ts=base + timedelta(milliseconds=i),
            session=1,
            seq=i,
            interval=120,
            load1=0.5,
            mem_used_pct=40.0,
        )
        out.append(Decoded(TopicRef(gw, Kind.HEARTBEAT), msg))
    return out


def _run(vm: VictoriaMetrics, tmp: Path, n: int, batch: int, run: int) -> dict[str, float]:
    registry = CollectorRegistry()
    settings = InfluxSettings(
        enabled=True,
        url=vm.url,
        org="posfleet",
        bucket="telemetry",
        token="bench",
        buffer_path=tmp / f"buffer-{run}.sqlite",
        batch_size=batch,
        flush_interval_s=0.2,
        queue_max_points=n,
    )
    sink = build_influx_sink(settings, registry)
    assert sink is not None
    messages = _messages(n, run)
    now = datetime.now(UTC)
    started = time.monotonic()
    for d in messages:
        sink.submit(d, now)
    submitted = time.monotonic() - started
    while (
        registry.get_sample_value("posfleet_influx_points_total", {"result": "written"}) or 0
    ) < n:
        if time.monotonic() - started > 300:
            raise RuntimeError("points not written within 300 s")
        time.sleep(0.01)
    written = time.monotonic() - started
    sink.close()
    # Exactly the points sent: one heartbeat_seq sample per message.
    deadline = time.monotonic() + 30
    while True:
        stored = sum(
            len(s["values"])
            for s in vm.export(  # type: ignore[arg-type]
                f'{{__name__="heartbeat_seq",gateway=~"r{run}-.*"}}'
            )
        )
        if stored == n or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    dropped = registry.get_sample_value("posfleet_influx_points_total", {"result": "dropped"})
    return {
        "batch_size": batch,
        "points": n,
        "submit_points_per_s": round(n / submitted),
        "submit_us_per_point": round(submitted / n * 1e6, 2),
        "end_to_end_points_per_s": round(n / written),
        "stored_points_read_back": stored,
        "dropped": dropped or 0.0,
    }


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    h = Headline()
    for run in r.get("runs", []):
        b = run.get("batch_size")
        h.ratios.append(
            Figure(
                f"batch {b}: end-to-end ÷ submit rate",
                ratio(run.get("end_to_end_points_per_s"), run.get("submit_points_per_s")),
                "the processing thread's hand-off rate",
            )
        )
        h.ratios.append(
            Figure(
                f"batch {b}: points read back ÷ sent",
                ratio(run.get("stored_points_read_back"), run.get("points")),
                "points sent",
            )
        )
    for run in r.get("runs", []):
        h.figures.append(
            Figure(
                f"batch {run.get('batch_size')}: end to end (submit)",
                f"{fmt(run.get('end_to_end_points_per_s'), 'points/s')} ({fmt(run.get('submit_points_per_s'), 'points/s')})",
            )
        )
    return h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--batch-sizes", default="500,1000,5000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        vm = VictoriaMetrics(tmp / "vm").start()
        try:
            runs = [
                _run(vm, tmp, args.points, int(batch), run)
                for run, batch in enumerate(args.batch_sizes.split(","))
            ]
        finally:
            vm.close()
    result = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "server": "victoria-metrics (Debian), /api/v2/write, loopback",
        "point": "heartbeat: 4 float fields, 1 tag; 1000 gateways",
        "runs": runs,
        "ok": all(r["stored_points_read_back"] == r["points"] and not r["dropped"] for r in runs),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    write_result(RESULTS, result, headline)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
