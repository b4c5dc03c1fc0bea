"""The benchmark suite: every benchmark in ``BENCHMARKS``, one after the other, then a summary.

    scripts/bench                     # everything (about 15 min on 2 cores)
    scripts/bench --only ingest,paging_latency
    scripts/bench --quick             # smaller sizes; results in bench/results/quick/
    scripts/bench --list

Each benchmark is its own script writing ``bench/results/<name>.json`` (the two alert-engine
scripts only print: their output is parsed into that file here). After the runs this writes
``bench/results/SUMMARY.json`` and ``docs/benchmarks.md`` (generated: one table per
benchmark, ratios against the same run's ceiling first, then absolute figures). A run with
``--only`` updates those benchmarks' entries and keeps the others from the previous summary,
each with its own date. A failing benchmark does not stop the suite; the exit status is 1
and the failures are listed at the end, in the summary and in the doc.

A ``--quick`` run leaves the full results, the summary and the doc alone: its results and
summary go to ``bench/results/quick/``.

To add a benchmark: append a ``Bench`` to ``BENCHMARKS`` (and, for a readable table, a
function to ``HEADLINES``; without one the table lists the JSON's top-level numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

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
    Bench("store_size", ["bench/store_size.py"], 0.1, ["--gateways", "10", "--days", "1"]),
    Bench("alerts_engine", ["bench/alerts_engine.py"], 0.1, ["--gateways", "10000"]),
    Bench("alerts_ingest", ["bench/alerts_ingest.py"], 0.2, ["--gateways", "10000"]),
    Bench("ingest", ["bench/ingest.py"], 0.8, ["--gateways", "500", "--per-gateway", "10"]),
    Bench("fuzz_ingest", ["bench/fuzz_ingest.py"], 0.6, ["--cases", "10000"]),
    Bench("influx_throughput", ["bench/influx_throughput.py"], 0.2, ["--points", "5000"]),
    Bench("liveness_scale", ["bench/liveness_scale.py"], 2.2, ["--gateways", "10000"]),
    Bench("agent_footprint", ["bench/agent_footprint.py"], 2.1, ["--seconds", "20"]),
    Bench(
        "sim_scale",
        ["bench/sim_scale.py", "--collector"],
        2.5,
        ["--collector", "--gateways", "1000", "--seconds", "15", "--faults", "10"],
    ),
    Bench("dashboard_render", ["bench/dashboard_render.py"], 1.5, ["--terminals", "10000"]),
    Bench(
        "paging_latency",
        ["bench/paging_latency.py", "--trials", "8"],
        4.5,
        ["--profiles", "test", "--trials", "3"],
    ),
    Bench(
        "scenario_mixed_10k",
        ["bench/scenario_mixed_10k.py"],
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
    script, *args = bench.argv
    return [PY, script, *(bench.quick if quick and bench.quick else args)]


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
    stdout = log.read_text(encoding="utf-8").split("\n", 1)[1]
    fresh = out.exists() and out.stat().st_mtime > mtime
    if not fresh and proc.returncode == 0 and bench.name in STDOUT_PARSERS:
        try:
            out.write_text(json.dumps(STDOUT_PARSERS[bench.name](stdout), indent=2) + "\n")
            fresh = True
        except ValueError as exc:
            tail.append(f"(suite) could not parse the output: {exc}")
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


# --- the two benchmarks that only print ----------------------------------------------------


def _num(text: str) -> float | int:
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _search(pattern: str, text: str) -> dict[str, float | int]:
    m = re.search(pattern, text)
    if not m:
        raise ValueError(f"no line matches {pattern!r}")
    return {k: _num(v) for k, v in m.groupdict().items()}


def parse_alerts_engine(stdout: str) -> dict[str, Any]:
    f: dict[str, Any] = {"source": "stdout of bench/alerts_engine.py, parsed by bench/suite.py"}
    f |= _search(
        r"gateways=(?P<gateways>\d+) down=(?P<down>\d+) \(whole sites=(?P<whole_sites_down>\d+)\) active=(?P<active_alerts>\d+)",
        stdout,
    )
    f |= _search(
        r"pages=(?P<pages>\d+) firing site_down=(?P<firing_site_down>\d+) gateway_down=(?P<firing_gateway_down>\d+)",
        stdout,
    )
    f["evaluate_ms"] = _search(
        r"per tick ms: p50=(?P<p50>[\d.]+) p99=(?P<p99>[\d.]+) max=(?P<max>[\d.]+)", stdout
    )
    f |= _search(
        r"engine memory: (?P<memory_mb>[\d.]+) MB = (?P<bytes_per_gateway>\d+) bytes", stdout
    )
    return f


def parse_alerts_ingest(stdout: str) -> dict[str, Any]:
    f: dict[str, Any] = {"source": "stdout of bench/alerts_ingest.py, parsed by bench/suite.py"}
    f |= _search(r"gateways=(?P<gateways>\d+) messages=(?P<messages>\d+)", stdout)
    f |= _search(r"build_listener load: (?P<load_s>[\d.]+) s", stdout)
    f |= _search(r"on_messages: (?P<on_messages_us_per_message>[\d.]+) us", stdout)
    f |= _search(r"tick \(no active alerts, polls included\): (?P<tick_idle_ms>[\d.]+) ms", stdout)
    f |= _search(
        r"outage of (?P<outage_gateways>\d+) gateways through on_transitions: (?P<outage_ms>[\d.]+) ms",
        stdout,
    )
    f |= _search(
        r"tick with \d+ active alerts: (?P<tick_active_ms>[\d.]+) ms; firing=(?P<firing>\d+)",
        stdout,
    )
    return f


STDOUT_PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "alerts_engine": parse_alerts_engine,
    "alerts_ingest": parse_alerts_ingest,
}


# --- headline figures ----------------------------------------------------------------------


@dataclass
class Figure:
    label: str
    value: str
    against: str = ""  # ratios: what the figure is divided by


@dataclass
class Headline:
    ratios: list[Figure] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def get(d: Any, path: str) -> Any:
    """``get(d, "a.b.0.c")``; None when any step is missing."""
    for key in path.split("."):
        if isinstance(d, list) and key.isdigit() and int(key) < len(d):
            d = d[int(key)]
        elif isinstance(d, dict) and key in d:
            d = d[key]
        else:
            return None
    return d


def fmt(v: Any, unit: str = "", digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        s = f"{int(v):,}"
    elif isinstance(v, float):
        s = f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    else:
        s = str(v)
    return f"{s} {unit}".strip()


def ratio(a: Any, b: Any, digits: int = 2) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "—"
    return f"{a / b:.{digits}f}"


def _ingest(r: dict[str, Any]) -> Headline:
    return Headline(
        [
            Figure(
                "collector msg/s ÷ bare paho subscriber msg/s",
                fmt(r.get("ratio_collector_over_bare")),
                "bare subscriber, same broker, same backlog (goal ≥ 0.6)",
            )
        ],
        [
            Figure("collector", fmt(get(r, "collector.rate"), "msg/s", 2)),
            Figure("bare paho subscriber", fmt(get(r, "bare_paho_subscriber.rate"), "msg/s", 2)),
            Figure("messages", fmt(get(r, "collector.messages"))),
            Figure("mean ingest latency", fmt(get(r, "collector.mean_ingest_latency_s"), "s")),
            Figure(
                "hung gateway: down past its deadline, max",
                fmt(get(r, "hung_gateway_detection.max_s"), "s"),
            ),
        ],
    )


def _fuzz(r: dict[str, Any]) -> Headline:
    reasons = sorted((r.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1])
    return Headline(
        [
            Figure("crashes ÷ messages", ratio(r.get("crashes"), r.get("cases"), 4), "messages"),
            Figure(
                "counted (accepted + rejected) ÷ sent",
                ratio((r.get("accepted") or 0) + (r.get("rejected") or 0) or None, r.get("cases")),
                "messages sent",
            ),
        ],
        [
            Figure("messages (seed)", f"{fmt(r.get('cases'))} ({r.get('seed')})"),
            Figure("crashes", fmt(r.get("crashes"))),
            Figure(
                "internal rejections / loop errors / listener errors",
                f"{fmt(r.get('internal_rejections'))} / {fmt(r.get('loop_errors'))} / "
                f"{fmt(r.get('listener_errors'))}",
            ),
            Figure(
                "inconsistencies (checks)",
                f"{fmt(r.get('inconsistencies'))} ({fmt(r.get('consistency_checks'))})",
            ),
            Figure("accepted / rejected", f"{fmt(r.get('accepted'))} / {fmt(r.get('rejected'))}"),
            Figure("rejected by reason", ", ".join(f"{k} {v:,}" for k, v in reasons) or "—"),
            Figure("rate", fmt(r.get("messages_per_s"), "msg/s")),
        ],
    )


def _liveness(r: dict[str, Any]) -> Headline:
    d = r.get("detection_delay_past_deadline_s", {})
    return Headline(
        [
            Figure(
                "detected ÷ stopped", ratio(r.get("detected"), r.get("stopped")), "gateways stopped"
            ),
            Figure(
                "false downs ÷ gateways",
                ratio(r.get("false_downs"), r.get("gateways"), 4),
                "gateways",
            ),
            Figure(
                "feeder max lag ÷ interval",
                ratio(r.get("feeder_max_lag_s"), r.get("interval_s"), 3),
                "heartbeat interval (how far the feed fell behind)",
            ),
        ],
        [
            Figure("gateways", fmt(r.get("gateways"))),
            Figure("heartbeat interval", fmt(r.get("interval_s"), "s")),
            Figure("delay past deadline p50", fmt(d.get("p50"), "s")),
            Figure("delay past deadline p99 (goal ≤ 1 s)", fmt(d.get("p99"), "s")),
            Figure("delay past deadline max", fmt(d.get("max"), "s")),
            Figure(
                "liveness tracker per gateway",
                fmt(r.get("liveness_tracker_bytes_per_gateway"), "B"),
            ),
            Figure(
                "process RSS per gateway (goal ≤ 2 KB)",
                fmt(r.get("process_rss_bytes_per_gateway"), "B"),
            ),
        ],
    )


def _sim_scale(r: dict[str, Any]) -> Headline:
    det = r.get("detection_at_scale", {})
    return Headline(
        [
            Figure(
                "collector saw online ÷ gateways",
                ratio(r.get("collector_online_seen"), r.get("gateways")),
                "gateways simulated",
            ),
            Figure(
                "killed detected ÷ killed",
                ratio(det.get("killed_detected"), det.get("killed")),
                "gateways killed",
            ),
            Figure(
                "hung detected ÷ hung",
                ratio(det.get("hung_detected"), det.get("hung")),
                "gateways hung",
            ),
        ],
        [
            Figure(
                "gateways (+ PIN pads)", f"{fmt(r.get('gateways'))} (+ {fmt(r.get('terminals'))})"
            ),
            Figure("connect all", fmt(r.get("connect_all_s"), "s")),
            Figure(
                "publish rate, every publish acknowledged",
                fmt(r.get("publish_rate_per_s"), "msg/s"),
            ),
            Figure("publish errors", fmt(r.get("publish_errors"))),
            Figure(
                "simulator CPU / RSS",
                f"{fmt(r.get('simulator_cpu_pct_of_one_core'), '%')} of a core / {fmt(r.get('simulator_rss_mb'), 'MB')}",
            ),
            Figure(
                "collector CPU / RSS",
                f"{fmt(r.get('collector_cpu_pct_of_one_core'), '%')} of a core / {fmt(r.get('collector_rss_mb'), 'MB')}",
            ),
            Figure(
                "Mosquitto CPU / RSS",
                f"{fmt(r.get('mosquitto_cpu_pct_of_one_core'), '%')} of a core / {fmt(r.get('mosquitto_rss_mb'), 'MB')}",
            ),
            Figure("killed → down, p50", fmt(get(det, "kill_to_down_s.p50"), "s")),
            Figure(
                "hung → down past deadline, max",
                fmt(get(det, "hang_down_past_deadline_s.max"), "s"),
            ),
        ],
    )


def _agent(r: dict[str, Any]) -> Headline:
    g = r.get("goals", {})
    return Headline(
        [
            Figure(
                "RSS ÷ goal",
                ratio(r.get("rss_mb"), g.get("rss_mb")),
                f"{fmt(g.get('rss_mb'), 'MB')} goal",
            ),
            Figure(
                "CPU ÷ goal",
                ratio(r.get("cpu_pct_of_one_core"), g.get("cpu_pct"), 3),
                f"{fmt(g.get('cpu_pct'), '%')} of a core goal",
            ),
            Figure(
                "MQTT bytes/day ÷ goal",
                ratio(r.get("mqtt_kb_per_day"), g.get("kb_per_day")),
                f"{fmt(g.get('kb_per_day'), 'KB/day')} goal",
            ),
        ],
        [
            Figure("RSS at defaults", fmt(r.get("rss_mb"), "MB")),
            Figure("CPU at defaults", fmt(r.get("cpu_pct_of_one_core"), "% of a core")),
            Figure("MQTT bytes, both ways", fmt(r.get("mqtt_kb_per_day"), "KB/day")),
            Figure(
                "with TCP/IP headers (estimate)",
                fmt(r.get("with_tcpip_headers_kb_per_day_estimate"), "KB/day"),
            ),
            Figure("downtime detection bound", fmt(r.get("detection_bound_s"), "s")),
            Figure(
                "measured / simulated default time",
                f"{fmt(r.get('measured_seconds'), 's')} / {fmt(r.get('simulated_default_seconds'), 's')}",
            ),
        ],
    )


def _paging(r: dict[str, Any]) -> Headline:
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


def _influx(r: dict[str, Any]) -> Headline:
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


def _store(r: dict[str, Any]) -> Headline:
    return Headline(
        [
            Figure(
                "hourly rollup bytes ÷ raw bytes, per gateway-day",
                ratio(
                    r.get("rollup_bytes_per_gateway_per_day"),
                    r.get("raw_bytes_per_gateway_per_day"),
                    3,
                ),
                "raw telemetry of the same fleet",
            )
        ],
        [
            Figure("raw", fmt(r.get("raw_bytes_per_gateway_per_day"), "B/gateway/day")),
            Figure(
                "hourly rollups", fmt(r.get("rollup_bytes_per_gateway_per_day"), "B/gateway/day")
            ),
            Figure(
                "steady state, 10,000 gateways (policy below)",
                fmt(r.get("steady_state_mb_for_10000_gateways"), "MB"),
            ),
            Figure(
                "policy",
                f"raw {fmt(get(r, 'policy.raw_keep_days'), 'd')}, rollups {fmt(get(r, 'policy.rollup_keep_days'), 'd')}",
            ),
            Figure("fold rate", fmt(r.get("fold_rows_per_s"), "rows/s")),
        ],
    )


def _dashboard(r: dict[str, Any]) -> Headline:
    h = Headline()
    for page in ("overview", "alerts"):
        h.ratios.append(
            Figure(
                f"browser {page}, 100k terminals ÷ 120 terminals (medians)",
                ratio(
                    get(r, f"browser.{page}.median_s"),
                    get(r, f"browser_baseline_120_terminals.{page}.median_s"),
                ),
                "the same page on a 120-terminal store, same run (front-end cost)",
            )
        )
    for page in ("overview", "alerts"):
        h.figures.append(
            Figure(
                f"server render (AppTest) {page}, median",
                fmt(get(r, f"apptest.{page}.median_s"), "s"),
            )
        )
    for page in ("overview", "alerts", "overview_in_app", "alerts_in_app"):
        h.figures.append(
            Figure(f"browser {page}, median", fmt(get(r, f"browser.{page}.median_s"), "s"))
        )
    h.figures.append(Figure("terminals in the store", fmt(get(r, "store_rows.terminals"))))
    h.figures.append(
        Figure(
            f"first render within the {fmt(r.get('goal_s'), 's')} goal: server / browser",
            f"{fmt(r.get('apptest_within_goal'))} / {fmt(r.get('browser_within_goal'))}",
        )
    )
    return h


def _alerts_engine(r: dict[str, Any]) -> Headline:
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


def _alerts_ingest(r: dict[str, Any]) -> Headline:
    return Headline(
        [
            Figure(
                "tick with active alerts ÷ 1 s",
                ratio(r.get("tick_active_ms"), 1000, 4),
                "the per-second tick period",
            ),
        ],
        [
            Figure("gateways / messages", f"{fmt(r.get('gateways'))} / {fmt(r.get('messages'))}"),
            Figure("on_messages", fmt(r.get("on_messages_us_per_message"), "µs/message")),
            Figure("startup load (build_listener)", fmt(r.get("load_s"), "s")),
            Figure("tick, no active alerts", fmt(r.get("tick_idle_ms"), "ms")),
            Figure(
                f"outage of {fmt(r.get('outage_gateways'))} gateways through on_transitions",
                fmt(r.get("outage_ms"), "ms"),
            ),
            Figure(
                f"tick with {fmt(r.get('firing'))} firing alerts",
                fmt(r.get("tick_active_ms"), "ms"),
            ),
        ],
    )


def _scenario(r: dict[str, Any]) -> Headline:
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


def _generic(r: dict[str, Any]) -> Headline:
    return Headline(
        figures=[
            Figure(k, fmt(v))
            for k, v in r.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
    )


HEADLINES: dict[str, Callable[[dict[str, Any]], Headline]] = {
    "ingest": _ingest,
    "fuzz_ingest": _fuzz,
    "liveness_scale": _liveness,
    "sim_scale": _sim_scale,
    "agent_footprint": _agent,
    "paging_latency": _paging,
    "influx_throughput": _influx,
    "store_size": _store,
    "dashboard_render": _dashboard,
    "alerts_engine": _alerts_engine,
    "alerts_ingest": _alerts_ingest,
    "scenario_mixed_10k": _scenario,
}


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
            h = HEADLINES.get(run.name, _generic)(result)
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
