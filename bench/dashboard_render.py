"""Time to a full render of the console's Overview and Alerts pages at 100,000 terminals.

    .venv/bin/python bench/dashboard_render.py [--terminals 100000] [--no-browser]

Builds a store (25,000 gateways x 4 terminals, a month of state changes, incidents, alerts,
telemetry), then measures, and reports apart:
- a **new tab** (a new Streamlit session, Chromium via Playwright against
  ``posfleet-dashboard``, a fresh server per round): navigation until Streamlit reports the
  run finished and nothing is still drawing (what a user waits), with a cold and a warm data
  cache, in a fresh browser profile and in one that has loaded the console before. Goal
  <= 2 s;
- a **page switch** in the same session (the sidebar's link in an open tab). Goal <= 0.5 s;
- the **server's CPU time** for each of them (the dashboard process's user + system time,
  from /proc, over the sample), and for one script run of the page in AppTest with the data
  cache cold and warm (the script thread's CPU time): the part of the figures that depends
  least on the load of this shared machine;
- the 1-minute load average at start, at end and the highest seen between samples.
Writes bench/results/dashboard_render.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, get, ratio, write_result
from collector.process import free_port
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW, build_store
from simulators.stack.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]

GOAL_NEW_TAB_S = 2.0  # issue #15: a new tab at 100,000 terminals
GOAL_PAGE_SWITCH_S = 0.5  # issue #15: a page switch in an open tab
CHROMIUM = "/usr/bin/chromium"
PAGES = (("overview", "/", "Regions at a glance"), ("alerts", "/alerts", "active alerts match"))
NAV_LABELS = {"overview": "Overview", "alerts": "Alerts"}
VIEWPORT: Any = {"width": 1440, "height": 1000}  # a playwright ViewportSize
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOM_READY_MS = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
SETTLED = """() => document.querySelector(
    '[data-testid="stApp"][data-test-script-state="notRunning"]')
    && !document.querySelector('[data-testid="stSkeleton"]')
    && !document.querySelector('[data-stale="true"]')"""
TICK_S = os.sysconf("SC_CLK_TCK")


class Load:
    """The 1-minute load average: at start, at end, and the highest seen between samples
    (the machine is shared; a figure is only as good as the quiet it was measured in)."""

    def __init__(self) -> None:
        self.start = self.max = os.getloadavg()[0]

    def sample(self) -> None:
        self.max = max(self.max, os.getloadavg()[0])

    def facts(self) -> dict[str, float]:
        self.sample()
        return {
            "load_avg_1m_at_start": round(self.start, 2),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
            "load_avg_1m_max": round(self.max, 2),
        }


LOAD = Load()


@contextmanager
def script_cpu() -> Iterator[list[float]]:
    """CPU seconds of each Streamlit script run while inside (the script thread's own time,
    ``time.thread_time``, not the waiting AppTest thread's). Hooks a private method of
    Streamlit's ScriptRunner: a Streamlit that renames it fails this benchmark loudly."""
    from streamlit.runtime.scriptrunner import script_runner

    runs: list[float] = []
    original = script_runner.ScriptRunner._run_script

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            runs.append(time.thread_time() - t0)

    script_runner.ScriptRunner._run_script = timed  # type: ignore[method-assign]
    try:
        yield runs
    finally:
        script_runner.ScriptRunner._run_script = original  # type: ignore[method-assign]


def apptest_samples(page: str, runs: int) -> dict[str, list[float]]:
    """One script run of ``page`` in AppTest, ``runs`` times with the data cache cold and
    ``runs`` times warm: wall and script-thread CPU seconds."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import queries

    out: dict[str, list[float]] = {"cold": [], "cold_cpu": [], "warm": [], "warm_cpu": []}
    with script_cpu() as cpu:
        # One untimed run first: a serving process has its imports (pandas, altair, pydeck)
        # done already; what a user waits for is a cold data cache, not a cold interpreter.
        for i in range(runs + 1):
            at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
            if page != "overview":
                at.run()
                at.switch_page(f"views/{page}.py")
            st.cache_data.clear()
            queries.clear_past()  # the month's finished days too (a server computes them at start)
            for kind in ("cold", "warm"):  # warm: the same page again, every read cached
                LOAD.sample()
                t0 = time.perf_counter()
                at.run()
                took = time.perf_counter() - t0
                assert not at.exception, at.exception
                if i:
                    out[kind].append(took)
                    out[f"{kind}_cpu"].append(cpu[-1])
    return out


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far by ``posfleet-dashboard`` and its children
        (it starts Streamlit in a child process)."""
        total, todo = 0.0, [self.pid]
        while todo:
            pid = todo.pop()
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK_S  # utime, stime (14, 15)
        return total


@contextmanager
def dashboard(db: Path) -> Iterator[Server]:
    """``posfleet-dashboard`` on a free port, as an operator starts it."""
    exe = Path(sys.executable).with_name("posfleet-dashboard")
    for _ in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [str(exe), "--db", str(db), "--port", str(port), "--address", "127.0.0.1"],
            env={**os.environ, "POSFLEET_DASHBOARD_REFRESH_S": "600"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up_or_exited(url: str = url, proc: subprocess.Popen[bytes] = proc) -> bool:
            if proc.poll() is not None:
                return True
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_for(up_or_exited, 90, what="dashboard")
        if proc.poll() is None:
            break
        # Exited: the port was taken between free_port() and Streamlit's bind (other jobs on
        # this shared machine open ports too). Another port.
    else:
        raise RuntimeError("posfleet-dashboard exited at start three times")
    try:
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


Samples = dict[str, list[float]]


def settle(page: Any, marker: str) -> None:
    page.get_by_text(marker).first.wait_for(timeout=60_000)
    page.wait_for_function(SETTLED, timeout=60_000)


def open_tab(
    opener: Any,
    server: Server,
    path: str,
    marker: str,
    key: str | None = None,
    out: Samples | None = None,
) -> None:
    """A new tab (a new session) navigated to ``path`` until the page is settled with
    ``marker`` on it; with ``key``, its seconds, the server's CPU seconds and the time to
    DOMContentLoaded (Streamlit's own JavaScript run, before any data) go to ``out``."""
    page = opener.new_page(**({"viewport": VIEWPORT} if hasattr(opener, "new_context") else {}))
    try:
        LOAD.sample()
        cpu0, t0 = server.cpu_s(), time.perf_counter()
        page.goto(server.url + path)
        settle(page, marker)
        took, cpu = time.perf_counter() - t0, server.cpu_s() - cpu0
        if key is not None and out is not None:
            out[key].append(took)
            out[f"{key}_server_cpu"].append(cpu)
            out[f"{key}_boot"].append(page.evaluate(DOM_READY_MS) / 1000)
    finally:
        page.close()


def browser_samples(db: Path, runs: int) -> Samples:
    from playwright.sync_api import sync_playwright

    out: Samples = defaultdict(list)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            browser.new_page().close()  # the browser process itself is up, as a user's is
            for i in range(runs):
                # A fresh server per round: its data cache is cold (imports are done before
                # the port opens). st.cache_data is process-wide, so the next tabs are warm.
                with dashboard(db) as server:
                    # New tab, fresh browser profile (nothing cached): cold, then warm data.
                    for kind in ("_cold_data", ""):
                        for name, path, marker in PAGES:
                            open_tab(
                                browser, server, f"{path}?sample={i}", marker, name + kind, out
                            )
                    # New tab in a browser that has shown the console before: Streamlit's
                    # hashed JavaScript comes from the HTTP cache (immutable, one year).
                    context = browser.new_context(viewport=VIEWPORT)
                    try:
                        open_tab(context, server, "/", "Regions at a glance")
                        for name, path, marker in PAGES:
                            key = f"{name}_same_browser"
                            open_tab(context, server, f"{path}?sample={i}", marker, key, out)
                    finally:
                        context.close()
                    page_switches(browser, server, out)
        finally:
            browser.close()
    return out


def page_switches(browser: Any, server: Server, out: Samples) -> None:
    """A NOC screen stays open all day: switching pages in the open tab (same session, no
    reload of Streamlit's JavaScript, data cached) is what operators feel most. One
    switch to each page per round (a fresh server each)."""
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(server.url + "/")
        settle(page, "Regions at a glance")
        nav = page.locator('[data-testid="stSidebarNav"]')
        for name, _, marker in (PAGES[1], PAGES[0]):  # to Alerts, back to the Overview
            LOAD.sample()
            cpu0, t0 = server.cpu_s(), time.perf_counter()
            nav.get_by_text(NAV_LABELS[name], exact=True).click()
            settle(page, marker)
            out[f"{name}_in_app"].append(time.perf_counter() - t0)
            out[f"{name}_in_app_server_cpu"].append(server.cpu_s() - cpu0)
    finally:
        page.close()


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "first_s": round(samples[0], 3),
        "min_s": round(min(samples), 3),
        "median_s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
    }


def med(samples: Samples, key: str) -> float | None:
    got = samples.get(key)
    return round(statistics.median(got), 3) if got else None


def verdicts(apptest: dict[str, Samples], browser: Samples | None) -> dict[str, Any]:
    """The two figures the goal is about, apart, per page (medians): a new tab (a new
    session) and a page switch in the same session, each with the server's CPU time."""
    new_tab: dict[str, Any] = {}
    switch: dict[str, Any] = {}
    for name, _, _ in PAGES:
        a = apptest[name]
        new_tab[name] = {
            "server_script_cpu_cold_data_s": med(a, "cold_cpu"),
            "server_script_cpu_warm_data_s": med(a, "warm_cpu"),
        }
        switch[name] = {"server_script_cpu_s": med(a, "warm_cpu")}
        if browser is None:
            continue
        for kind, key in (("cold_data", "_cold_data"), ("warm_data", ""),
                          ("same_browser", "_same_browser")):  # fmt: skip
            new_tab[name][f"{kind}_s"] = med(browser, name + key)
            new_tab[name][f"{kind}_server_cpu_s"] = med(browser, f"{name}{key}_server_cpu")
        switch[name]["browser_s"] = med(browser, f"{name}_in_app")
        switch[name]["server_cpu_s"] = med(browser, f"{name}_in_app_server_cpu")
    out: dict[str, Any] = {"new_tab": new_tab, "page_switch": switch}
    if browser is not None:
        out["new_tab_within_goal"] = {
            kind: all((new_tab[n][f"{kind}_s"] or 1e9) <= GOAL_NEW_TAB_S for n, _, _ in PAGES)
            for kind in ("cold_data", "warm_data", "same_browser")
        }
        out["page_switch_within_goal"] = all(
            (switch[n]["browser_s"] or 1e9) <= GOAL_PAGE_SWITCH_S for n, _, _ in PAGES
        )
    return out


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    h = Headline()
    for page in ("overview", "alerts"):
        h.ratios.append(
            Figure(
                f"new tab {page} (fresh profile, warm data), 100k terminals ÷ 120 terminals",
                ratio(
                    get(r, f"browser.{page}.median_s"),
                    get(r, f"browser_baseline_120_terminals.{page}.median_s"),
                ),
                "the same page on a 120-terminal store, same run (front-end cost)",
            )
        )
    h.ratios.append(
        Figure(
            "new tab overview, cold data ÷ goal",
            ratio(get(r, "new_tab.overview.cold_data_s"), r.get("goal_new_tab_s")),
            f"the {fmt(r.get('goal_new_tab_s'), 's')} goal",
        )
    )
    h.ratios.append(
        Figure(
            "page switch to the overview ÷ goal",
            ratio(get(r, "page_switch.overview.browser_s"), r.get("goal_page_switch_s")),
            f"the {fmt(r.get('goal_page_switch_s'), 's')} goal",
        )
    )
    for page in ("overview", "alerts"):
        for kind in ("cold_data", "warm_data", "same_browser"):
            h.figures.append(
                Figure(
                    f"new tab {page}, {kind}, median", fmt(get(r, f"new_tab.{page}.{kind}_s"), "s")
                )
            )
        h.figures.append(
            Figure(
                f"page switch to {page}, median",
                fmt(get(r, f"page_switch.{page}.browser_s"), "s"),
            )
        )
        h.figures.append(
            Figure(
                f"server CPU, {page} script run, cold / warm data (AppTest, median)",
                f"{fmt(get(r, f'new_tab.{page}.server_script_cpu_cold_data_s'), 's')} / "
                f"{fmt(get(r, f'new_tab.{page}.server_script_cpu_warm_data_s'), 's')}",
            )
        )
        h.figures.append(
            Figure(
                f"server CPU, new {page} tab cold data / page switch (dashboard process, median)",
                f"{fmt(get(r, f'new_tab.{page}.cold_data_server_cpu_s'), 's')} / "
                f"{fmt(get(r, f'page_switch.{page}.server_cpu_s'), 's')}",
            )
        )
    h.figures.append(Figure("terminals in the store", fmt(get(r, "store_rows.terminals"))))
    h.figures.append(
        Figure(
            "load average (1 min): start / max / end",
            f"{fmt(get(r, 'machine.load_avg_1m_at_start'))} / "
            f"{fmt(get(r, 'machine.load_avg_1m_max'))} / "
            f"{fmt(get(r, 'machine.load_avg_1m_at_end'))}",
        )
    )
    within = r.get("new_tab_within_goal") or {}
    h.figures.append(
        Figure(
            "within goal: new tab cold / warm / same browser; page switch",
            f"{fmt(within.get('cold_data'))} / {fmt(within.get('warm_data'))} / "
            f"{fmt(within.get('same_browser'))}; {fmt(r.get('page_switch_within_goal'))}",
        )
    )
    return h


WHAT = (
    "seconds. new_tab.<page>: a new tab (new Streamlit session) until the page is settled "
    "(Streamlit reports the run finished, no skeleton, nothing stale), medians over rounds with "
    "a fresh server each: cold_data_s = fresh browser profile, first tab on the fresh server "
    "(cold data cache; the server computed the month's finished days before opening its port, "
    "as posfleet-dashboard does); warm_data_s = fresh profile, warm data cache; "
    "same_browser_s = a browser that has shown the console before (Streamlit's JavaScript from "
    "the HTTP cache), warm data; *_server_cpu_s = user + system CPU seconds of the dashboard "
    "process during that tab; server_script_cpu_*_s = CPU seconds of one script run of the "
    "page in AppTest (script thread), data cache and month figure cleared (cold) or cached "
    "(warm). page_switch.<page>: clicking the page in the sidebar of an open tab (same "
    "session, data cached): browser_s, server_cpu_s. browser.<case>: every sample's summary; "
    "<page>_in_app = page switch, <page>*_boot = time to DOMContentLoaded (Streamlit's "
    "bundle fetched and run, before any data). apptest: wall seconds of one script run, "
    "cold and warm. browser_baseline_120_terminals: the same on a tiny store (front-end cost)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terminals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/dashboard_render.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="posfleet-bench-"))
    t0 = time.perf_counter()
    fleet = build_store(
        work / "store.sqlite",
        terminals=args.terminals,
        per_gateway=4,
        days=30,
        telemetry_gateways=200,
        telemetry_step_h=1,
    )
    build_s = time.perf_counter() - t0
    conn = sqlite3.connect(fleet.path)
    rows = {
        t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in (
            "sites",
            "gateways",
            "terminals",
            "state_changes",
            "incidents",
            "alerts",
            "telemetry",
        )
    }
    conn.close()
    print(f"store built in {build_s:.1f}s: {rows}", flush=True)

    os.environ["POSFLEET_DB"] = str(fleet.path)
    os.environ["POSFLEET_DASHBOARD_NOW"] = to_db(NOW)
    apptest = {p: apptest_samples(p, args.runs) for p, _, _ in PAGES}
    result: dict[str, Any] = {
        "what": WHAT,
        "goal_new_tab_s": GOAL_NEW_TAB_S,
        "goal_page_switch_s": GOAL_PAGE_SWITCH_S,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "store_rows": rows,
        "store_build_s": round(build_s, 1),
        "apptest": {
            f"{p}{'' if kind == 'cold' else '_' + kind}": summary(v)
            for p, a in apptest.items()
            for kind, v in a.items()
        },
    }
    print(json.dumps(result["apptest"]), flush=True)
    samples: Samples | None = None
    if not args.no_browser and Path(CHROMIUM).exists():
        samples = browser_samples(fleet.path, args.runs)
        result["browser"] = {k: summary(v) for k, v in samples.items()}
        print(json.dumps(result["browser"]), flush=True)
        # The same pages on a 120-terminal store: what Streamlit's front end costs by itself
        # on this machine, so the fleet size's share of the browser time can be read off.
        small = build_store(work / "small.sqlite", terminals=120)
        base = browser_samples(small.path, args.runs)
        result["browser_baseline_120_terminals"] = {k: summary(v) for k, v in base.items()}
        print(json.dumps(result["browser_baseline_120_terminals"]), flush=True)
    result.update(verdicts(apptest, samples))
    result["machine"].update(LOAD.facts())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result, headline)
    print(json.dumps({k: result[k] for k in ("new_tab", "page_switch", "machine")}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
