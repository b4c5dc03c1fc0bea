"""Run a scenario end to end: its own Mosquitto, its own collector process, the simulated
fleet, the timeline, then the scorecard (``posfleet-sim scenario FILE``).

Everything lands in one output directory: ``truth.jsonl`` (what was injected, when),
``collector.sqlite`` (the collector's store, unless a ``postgresql://`` store is given),
``collector.log`` (``collector2.log``... for more collectors), ``inventory/`` and
``scorecard.json`` (per fault kind: detected, missed, false, duplicate, detection delay;
bad input injected vs counted; publish errors; CPU and memory of both processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from collector.process import CollectorProcess, CollectorProcessError, proc_usage
from collector.store import db
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import Fleet as FleetModel
from simulators.gateways import Fleet, Mode
from simulators.runner import FleetRunner
from simulators.scenarios.plan import Mark, Plan, Step, compile_plan
from simulators.scenarios.spec import Scenario
from simulators.scenarios.txnrun import TXN_CONTROL_OPS, TxnRun
from simulators.scorecard import read_cases, read_pages, read_truth, score
from telemetry.models import OfflineReason

if TYPE_CHECKING:
    import sqlite3  # the collector's readers are typed sqlite3 until its port (issue #14)

FLEET_OPS = {
    "kill",
    "connect",
    "hang",
    "unhang",
    "mute",
    "unmute",
    "offline",
    "firmware",
    "skew",
    "hardware",
    "mark",
    "txn_mode",
}


class ScenarioRunError(RuntimeError):
    pass


# A store not there yet (the collector is starting) or not answering: nothing online yet.
UNREADABLE: tuple[type[Exception], ...] = (db.StoreError, *db.Error)


def _start(collector: CollectorProcess, *, subscribed: bool = False) -> None:
    """Start ``collector``; ``subscribed``: and wait until it is connected and subscribed (at
    the run's start, before the fleet is born: CollectorProcess.wait_connected)."""
    try:
        collector.start()
        if subscribed:
            collector.wait_connected()
    except CollectorProcessError as exc:
        raise ScenarioRunError(str(exc)) from exc


def _wait(pred: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise ScenarioRunError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@dataclass
class RunResult:
    scenario: str
    seed: int
    gateways: int
    terminals: int
    duration_s: float
    connect_s: float
    faults: dict[str, int]
    scorecard: dict[str, Any]
    bad_input: dict[str, dict[str, int]] = field(default_factory=dict)
    fleet: dict[str, int] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    late_steps_max_s: float = 0.0
    ok: bool = False
    problems: list[str] = field(default_factory=list)


class _Truth:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("w", encoding="utf-8")

    def write(
        self,
        marks: tuple[Mark, ...],
        begun: datetime | None = None,
        done: datetime | None = None,
    ) -> None:
        """``begun``: when the step was handed over, the time of its starts; ``done``: when
        it had been applied, the time of its ends (both default to now)."""
        now = datetime.now(UTC)
        began, ended = (begun or now).isoformat(), (done or now).isoformat()
        for m in marks:
            row = {
                "fault": f"{m.fault}_end" if m.end else m.fault,
                "subject_type": m.subject_type,
                "subject_id": m.subject_id,
                "start": ended if m.end else began,
                "end": ended if (m.end or m.instant) else None,
                "expect_alert": None if m.end else m.expect_alert,
            }
            self.fh.write(json.dumps(row) + "\n")
        if marks:
            self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _fleet_ops(f: Fleet, steps: tuple[Step, ...]) -> None:
    for step in steps:
        _fleet_op(f, step)


def run_fleet_steps(runner: FleetRunner, steps: tuple[Step, ...], truth: _Truth) -> None:
    """Apply ``steps`` on the fleet's thread and write their truth.

    A fault starts when its step is handed to the fleet, not when the call returns: the
    fleet thread sends a hardware report at once and a ``hardware_fault`` (no pending
    delay) pages on receipt, which under load can come before this thread runs again. A
    start stamped after the call then postdates its own page (a false page, and a miss).
    An end is stamped once the step has been applied, so a fault never ends early either.
    """
    begun = datetime.now(UTC)
    runner.call(partial(_fleet_ops, steps=steps))
    done = datetime.now(UTC)
    for st in steps:
        truth.write(st.truth, begun, done)


def _fleet_op(f: Fleet, step: Step) -> None:
    kw = step.kw
    if step.op == "txn_mode":  # targets are payment devices (terminals or all-in-one POS)
        if f.txn is not None:
            f.txn.set_mode(step.targets, kw["mode"], kw["share"])
        return
    for gid in step.targets:
        gw = f.gateways[gid]
        if step.op == "kill":
            f.kill(gid)
        elif step.op == "connect":
            if gw.mode is Mode.DEAD:
                f.connect(gw)
        elif step.op == "hang":
            f.hang(gid)
        elif step.op == "unhang":
            f.unhang(gid)
        elif step.op in ("mute", "unmute"):
            f.mute_terminal(gid, kw["terminal"], muted=step.op == "mute")
        elif step.op == "offline":
            f.graceful_offline(gid, OfflineReason(kw["reason"]))
        elif step.op == "firmware":
            gw.firmware = kw["version"]
        elif step.op == "skew":
            gw.clock_skew_s = float(kw["seconds"])
        elif step.op == "hardware":
            f.publish_hardware(gid, **kw)


class ScenarioRun:
    def __init__(
        self,
        scenario: Scenario,
        model: FleetModel,
        out: Path,
        *,
        say: Callable[[str], None] = lambda _m: None,
        store: str | None = None,
        collectors: int = 1,
        share_group: str | None = None,
        collector_args: Sequence[str] = (),
        collector_env: dict[str, str] | None = None,
        before_stop: Callable[[], None] | None = None,
    ) -> None:
        """``store``: a ``postgresql://`` URL (default: ``collector.sqlite`` in ``out``);
        ``collectors`` processes on it, each run as ``posfleet-collector run --db STORE
        --share-group G --client-id posfleet-collector-N`` when ``share_group`` is given
        (issue #14); a ``collector_restart`` step kills them in turn. ``before_stop`` runs
        after the timeline while everything still runs (e.g. to wait for a webhook)."""
        if collectors > 1 and share_group is None:
            raise ScenarioRunError("several collectors need a share group (--share-group)")
        if collectors > 1 and scenario.transactions:
            raise ScenarioRunError("transaction scenarios run with one collector")
        self.store = store
        self.n_collectors = collectors
        self.share_group = share_group
        self.collector_args = list(collector_args)
        self.extra_env = dict(collector_env or {})
        self.restarts = 0
        self.before_stop = before_stop
        self.collectors: list[CollectorProcess] = []
        self.s = scenario
        self.model = model
        self.out = out
        self.say = say
        self.plan: Plan = compile_plan(scenario, model)
        self.txn = TxnRun(scenario, model, out, say=say) if scenario.transactions else None

    def collector_env(self) -> dict[str, str]:
        # The collector holds a broker restart's wills for the agents' backoff: this fleet's.
        env = {"POSFLEET_AGENT_RECONNECT_MAX_S": str(self.s.fleet.reconnect_max)}
        env |= {f"POSFLEET_{k.upper()}": str(v) for k, v in self.s.collector.settings.items()}
        env |= {f"POSFLEET_ALERT_{k.upper()}": str(v) for k, v in self.s.collector.alerts.items()}
        if self.txn is not None:
            env |= self.txn.collector_env()
        return env | self.extra_env

    def _make_collectors(self, target: str | Path, port: int) -> list[CollectorProcess]:
        out = []
        for i in range(self.n_collectors):
            args = list(self.collector_args)
            if self.share_group is not None:
                args += ["--share-group", self.share_group]
                args += ["--client-id", f"posfleet-collector-{i + 1}"]
            out.append(
                CollectorProcess(
                    target,
                    port,
                    inventory=self.out / "inventory" if i == 0 else None,
                    log_path=self.out / ("collector.log" if i == 0 else f"collector{i + 1}.log"),
                    env=self.collector_env(),
                    args=args,
                )
            )
        return out

    def run(self) -> RunResult:
        out = self.out
        # One socket per gateway here and one in the broker (which inherits the limit).
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = len(self.model.gateways) + 200
        if hard != resource.RLIM_INFINITY and need > hard:
            raise ScenarioRunError(
                f"{len(self.model.gateways)} gateways need about {need} open files but the "
                f"limit is {hard} (ulimit -Hn); run fewer gateways (--gateways) or raise it"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        out.mkdir(parents=True, exist_ok=True)
        # A fresh start: a previous run's retained statuses (higher session numbers) in the
        # broker's persistence file would make this run's births stale.
        for stale in (
            "collector.sqlite",
            "collector.sqlite-wal",
            "collector.sqlite-shm",
            "collector.log",
            "truth.jsonl",
            "scorecard.json",
        ):
            (out / stale).unlink(missing_ok=True)
        shutil.rmtree(out / "broker", ignore_errors=True)
        self.model.export_inventory(out / "inventory")
        (out / "plan.txt").write_text(
            "".join(
                f"{st.at:9.2f} {st.op:<18} {' '.join(st.targets)[:80]} {st.note}\n"
                for st in self.plan.steps
            )
        )
        broker = MosquittoProcess(workdir=out / "broker", persistence=True).start()
        store: str | Path = self.store or out / "collector.sqlite"
        self.collectors = self._make_collectors(store, broker.port)
        collector = self.collectors[0]
        runner: FleetRunner | None = None
        truth = _Truth(out / "truth.jsonl")
        result = RunResult(
            self.s.name,
            self.s.seed,
            len(self.model.gateways),
            sum(len(g.terminals) for g in self.model.gateways),
            0.0,
            0.0,
            dict(self.plan.faults()),
            {},
        )
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        try:
            for member in self.collectors:  # the first imports the inventory
                _start(member, subscribed=True)
            fleet = Fleet(
                self.model.gateways,
                "127.0.0.1",
                broker.port,
                interval=self.s.fleet.heartbeat,
                keepalive=self.s.fleet.keepalive,
                seed=self.s.seed,
                reconnect_min_s=self.s.fleet.reconnect_min,
                reconnect_max_s=self.s.fleet.reconnect_max,
            )
            runner = FleetRunner(fleet).start()
            t_conn = time.monotonic()
            self.say(f"connecting {len(fleet.gateways)} gateways")
            runner.call(lambda f: f.connect_all(self._bar), timeout=1800)
            n = len(self.model.gateways)
            _wait(
                lambda: self._online(store) >= n,
                120 + n / 50,
                f"the collector to see all {n} gateways online",
            )
            result.connect_s = round(time.monotonic() - t_conn, 1)
            if self.txn is not None:
                self.txn.start(runner, collector.db)
            self.say(f"all {n} gateways online after {result.connect_s} s; timeline starts")
            lateness = self._timeline(runner, broker, collector, truth, result)
            result.late_steps_max_s = round(lateness, 2)
            if self.before_stop is not None:
                self.before_stop()
            result.resources = self._resources(collector, cpu0, time.monotonic() - t_conn)
            c = runner.fleet.counters
            result.fleet = asdict(c)
        finally:
            truth.close()
            if runner is not None:
                runner.stop()
            for member in self.collectors:
                member.stop()
            broker.stop()
        result.duration_s = round(self.plan.end, 1)
        pages, site_of = read_pages(store)
        if self.txn is not None:
            pages += read_cases(collector.db)  # shortfall cases, scored like pages
            result.problems += self.txn.problems
            result.fleet["txn_live_windows"] = self.txn.driver.live_sent
            result.fleet["txn_history_windows"] = self.txn.driver.history_sent
        t = self.plan.timing
        assert t is not None
        min_duration = {
            k: t.page_after(k)
            for k in (
                "site_down",
                "gateway_down",
                "terminal_down",
                "flapping",
                "hardware_fault",
                "clock_skew",
                "firmware_non_compliant",
            )
        }
        min_duration["flapping"] = 0.0  # cycles are checked when the plan is compiled
        card = score(
            read_truth(out / "truth.jsonl"),
            pages,
            site_of,
            until=datetime.now(UTC),
            min_duration=min_duration,
        )
        result.scorecard = card.as_dict()
        if not card.ok:
            result.problems.append("the scorecard has misses, false or duplicate pages")
        for fault, sc in card.by_fault.items():
            if sc.detected < sc.expected:
                result.problems.append(f"{fault}: {sc.detected} of {sc.expected} detected")
        if result.fleet.get("publish_errors"):
            result.problems.append(f"{result.fleet['publish_errors']} publish errors")
        for reason, d in result.bad_input.items():
            if d["counted"] < d["injected"]:
                result.problems.append(
                    f"bad input {reason}: {d['counted']} of {d['injected']} counted"
                )
        result.ok = not result.problems
        (out / "scorecard.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
        return result

    # ------------------------------------------------------------------ pieces
    def _bar(self, done: int, total: int) -> None:
        if done == 1 or done % 1000 < 50 or done == total:
            self.say(f"  connected {done}/{total}")

    @staticmethod
    def _online(store: str | Path) -> int:
        try:
            conn = db.connect(store, readonly=True, timeout=5)
            try:
                return int(
                    conn.execute("SELECT count(*) FROM gateways WHERE status='online'").fetchone()[
                        0
                    ]
                )
            finally:
                conn.close()
        except UNREADABLE:
            return 0

    def _timeline(
        self,
        runner: FleetRunner,
        broker: MosquittoProcess,
        collector: CollectorProcess,
        truth: _Truth,
        result: RunResult,
    ) -> float:
        steps = self.plan.steps
        t0 = time.monotonic()
        i, late, next_report = 0, 0.0, 0.0
        while True:
            now = time.monotonic() - t0
            if now >= next_report:
                next_report = now + 10
                for member in self.collectors:
                    member.sample()  # keeps the peak RSS
                self._report(runner, now, i)
            if i >= len(steps):
                if now >= self.plan.end:
                    return late
                time.sleep(min(0.5, self.plan.end - now))  # the settle time is a duration
                continue
            if steps[i].at > now:
                time.sleep(min(0.2, steps[i].at - now))  # the timeline's schedule
                continue
            late = max(late, now - steps[i].at)
            if steps[i].op in FLEET_OPS:
                batch = []
                while i < len(steps) and steps[i].op in FLEET_OPS and steps[i].at <= now:
                    batch.append(steps[i])
                    i += 1
                run_fleet_steps(runner, tuple(batch), truth)
                for st in batch:
                    if st.note:
                        self.say(f"[{now:7.1f}s] {st.note}")
                continue
            step = steps[i]
            i += 1
            if step.note:
                self.say(f"[{now:7.1f}s] {step.note}")
            if self.txn is not None and step.op in TXN_CONTROL_OPS:
                self.txn.control(step, runner, collector.db, truth)  # writes its own truth
                continue
            truth.write(step.truth)
            self._control(step, runner, broker, collector, result)

    def _report(self, runner: FleetRunner, now: float, done: int) -> None:
        def count(f: Fleet) -> tuple[int, int, int]:
            up = sum(1 for g in f.gateways.values() if g.mode is Mode.RUNNING)
            return up, f.counters.published, f.counters.publish_errors

        up, pub, err = runner.call(count)
        self.say(
            f"[{now:7.1f}/{self.plan.end:.0f}s] running {up}/{len(self.model.gateways)}, "
            f"published {pub}, publish errors {err}, steps {done}/{len(self.plan.steps)}"
        )

    def _control(
        self,
        step: Step,
        runner: FleetRunner,
        broker: MosquittoProcess,
        collector: CollectorProcess,
        result: RunResult,
    ) -> None:
        kw = step.kw
        if step.op == "broker_restart":
            broker.stop()
            time.sleep(kw["down"])  # how long the broker stays away: a duration
            broker.start()
        elif step.op == "collector_restart":
            # With several collectors, each restart takes the next one in turn.
            member = self.collectors[self.restarts % len(self.collectors)]
            self.restarts += 1
            member.stop(hard=kw["hard"])
            time.sleep(kw["down"])
            _start(member)
        elif step.op == "window":
            from collector.actions import Actor, Role, create_window

            now = datetime.now(UTC)
            conn = db.connect(collector.target, timeout=30)
            try:
                create_window(
                    cast("sqlite3.Connection", conn),  # collector port: db.Connection
                    Actor("scenario", Role.ADMIN),
                    scope_type=kw["scope_type"],
                    scope_id=step.targets[0],
                    starts_at=now,
                    ends_at=now + timedelta(seconds=kw["length"]),
                    reason=f"scenario {self.s.name}: upgrades",
                    now=now,
                )
            finally:
                conn.close()
        elif step.op == "policy":
            conn = db.connect(collector.target, timeout=30)
            try:
                with conn:
                    conn.execute(
                        "INSERT INTO firmware_policy (model, min_version, approved_versions, "
                        "end_of_support) VALUES (?, ?, '[]', NULL) ON CONFLICT (model) DO UPDATE "
                        "SET min_version = excluded.min_version, approved_versions = '[]', "
                        "end_of_support = NULL",
                        (step.targets[0], kw["min_version"]),
                    )
            finally:
                conn.close()
        elif step.op == "bad_input":
            self._bad_input(step, runner, broker, collector, result)
        else:
            raise ScenarioRunError(f"unknown step {step.op}")

    def _bad_input(
        self,
        step: Step,
        runner: FleetRunner,
        broker: MosquittoProcess,
        collector: CollectorProcess,
        result: RunResult,
    ) -> None:
        a, b = step.targets
        kinds, count = step.kw["kinds"], int(step.kw["count"])
        session = runner.call(lambda f: f.gateways[a].session)

        def rejected() -> Counter[str]:  # a share group spreads them over its members
            total: Counter[str] = Counter()
            for c in self.collectors:
                if c.alive():
                    total += c.rejected()
            return total

        before = rejected()
        # From a process of its own, like a real rogue client (and because paho's own loop
        # uses select(), which cannot watch a socket numbered above 1024, as every new
        # socket is in this process with its 10,000 gateways).
        cmd = [sys.executable, "-m", "simulators.scenarios.inject", "--port", str(broker.port),
               "--target", a, "--spoofed", b, "--session", str(session), "--count", str(count),
               "--kinds", ",".join(kinds)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            result.problems.append(f"bad input: the injector failed: {proc.stderr.strip()[-500:]}")
        want = Counter({k: count for k in kinds})

        def counted() -> Counter[str]:
            now = rejected()
            return Counter({k: now[k] - before[k] for k in kinds})

        with contextlib.suppress(ScenarioRunError):
            _wait(lambda: all(counted()[k] >= want[k] for k in kinds), 30, "rejects counted")
        got = counted()
        for k in kinds:
            d = result.bad_input.setdefault(k, {"injected": 0, "counted": 0})
            d["injected"] += want[k]
            d["counted"] += got[k]

    def _resources(
        self, collector: CollectorProcess, cpu0: resource.struct_rusage, wall: float
    ) -> dict[str, float]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        sim_cpu = (r.ru_utime - cpu0.ru_utime) + (r.ru_stime - cpu0.ru_stime)
        coll_cpu, coll_rss = collector.sample()
        _c, sim_rss = proc_usage(os.getpid())
        return {
            "wall_s": round(wall, 1),
            "simulator_cpu_pct_of_one_core": round(100 * sim_cpu / wall, 1),
            "simulator_rss_mb": round(sim_rss, 1),
            "collector_cpu_pct_of_one_core": round(100 * coll_cpu / wall, 1),
            "collector_rss_mb": round(coll_rss, 1),
            "collector_peak_rss_mb": round(collector.peak_rss_mb, 1),
        }
