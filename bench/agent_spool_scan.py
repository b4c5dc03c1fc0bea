"""Agent transaction spool: the cost of one scan as the backlog grows.

A payment app that fell behind, or a gateway offline for days, leaves thousands of files in
the spool (docs/agent.md, "Transaction aggregates from the payment app"). A scan reads at
most ``MAX_FILES_PER_SCAN`` files and about ``MAX_BYTES_PER_SCAN`` bytes whatever the
backlog; this measures what it costs beyond that: wall time per scan and the scan's peak
Python memory (tracemalloc), at each backlog size, on real files in a temporary directory.

The time to choose the files (``TxnSpool._candidates``: the directory pass) is timed on
its own too, since the reading is the same at every size. Each file holds one realistic window line, so every scan reads the same 500 files' worth
whatever the size; the files a scan consumed are dropped again (outside the timing) so the
backlog stays at its size. Writes bench/results/agent_spool_scan.json.

    .venv/bin/python -m bench.agent_spool_scan [--sizes 1000,100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.txnspool import MAX_FILES_PER_SCAN, TxnSpool  # noqa: E402
from bench.report import Figure, Headline, fmt, write_result  # noqa: E402

GW = "gw-0042"
NOW = 1795339260.0


def window_line(i: int) -> bytes:
    line = {
        "terminal": f"pinpad-{i % 4 + 1}",
        "since": 1795338000,
        "until": 1795339200,
        "outcomes": {"approved": 9, "declined": 1},
        "responses": {"approved": 9, "cardholder_decline": 1},
        "approved_amount": 12345,
        "currency": "CNY",
        "last_txn_at": 1795339187,
        "acquirer": "unionpay-sh",
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def name(i: int) -> str:
    return f"20261122T{i:08d}.jsonl"


def fill(spool: Path, indices: list[int]) -> None:
    for i in indices:
        (spool / name(i)).write_bytes(window_line(i))


def consumed(spool: TxnSpool, scan: Any) -> list[int]:
    """The files the scan took (from its journal), as indices to drop again."""
    sources = json.loads(Path(scan.journal).read_text())["sources"]
    return [int(s.removeprefix("20261122T").removesuffix(".jsonl")) for s in sources]


def measure(size: int, repeat: int, work: Path) -> dict[str, Any]:
    root = work / f"spool-{size}"
    root.mkdir()
    fill(root, list(range(size)))
    spool = TxnSpool(root, GW, work / f"journal-{size}")
    listing = []
    for _ in range(repeat):  # choosing the files alone: what grows with the backlog
        t0 = time.perf_counter()
        spool._candidates()
        listing.append(time.perf_counter() - t0)
    times = []
    files_read = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        scan = spool.scan(NOW)
        times.append(time.perf_counter() - t0)
        taken = consumed(spool, scan)
        files_read.append(len(taken))
        spool.done(scan)
        fill(root, taken)
    tracemalloc.start()
    scan = spool.scan(NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    taken = consumed(spool, scan)
    spool.done(scan)
    fill(root, taken)
    return {
        "files": size,
        "choose_s_median": statistics.median(listing),
        "choose_s_min": min(listing),
        "scan_s_median": statistics.median(times),
        "scan_s_min": min(times),
        "scan_s_all": times,
        "files_read_per_scan": files_read,
        "peak_python_bytes": peak,
    }


def headline(result: dict[str, Any]) -> Headline:
    runs = result["runs"]
    small, big = runs[0], runs[-1]
    return Headline(
        ratios=[
            Figure(
                f"scan time, {big['files']:,} files ÷ {small['files']:,} files",
                fmt(big["scan_s_median"] / small["scan_s_median"], "x", 2),
            ),
            Figure(
                f"scan peak memory, {big['files']:,} files ÷ {small['files']:,} files",
                fmt(big["peak_python_bytes"] / small["peak_python_bytes"], "x", 2),
            ),
        ],
        figures=[
            *(
                Figure(
                    f"choosing the files at {r['files']:,} files",
                    fmt(r["choose_s_median"] * 1000, "ms"),
                )
                for r in runs
            ),
            *(
                Figure(f"scan time at {r['files']:,} files", fmt(r["scan_s_median"] * 1000, "ms"))
                for r in runs
            ),
            *(
                Figure(
                    f"scan peak Python memory at {r['files']:,} files",
                    fmt(r["peak_python_bytes"] / 1024, "KB"),
                )
                for r in runs
            ),
        ],
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,100000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "agent_spool_scan.json")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="spool-bench-", dir=os.environ.get("TMPDIR")) as d:
        runs = [measure(size, args.repeat, Path(d)) for size in sizes]
    result = {
        "max_files_per_scan": MAX_FILES_PER_SCAN,
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_result(args.out, result, headline)
    for r in runs:
        print(
            f"{r['files']:>7} files: choosing {r['choose_s_median'] * 1000:.1f} ms, "
            f"scan {r['scan_s_median'] * 1000:.1f} ms (median, min {r['scan_s_min'] * 1000:.1f}), "
            f"peak {r['peak_python_bytes'] / 1024:.0f} KB"
        )


if __name__ == "__main__":
    main()
