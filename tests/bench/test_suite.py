"""bench/suite.py's summary and doc generation (no services), and a benchmark writing its
own result file."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bench.report import write_result

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    return importlib.import_module("bench.suite")


MACHINE = {"cpus": 2, "cpu_model": "Test CPU", "memory_gb": 4.0, "python": "3.11.7"}


def _write(results: Path, name: str, data: dict[str, object]) -> None:
    """As the benchmark itself writes it: with the headline its module chooses."""
    try:
        headline = importlib.import_module(f"bench.{name}").headline
    except ModuleNotFoundError:  # a benchmark that writes no headline
        (results / f"{name}.json").write_text(json.dumps(data))
        return
    write_result(results / f"{name}.json", data, headline)


def _run(suite: ModuleType, name: str, error: str = "") -> object:
    return suite.Run(
        name=name,
        command=f".venv/bin/python bench/{name}.py",
        status="failed" if error else "ok",
        seconds=61.0,
        exit_code=1 if error else 0,
        when="2026-11-29T02:00:00+00:00",
        load_avg_1m_start=0.5,
        load_avg_1m_max=1.9,
        error=error,
        commit="abc1234",
    )


def test_two_results_and_a_failure(suite: ModuleType, tmp_path: Path) -> None:
    _write(
        tmp_path,
        "ingest",
        {
            "db": "sqlite",
            "messages": 50000,
            "runs": [
                {
                    "collectors": 1,
                    "bare_subscriber": {"messages": 50000, "rate": 23083.8},
                    "collector": {
                        "messages": 50000,
                        "rate": 14996.7,
                        "mean_ingest_latency_s": 0.213,
                    },
                    "ratio_collector_over_bare": 0.65,
                    "rows_written_per_message": 0.41,
                }
            ],
            "hung_gateway_detection": {"max_s": 0.0038},
        },
    )
    _write(
        tmp_path,
        "store_size",
        {
            "raw_bytes_per_gateway_per_day": 358554,
            "rollup_bytes_per_gateway_per_day": 53197,
            "steady_state_mb_for_10000_gateways": 58633.7,
            "fold_rows_per_s": 34353,
            "policy": {"raw_keep_days": 3, "rollup_keep_days": 90},
        },
    )
    runs = [
        _run(suite, "ingest"),
        _run(suite, "store_size"),
        _run(suite, "liveness_scale", "exit code 1: Traceback\nMemoryError"),
    ]
    summary = suite.build_summary(runs, tmp_path, MACHINE, None, {"started": "2026-11-29T02:00"})
    assert summary["failed"] == ["liveness_scale"]
    assert list(summary["benchmarks"]) == ["store_size", "ingest", "liveness_scale"]  # list order
    doc = tmp_path / "benchmarks.md"
    suite.write_outputs(summary, tmp_path / "SUMMARY.json", doc)
    assert json.loads((tmp_path / "SUMMARY.json").read_text()) == summary
    md = doc.read_text()

    ingest = md[md.index("## ingest") : md.index("## liveness_scale")]
    # Ratio table first, then the absolute figures.
    assert ingest.index("| ratio | value | against |") < ingest.index("| figure | value |")
    assert "| 1 collector on sqlite: msg/s ÷ bare subscriber msg/s | 0.65 |" in ingest
    assert "| 1 collector on sqlite | 14,997 msg/s |" in ingest
    assert "| 1 bare subscriber | 23,084 msg/s |" in ingest
    assert "| 1 collector on sqlite: rows written per message | 0.41 |" in ingest
    assert "2 CPUs (Test CPU)" in ingest
    assert "commit abc1234;" in ingest
    assert "Reproduce: `.venv/bin/python bench/ingest.py`" in ingest  # as _run says

    store = md[md.index("## store_size") : md.index("## ingest")]
    assert "| hourly rollup bytes ÷ raw bytes, per gateway-day | 0.148 |" in store
    assert "| raw | 358,554 B/gateway/day |" in store

    failed = md[md.index("## liveness_scale") :]
    assert "**Failed:** `liveness_scale`" in md
    assert "**FAILED** in the run of 2026-11-29T02:00:00+00:00: exit code 1" in failed
    assert "MemoryError" in failed
    assert "| figure |" not in failed


def test_only_run_keeps_the_other_entries(suite: ModuleType, tmp_path: Path) -> None:
    _write(tmp_path, "store_size", {"raw_bytes_per_gateway_per_day": 1000})
    previous = {
        "last_full_run": {"started": "2026-11-29T01:00", "full": True},
        "benchmarks": {
            "ingest": {"status": "failed", "error": "exit code 1: boom", "when": "earlier"},
        },
    }
    run = _run(suite, "store_size")
    summary = suite.build_summary([run], tmp_path, MACHINE, previous, {"full": False})
    assert set(summary["benchmarks"]) == {"store_size", "ingest"}
    assert summary["last_full_run"]["started"] == "2026-11-29T01:00"
    assert summary["failed"] == ["ingest"]
    # A fixed run clears the failure.
    _write(tmp_path, "ingest", {"runs": [{"ratio_collector_over_bare": 0.5}]})
    fixed = _run(suite, "ingest")
    assert suite.build_summary([fixed], tmp_path, MACHINE, summary)["failed"] == []


def test_a_failure_keeps_the_last_good_figures(suite: ModuleType, tmp_path: Path) -> None:
    _write(tmp_path, "ingest", {"runs": [{"ratio_collector_over_bare": 0.61}]})
    good = suite.build_summary([_run(suite, "ingest")], tmp_path, MACHINE)
    crash = _run(suite, "ingest", "exit code -11: feeding 100000 gateways")
    summary = suite.build_summary([crash], tmp_path, MACHINE, good)
    assert summary["failed"] == ["ingest"]
    assert summary["benchmarks"]["ingest"]["last_ok"]["status"] == "ok"
    # A second failure still carries the figures of the last good run.
    again = suite.build_summary([crash], tmp_path, MACHINE, summary)
    assert again["benchmarks"]["ingest"]["last_ok"]["ratios"][0]["value"] == "0.61"
    md = suite.render_markdown(again)
    assert "**FAILED** in the run of 2026-11-29T02:00:00+00:00: exit code -11" in md
    assert "Last successful run (2026-11-29T02:00:00+00:00):" in md
    assert "| 1 collector on sqlite: msg/s ÷ bare subscriber msg/s | 0.61 |" in md


def test_unknown_benchmark_lists_its_top_level_numbers(suite: ModuleType, tmp_path: Path) -> None:
    _write(tmp_path, "scenario_10k", {"gateways": 10000, "p99_s": 0.25, "ok": True, "note": "x"})
    run = _run(suite, "scenario_10k")
    md = suite.render_markdown(suite.build_summary([run], tmp_path, MACHINE))
    assert "| gateways | 10,000 |" in md
    assert "| p99_s | 0.25 |" in md
    assert "| ok | yes |" not in md


def test_the_alerts_engine_benchmark_writes_its_own_result(tmp_path: Path) -> None:
    """No benchmark's printed output is parsed: each writes its numbers and its headline."""
    out = tmp_path / "alerts_engine.json"
    subprocess.run(
        [sys.executable, "-m", "bench.alerts_engine", "--gateways", "10000", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = json.loads(out.read_text())
    assert set(result["evaluate_ms"]) == {"p50", "p99", "max"}
    assert (result["gateways"], result["whole_sites_down"], result["firing_site_down"]) == (
        10000,
        10,
        10,
    )
    labels = [f["label"] for f in result["headline"]["ratios"]]
    assert "site_down alerts ÷ whole sites down" in labels


def test_every_listed_benchmark_is_a_module_with_a_headline(suite: ModuleType) -> None:
    for bench in suite.BENCHMARKS:
        module = importlib.import_module(bench.argv[0])
        assert callable(module.headline), bench.name
        assert suite._command(bench, quick=False)[1:3] == ["-m", bench.argv[0]]
