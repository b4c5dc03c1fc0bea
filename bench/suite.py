"""The benchmark suite: every benchmark in ``BENCHMARKS``, one after the other, then a summary.

    scripts/bench                     # everything (about 15 min on 2 cores)
    scripts/bench --only ingest,paging_latency
    scripts/bench --quick             # smaller sizes; results in bench/results/quick/
    scripts/bench --list

Each benchmark is its own module (``python -m bench.<name>``) writing
``bench/results/<name>.json``, with the headline figures it chose (``bench.report``). The
suite only runs them, times them and collects those files. After the runs this writes
``bench/results/SUMMARY.json`` and ``docs/benchmarks.md`` (generated: one table per
benchmark, ratios against the same run's ceiling first, then absolute figures). A run with
``--only`` updates those benchmarks' entries and keeps the others from the previous summary,
each with its own date. A failing benchmark does not stop the suite; the exit status is 1
and the failures are listed at the end, in the summary and in the doc.

A ``--quick`` run leaves the full results, the summary and the doc alone: its results and
summary go to ``bench/results/quick/``.

To add a benchmark: write ``bench/<name>.py`` whose ``main`` ends with
``bench.report.write_result(out, result, headline)`` and append a ``Bench`` to
``BENCHMARKS`` (a result file without a headline is shown as its top-level numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from bench.report import Figure, Headline, fmt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PY = ".venv/bin/python"


class Bench(NamedTuple):
    name: str  # bench/results/<name>.json
    argv: Sequence[str]  # run from the repository root with the venv's python
    minutes: float  # measured duration on 2 cores, busy (progress and timeout)
    quick: Sequence[str] = ()  # replaces the size arguments under --quick


# THE list. Order: cheap and self-contained first, service-heavy last.
BENCHMARKS: list[Bench] = [
    Bench("store_size", ["bench.store_size"], 0.1, ["--gateways", "10", "--days", "1"]),
    Bench("alerts_engine", ["bench.alerts_engine"], 0.1, ["--gateways", "10000"]),
    Bench("alerts_ingest", ["bench.alerts_ingest"], 0.2, ["--gateways", "10000"]),
    Bench("ingest", ["bench.ingest"], 2.5, ["--gateways", "500", "--per-gateway", "10"]),
    # Starts its own PostgreSQL (simulators/stack/postgres.py); 1, 2 and 3 collectors.
    Bench(
        "ingest_postgresql",
        ["bench.ingest", "--db", "postgresql", "--collectors", "1,2,3"],
        4.0,
        ["--db", "postgresql", "--collectors", "1,2,3", "--gateways", "500", "--per-gateway", "10"],
    ),
    # The same, with transaction telemetry in the backlog (issue #16): both mixes, interleaved.
    Bench(
        "ingest_transactions",
        ["bench.ingest", "--mix", "heartbeats,transactions"],
        5.0,
        ["--mix", "heartbeats,transactions", "--gateways", "500", "--per-gateway", "10"],
    ),
    Bench("fuzz_ingest", ["bench.fuzz_ingest"], 0.6, ["--cases", "10000"]),
    Bench("reconcile", ["bench.reconcile"], 0.3, ["--terminals", "10000"]),
    Bench("influx_throughput", ["bench.influx_throughput"], 0.2, ["--points", "5000"]),
    Bench("liveness_scale", ["bench.liveness_scale"], 2.2, ["--gateways", "10000"]),
    # The deployed path of issue #14: 100,000 gateways over MQTT, three share-group
    # collectors on its own PostgreSQL (simulators/stack/postgres.py).
    Bench(
        "liveness_shared",
        ["bench.liveness_shared"],
        7.0,
        ["--gateways", "10000", "--interval", "20"],
    ),
    Bench("agent_footprint", ["bench.agent_footprint"], 2.1, ["--seconds", "20"]),
    Bench("agent_spool_scan", ["bench.agent_spool_scan"], 1.0, ["--sizes", "1000,20000"]),
    Bench(
        "sim_scale",
        ["bench.sim_scale", "--collector"],
        2.5,
        ["--collector", "--gateways", "1000", "--seconds", "15", "--faults", "10"],
    ),
    Bench("dashboard_render", ["bench.dashboard_render"], 1.5, ["--terminals", "10000"]),
    Bench(
        "collector_restart",
        ["bench.collector_restart", "--before", "b632e86", "--repeat", "3"],
        12.0,
        ["--profiles", "test"],
    ),
    Bench(
        "paging_latency",
        ["bench.paging_latency", "--trials", "8"],
        4.5,
        ["--profiles", "test", "--trials", "3"],
    ),
    Bench(
        "scenario_mixed_10k",
        ["bench.scenario_mixed_10k"],
        17.0,
        ["--gateways", "1000"],
    ),
]


# --- running -------------------------------------------------------------------------------


@dataclass
class Run:
    """What happened to one benchmark in this run."""

    name: str
    command: str
    status: str  # "ok" | "failed"
    seconds: float = 0.0
    exit_code: int | None = None
    when: str = ""
    load_avg_1m_start: float = 0.0
    load_avg_1m_max: float = 0.0
    commit: str = ""  # HEAD as it started
    uncommitted: list[str] = field(default_factory=list)  # changed code as it started
    error: str = ""  # why it failed: exit code, timeout, no results; with the output's tail
    log: str = ""


def _fmt_duration(s: float) -> str:
    m, sec = divmod(int(s), 60)
    return f"{m}m{sec:02d}s"


def _command(bench: Bench, quick: bool) -> list[str]:
    module, *args = bench.argv
    return [PY, "-m", module, *(bench.quick if quick and bench.quick else args)]


def run_one(bench: Bench, quick: bool, logdir: Path, suite_start: float) -> Run:
    argv = _command(bench, quick)
    out = RESULTS / f"{bench.name}.json"
    before = out.read_bytes() if out.exists() else None
    mtime = out.stat().st_mtime if out.exists() else 0.0
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{bench.name}.log"
    run = Run(
        name=bench.name,
        command=shlex.join(argv),
        status="failed",
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        load_avg_1m_start=round(os.getloadavg()[0], 2),
        log=str(log.relative_to(ROOT)),
    )
    run.load_avg_1m_max = run.load_avg_1m_start
    run.commit, run.uncommitted = code_state()
    timeout = bench.minutes * 60 * 4 + 300
    t0 = time.monotonic()
    done = threading.Event()

    def ticker() -> None:  # progress while a benchmark is silent, and the load it ran under
        n = 0
        while not done.wait(5):
            run.load_avg_1m_max = max(run.load_avg_1m_max, round(os.getloadavg()[0], 2))
            n += 1
            if n % 12 == 0:
                print(
                    f"  .. {bench.name} running {_fmt_duration(time.monotonic() - t0)}"
                    f" (est. {bench.minutes:g} min; suite "
                    f"{_fmt_duration(time.monotonic() - suite_start)})",
                    flush=True,
                )

    tail: list[str] = []
    with log.open("w", encoding="utf-8") as fh:
        fh.write(f"$ {run.command}\n")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # a timeout kills the benchmark and whatever it started
        )
        expired: list[bool] = []

        def kill() -> None:
            expired.append(True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        killer = threading.Timer(timeout, kill)
        killer.start()
        tick = threading.Thread(target=ticker, daemon=True)
        tick.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            print(f"  | {line}", end="", flush=True)
            tail = [*tail[-19:], line.rstrip("\n")]
        proc.wait()
        timed_out = bool(expired)
        killer.cancel()
        done.set()
        tick.join()
    run.seconds = round(time.monotonic() - t0, 1)
    run.exit_code = proc.returncode
    fresh = out.exists() and out.stat().st_mtime > mtime
    if timed_out:
        run.error = f"timed out after {_fmt_duration(timeout)}"
    elif proc.returncode < 0:
        run.error = f"killed by {signal.Signals(-proc.returncode).name}"
    elif proc.returncode != 0:
        run.error = f"exit code {proc.returncode}"
    elif not fresh:
        run.error = f"no fresh bench/results/{bench.name}.json"
    else:
        run.status = "ok"
    if run.error:  # the reason and the last line (the exception, usually), then the tail
        last = next((line for line in reversed(tail) if line.strip()), "")
        run.error = "\n".join([f"{run.error}: {last[:300]}", *tail[-8:]])
    if quick:  # keep the full results where they are; the quick ones go to quick/
        quick_dir = RESULTS / "quick"
        quick_dir.mkdir(exist_ok=True)
        if fresh:
            out.replace(quick_dir / out.name)
        if before is not None:
            out.write_bytes(before)
    return run


def _generic(r: dict[str, Any]) -> Headline:
    """A result file written without a headline: its top-level numbers."""
    return Headline(
        figures=[
            Figure(k, fmt(v))
            for k, v in r.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
    )


# --- summary and doc -----------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    cpu = ""
    mem_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def code_state() -> tuple[str, list[str]]:
    """HEAD and the uncommitted changes to code (others may be committing while the suite
    runs, so this is taken as each benchmark starts). Results and docs do not count."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout.splitlines()
    skip = ("bench/results/", "docs/", "README.md", ".gitignore")
    return commit, sorted(line[3:] for line in status if not line[3:].startswith(skip))


def build_summary(
    runs: Sequence[Run],
    results_dir: Path,
    machine: dict[str, Any],
    previous: dict[str, Any] | None = None,
    suite: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Entries for this run's benchmarks (headlines read from ``results_dir``), merged over
    the previous summary's entries for the benchmarks not run this time."""
    entries: dict[str, Any] = dict((previous or {}).get("benchmarks", {}))
    for run in runs:
        entry: dict[str, Any] = asdict(run) | {"machine": machine}
        path = results_dir / f"{run.name}.json"
        if run.status == "ok" and path.exists():
            result = json.loads(path.read_text())
            h = Headline.from_json(result["headline"]) if "headline" in result else _generic(result)
            entry["ratios"] = [asdict(f) for f in h.ratios]
            entry["figures"] = [asdict(f) for f in h.figures]
            entry["results_file"] = str(
                path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            )
        elif run.name in entries:  # keep the last good figures next to the failure
            before = entries[run.name]
            last_ok = before if before.get("status") == "ok" else before.get("last_ok")
            if last_ok:
                entry["last_ok"] = {k: v for k, v in last_ok.items() if k != "last_ok"}
        entries[run.name] = entry
    order = [b.name for b in BENCHMARKS]
    entries = dict(
        sorted(
            entries.items(),
            key=lambda kv: (kv[0] not in order, order.index(kv[0]) if kv[0] in order else 0, kv[0]),
        )
    )
    return {
        "generated_by": "scripts/bench (bench/suite.py)",
        "last_run": suite or {},
        "last_full_run": (suite if suite and suite.get("full") else None)
        or (previous or {}).get("last_full_run")
        or {},
        "failed": sorted(n for n, e in entries.items() if e.get("status") != "ok"),
        "benchmarks": entries,
    }


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _tables(e: dict[str, Any]) -> list[str]:
    """One benchmark's ratio table, figure table, machine facts and command."""
    out = []
    if e.get("ratios"):
        out += ["| ratio | value | against |", "|---|---|---|"]
        out += [
            f"| {_cell(f['label'])} | {_cell(f['value'])} | {_cell(f['against'])} |"
            for f in e["ratios"]
        ]
        out.append("")
    out += ["| figure | value |", "|---|---|"]
    out += [f"| {_cell(f['label'])} | {_cell(f['value'])} |" for f in e.get("figures", [])]
    m = e.get("machine", {})
    uncommitted = e.get("uncommitted")
    return [
        *out,
        "",
        f"Measured {e.get('when', '?')}, {m.get('cpus')} CPUs ({m.get('cpu_model') or 'unknown CPU'}), "
        f"{m.get('memory_gb')} GB, Python {m.get('python')}, commit {e.get('commit')}"
        f"{' with uncommitted changes to ' + ', '.join(uncommitted) if uncommitted else ''}; "
        f"load average (1 min) {e.get('load_avg_1m_start')} at start, "
        f"{e.get('load_avg_1m_max')} at most; took {_fmt_duration(e.get('seconds', 0))}.",
        "",
        f"Reproduce: `{e.get('command')}` (results: `{e.get('results_file')}`).",
        "",
    ]


def render_markdown(summary: dict[str, Any]) -> str:
    last = summary.get("last_run", {})
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench (bench/suite.py) from bench/results/SUMMARY.json:",
        "     do not edit by hand; re-run the suite. -->",
        "",
        "Every benchmark in `bench/`, run by one command:",
        "",
        "```sh",
        "scripts/bench                          # all of them, in the list in bench/suite.py",
        "scripts/bench --only paging_latency    # some of them; the others keep their last figures",
        "scripts/bench --quick                  # smaller sizes, results in bench/results/quick/",
        "```",
        "",
        "Raw results: `bench/results/<name>.json`; this page's figures: "
        "`bench/results/SUMMARY.json`. Ratios come first: each divides a figure by a ceiling or "
        "reference measured in the same run (or, where there is none, by the goal or the period "
        "it must fit in), so they travel between machines better than the absolute figures. "
        "Every table says when and on what it was measured and how to reproduce it. The machine "
        "may be shared with other work: the 1-minute load average is recorded per benchmark.",
        "",
    ]
    full = summary.get("last_full_run") or {}
    for label, run in (("Last full run", full), ("Last run", last)):
        if run and (label == "Last full run" or run != full):
            out += [
                f"{label}: {run.get('started', '?')} to {run.get('finished', '?')} "
                f"(`{run.get('command', 'scripts/bench')}`), "
                f"load average (1, 5, 15 min) at start {run.get('load_avg_start', '?')}, "
                f"at end {run.get('load_avg_end', '?')}.",
                "",
            ]
    if summary.get("failed"):
        out += ["**Failed:** " + ", ".join(f"`{n}`" for n in summary["failed"]) + " (below).", ""]
    out += [
        "| benchmark | status | date (UTC) | duration | load 1m start / max |",
        "|---|---|---|---|---|",
    ]
    for name, e in summary["benchmarks"].items():
        out.append(
            f"| [{name}](#{name}) | {e.get('status')} | {e.get('when', '')[:16].replace('T', ' ')} "
            f"| {_fmt_duration(e.get('seconds', 0))} | {e.get('load_avg_1m_start')} / {e.get('load_avg_1m_max')} |"
        )
    out.append("")
    for name, e in summary["benchmarks"].items():
        out += [f"## {name}", ""]
        if e.get("status") == "ok":
            out += _tables(e)
            continue
        error = e.get("error") or "unknown"
        out += [
            f"**FAILED** in the run of {e.get('when', '?')}: {error.splitlines()[0]}.",
            "",
            "```text",
            *error.splitlines()[1:],
            "```",
            "",
            f"Log: `{e.get('log')}`. Reproduce: `{e.get('command')}`.",
            "",
        ]
        if e.get("last_ok"):
            out += [
                f"Last successful run ({e['last_ok'].get('when', '?')}):",
                "",
                *_tables(e["last_ok"]),
            ]
    return "\n".join(out).rstrip("\n") + "\n"


def write_outputs(summary: dict[str, Any], summary_path: Path, doc_path: Path | None) -> None:
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if doc_path is not None:
        doc_path.write_text(render_markdown(summary), encoding="utf-8")


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated names (see --list)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes; results in quick/")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--summary-only", action="store_true", help="rewrite the doc from SUMMARY.json")
    args = ap.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:20} ~{b.minutes:g} min  {shlex.join(_command(b, args.quick))}")
        return 0
    summary_path = RESULTS / ("quick" if args.quick else "") / "SUMMARY.json"
    doc = None if args.quick else DOC
    previous = json.loads(summary_path.read_text()) if summary_path.exists() else None
    if args.summary_only:
        if previous is None:
            print(f"no {summary_path}", file=sys.stderr)
            return 1
        write_outputs(previous, summary_path, doc)
        return 0
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - {b.name for b in BENCHMARKS}
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; see --list")
    todo = [b for b in BENCHMARKS if not names or b.name in names]
    est = sum(b.minutes for b in todo)
    start = time.monotonic()
    suite: dict[str, Any] = {
        "command": shlex.join(["scripts/bench", *(argv if argv is not None else sys.argv[1:])]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "quick": args.quick,
        "full": not names,
    }
    print(
        f"==> {len(todo)} benchmark(s), est. {est:g} min; load average {suite['load_avg_start']}",
        flush=True,
    )
    runs: list[Run] = []
    for i, bench in enumerate(todo, 1):
        print(
            f"==> [{i}/{len(todo)}] {bench.name} (est. {bench.minutes:g} min; "
            f"elapsed {_fmt_duration(time.monotonic() - start)})",
            flush=True,
        )
        run = run_one(bench, args.quick, RESULTS / "logs", start)
        runs.append(run)
        print(
            f"==> [{i}/{len(todo)}] {bench.name}: {run.status.upper()} in "
            f"{_fmt_duration(run.seconds)}"
            + (f" ({run.error.splitlines()[0]})" if run.error else ""),
            flush=True,
        )
    suite["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    suite["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    suite["seconds"] = round(time.monotonic() - start, 1)
    suite["ran"] = [r.name for r in runs]
    summary = build_summary(
        runs, RESULTS / ("quick" if args.quick else ""), machine_facts(), previous, suite
    )
    write_outputs(summary, summary_path, doc)
    failed = [r for r in runs if r.status != "ok"]
    print(
        f"==> wrote {summary_path.relative_to(ROOT)}"
        + (f" and {DOC.relative_to(ROOT)}" if doc else "")
    )
    print(
        f"==> {len(runs) - len(failed)}/{len(runs)} ok in {_fmt_duration(suite['seconds'])}"
        + (f"; FAILED: {', '.join(r.name for r in failed)}" if failed else "")
    )
    for r in failed:
        print(f"    {r.name}: {r.error.splitlines()[0]} (log: {r.log})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
