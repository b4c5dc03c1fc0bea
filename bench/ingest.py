"""Collector ingest rate against a fair ceiling in the same run; database rows written per
message; and the detection delay past the deadline for a hung gateway (SQLite runs).

    python -m bench.ingest                                   # 1 collector on SQLite
    python -m bench.ingest --db postgresql --collectors 1,2,3  # starts its own PostgreSQL
    python -m bench.ingest --db postgresql://USER@HOST:PORT/DB --collectors 2

Every member drains a backlog of QoS 1 heartbeats that Mosquitto queued for its persistent
session while it was away, so the publisher's speed is out of the picture. With N members
they share one ``$share/<group>/`` subscription and the broker deals the backlog out among them.

The ceiling is fair (issue #14): N bare subscribers, child processes like the collectors, that
run the collector's own read path (``collector.ingest.MqttIngest``: the same paho client with
the 64 KiB socket read-ahead, the same options, QoS 1 and persistent session, the same
pump-then-drain loop) and only count. The collectors are real ``Collector`` processes whose
messages are counted after commit: a batch's messages count when its transaction has
committed, and the run ends with the last message's commit (bench/_ingest_member.py). Nothing
polls the collectors' metrics while they work. Rate = messages / (last commit, or last
count, minus first message received), across all members. Bare and collector rounds are
interleaved (alternating which goes first); the median ratio is the headline, every round is
kept with the load average it ran under.

Rows written per message: SQLite's ``total_changes`` of the collector's connection, or
PostgreSQL's ``pg_stat_database`` ``tup_inserted + tup_updated + tup_deleted`` of the round's
own database (every collector, listeners included), over the messages.

Writes bench/results/ingest.json (SQLite) or bench/results/ingest_postgresql.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import IO, Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench._publisher import MIXES, TERMINALS_PER_GATEWAY, Mix, gateway_id, terminal_id
from bench._publisher import build as build_mix
from bench.report import Figure, Headline, fmt, get, write_result
from collector.config import load_config
from collector.inventory import upsert_rows
from collector.service import Collector
from collector.store.sqlite import SqliteStore
from simulators.broker import MosquittoProcess
from simulators.stack.single_gateway import TestGateway
from telemetry.topics import subscription

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TIMEOUT_S = 600.0


def publish(port: int, gateways: int, per: int, mix: str = "heartbeats") -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "_publisher.py"),
            str(port),
            str(gateways),
            str(per),
            mix,
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    if proc.stdout.readline().strip() != b"ready":
        raise SystemExit("publisher failed to start")
    return proc


def go(proc: subprocess.Popen[bytes]) -> float:
    assert proc.stdin is not None
    t0 = time.monotonic()
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    return t0


def enrol(db: Path, ids: list[str]) -> None:
    """Only gateways in the inventory are tracked (collector/enrolment.py)."""
    store = SqliteStore(db)
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": g} for g in ids])
    store.close()


def _backlog(port: int, gateways: int, per: int, mix: str) -> None:
    """Publish the burst while the subscribers are away: the broker queues it for their sessions."""
    pub = publish(port, gateways, per, mix)
    try:
        go(pub)
        code = pub.wait(300)
    finally:
        for pipe in (pub.stdin, pub.stdout):
            if pipe is not None:
                pipe.close()
    if code != 0:
        raise SystemExit("publisher failed")


def _session(port: int, client_id: str, *, clean: bool, topic: str | None = None) -> None:
    """Connect once as ``client_id``: create its persistent session and subscription
    (``topic``), or, ``clean``, end it (left alone it would queue every later backlog)."""
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=mqtt.MQTTv311,  # as the collector (collector/ingest.py)
    )
    subscribed = threading.Event()
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        _wait(c.is_connected)
        if topic is not None:
            c.subscribe(topic, qos=1)
            if not subscribed.wait(10):
                raise SystemExit(f"{client_id}: no SUBACK for {topic}")
    finally:
        c.disconnect()
        c.loop_stop()


def forget(port: int, client_id: str) -> None:
    _session(port, client_id, clean=True)


def _wait(cond: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)


# --------------------------------------------------------------------------- databases
class Databases:
    """A fresh database per collector round: an SQLite file, or a PostgreSQL database."""

    def __init__(self, target: str, tmp: Path) -> None:
        self.target, self.tmp = target, tmp
        self.kind = "sqlite" if target == "sqlite" else "postgresql"
        self._server: Any = None
        self._stack = contextlib.ExitStack()
        self.base_url = target if target.startswith(("postgresql://", "postgres://")) else ""

    def __enter__(self) -> Databases:
        if self.kind == "postgresql" and not self.base_url:
            try:  # another branch's helper; SQLite runs never need it
                from simulators.stack.postgres import PostgresServer
            except ImportError as exc:
                raise SystemExit(
                    f"--db postgresql needs simulators/stack/postgres.py ({exc}); or pass "
                    "--db postgresql://USER@HOST:PORT/DB of a running server"
                ) from None
            self._server = self._stack.enter_context(PostgresServer())
            self.base_url = str(self._server.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def fresh(self, name: str) -> str:
        if self.kind == "sqlite":
            return str(self.tmp / f"{name}.sqlite")
        if self._server is not None:
            return str(self._server.create_database(name))
        import psycopg

        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def tuples(self, url: str) -> dict[str, int] | None:
        """PostgreSQL: rows written and transactions committed in the database so far."""
        if self.kind == "sqlite":
            return None
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT tup_inserted + tup_updated + tup_deleted, xact_commit "
                "FROM pg_stat_database WHERE datname = %s",
                (name,),
            ).fetchone()
        assert row is not None, f"no pg_stat_database row for {name}"
        return {"rows": int(row[0]), "commits": int(row[1])}

    def count(self, url: str, table: str) -> int:
        """Rows of ``table`` in the round's database, read after the round."""
        sql = f"SELECT count(*) FROM {table}"  # our own table names
        if self.kind == "sqlite":
            conn = sqlite3.connect(url)
            try:
                return int(conn.execute(sql).fetchone()[0])
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(url, autocommit=True) as pg:
            row = pg.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


class Expected(NamedTuple):
    """What a mix's backlog holds, counted from the messages themselves."""

    messages: int
    by_kind: dict[str, int]
    batches: int  # transactions windows that close a batch

    @classmethod
    def of(cls, mix: str, gateways: int, per: int) -> Expected:
        msgs = build_mix(mix, gateways, per)
        by_kind: dict[str, int] = {}
        for topic, _ in msgs:
            kind = topic.rsplit("/", 1)[1]
            by_kind[kind] = by_kind.get(kind, 0) + 1
        batches = sum(1 for t, p in msgs if t.endswith("/transactions") and b'"batch":' in p)
        return cls(len(msgs), by_kind, batches)


# With --mix heartbeats,transactions, both mixes' fleets are placed as a payment estate is:
# every gateway in a store of its own (China time) in one of a few regions. The silence fold
# works in the store's zone and the spike fold per store, so a fleet without stores would
# leave most of their per-window work out.
REGIONS = 8


def import_inventory(
    db: str, gateways: int, tmp: Path, terminals: int = 0, *, places: bool = False
) -> None:
    """The bench's gateways (bench/_publisher.py's ids) and ``terminals`` PIN pads behind each,
    as an operator imports them, by a process that exits before the round (PostgreSQL flushes
    its statistics at exit). ``places``: regions and a store per gateway (``REGIONS``)."""
    inv = tmp / "inventory"
    inv.mkdir(exist_ok=True)
    for stale in ("regions.csv", "sites.csv"):
        (inv / stale).unlink(missing_ok=True)
    if places:
        (inv / "regions.csv").write_text(
            "region_id\n" + "".join(f"region-{r}\n" for r in range(REGIONS)), encoding="utf-8"
        )
        (inv / "sites.csv").write_text(
            "site_id,region_id,tz\n"
            + "".join(
                f"store-{g:05d},region-{g % REGIONS},Asia/Shanghai\n" for g in range(gateways)
            ),
            encoding="utf-8",
        )
    (inv / "gateways.csv").write_text(
        (
            "gateway_id,site_id,region_id\n"
            + "".join(
                f"{gateway_id(g)},store-{g:05d},region-{g % REGIONS}\n" for g in range(gateways)
            )
            if places
            else "gateway_id\n" + "".join(f"{gateway_id(g)}\n" for g in range(gateways))
        ),
        encoding="utf-8",
    )
    (inv / "terminals.csv").write_text(
        "terminal_id,gateway_id\n"
        + "".join(
            f"{terminal_id(g, j)},{gateway_id(g)}\n"
            for g in range(gateways)
            for j in range(terminals)
        ),
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "collector.main", "import-inventory", "--db", db, str(inv)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- members
class Member:
    """One bench/_ingest_member.py child: a collector or a bare subscriber."""

    def __init__(
        self,
        role: str,
        port: int,
        client_id: str,
        group: str,
        db: str,
        log: Path,
        changed: threading.Event,
    ) -> None:
        self.role, self.client_id, self.log = role, client_id, log
        self.count = 0
        self.final: dict[str, Any] | None = None
        self.ready = threading.Event()
        self.changed = changed  # shared by the members of a group: any progress wakes
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench._ingest_member",
                    role,
                    "--db",
                    db,
                    "--broker-port",
                    str(port),
                    "--client-id",
                    client_id,
                    "--share-group",
                    group,
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg.get("ready"):
                self.ready.set()
            elif "first" in msg:
                self.final = msg
            else:
                self.count = int(msg["count"])
            self.changed.set()
        self.changed.set()

    def send(self, word: str) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(word + "\n")
        stdin.flush()

    def failed(self) -> str:
        code = self.proc.poll()
        if code is None:
            return ""
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        return f"{self.role} {self.client_id} exited ({code}):\n{tail}"

    def finish(self) -> dict[str, Any]:
        self.send("stop")
        self.proc.wait(60)
        self._reader.join(10)
        if self.final is None:
            raise SystemExit(self.failed() or f"{self.client_id} gave no figures")
        return self.final

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def run_group(
    role: str,
    n: int,
    port: int,
    gateways: int,
    per: int,
    tmp: Path,
    dbs: Databases,
    tag: str,
    mix: str = "heartbeats",
    expected: Expected | None = None,
    places: bool = False,
) -> dict[str, Any]:
    """N members (``collector`` or ``bare``) drain one backlog of ``mix``; the rate across
    them. Collectors: with ``expected``, what the round's database holds afterwards, and
    the folds of its windows (``folds``, measured after the drain: _ingest_member.py)."""
    total = gateways * per
    group = f"bench-{role}" if n > 1 else ""  # one collector subscribes as deployed: no $share
    ids = [f"bench-{role}-{i}" for i in range(n)]
    for cid in ids:
        _session(port, cid, clean=False, topic=subscription(group or None))
    db = ""
    before = None
    if role == "collector":
        db = dbs.fresh(f"ingest_{tag}")
        import_inventory(
            db,
            gateways,
            tmp,
            TERMINALS_PER_GATEWAY if mix == "transactions" else 0,
            places=places,
        )
    changed = threading.Event()
    members = [Member(role, port, cid, group, db, tmp / f"{cid}-{tag}.log", changed) for cid in ids]
    try:
        _backlog(port, gateways, per, mix)
        for m in members:
            while not m.ready.wait(1):
                if m.failed():
                    raise SystemExit(m.failed())
        if role == "collector":
            before = dbs.tuples(db)
        load0 = os.getloadavg()[0]
        for m in members:
            m.send("go")
        deadline = time.monotonic() + TIMEOUT_S
        while sum(m.count for m in members) < total:
            for m in members:
                if m.failed():
                    raise SystemExit(m.failed())
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{role}s counted only {sum(m.count for m in members)}/{total} in "
                    f"{TIMEOUT_S:.0f} s"
                )
            changed.clear()
            changed.wait(1.0)  # any member's progress line (at most every 50 ms each)
        load1 = os.getloadavg()[0]
        finals = [m.finish() for m in members]
    finally:
        for m in members:
            m.close()
        for cid in ids:
            forget(port, cid)
    first = min(f["first"] for f in finals if f["first"] is not None)
    last = max(f["last"] for f in finals if f["last"] is not None)
    out: dict[str, Any] = {
        "messages": total,
        "members": n,
        "per_member": [f["count"] for f in finals],
        "seconds": last - first,
        "rate": total / (last - first),
        "cpu_s": round(sum(f["cpu_s"] for f in finals), 3),
        "loadavg_1m": [round(load0, 2), round(load1, 2)],
    }
    if role == "collector":
        counted = sum(f["accepted_counter"] for f in finals)
        rejected: dict[str, float] = {}
        for f in finals:
            for reason, v in f["rejected"].items():
                rejected[reason] = rejected.get(reason, 0) + v
        lat = [f["mean_ingest_latency_s"] for f in finals if f["mean_ingest_latency_s"]]
        commits = sum(f["commits"] for f in finals)
        rows = None
        if dbs.kind == "sqlite":
            if all(f["rows_written"] is not None for f in finals):
                rows = sum(f["rows_written"] for f in finals)
        else:
            after = dbs.tuples(db)
            assert before is not None
            assert after is not None
            rows = after["rows"] - before["rows"]
            out["pg_commits"] = after["commits"] - before["commits"]
        out.update(
            {
                "accepted_counter": counted,  # the collectors' own metric, read at the end
                "rejected": rejected,
                "mean_ingest_latency_s": sum(lat) / len(lat) if lat else None,
                "commits": commits,
                "messages_per_commit": round(total / commits, 1) if commits else None,
                "rows_written": rows,
                "rows_written_per_message": round(rows / total, 3) if rows is not None else None,
                "cpu_us_per_message": round(out["cpu_s"] / total * 1e6, 1),
            }
        )
        # The round's windows folded (silence and spike baselines): part of what they cost.
        # The folds run on the collector's processing thread, so their time adds to the
        # drain's; their CPU to its CPU.
        fold_cpu = sum(f["folds"]["cpu_s"] for f in finals)
        fold_s = sum(f["folds"]["seconds"] for f in finals)
        out["folds"] = {
            "windows": sum(f["folds"]["windows"] for f in finals),
            "cpu_s": round(fold_cpu, 4),
            "seconds": round(fold_s, 4),
        }
        out["rate_with_folds"] = total / (out["seconds"] + fold_s)
        out["cpu_s_with_folds"] = round(out["cpu_s"] + fold_cpu, 3)
        out["cpu_us_per_message_with_folds"] = round(out["cpu_s_with_folds"] / total * 1e6, 1)
        if expected is not None and expected.by_kind.get("transactions"):
            # Counted after commit is not stored: read the windows back.
            out["stored"] = {
                "txn_windows_published": expected.by_kind["transactions"],
                "txn_aggregates_rows": dbs.count(db, "txn_aggregates"),
                "batch_closes_published": expected.batches,
                "txn_batches_rows": dbs.count(db, "txn_batches"),
                # what the folds made of them: each terminal's hours, each store's
                "txn_baseline_rows": dbs.count(db, "txn_baseline"),
                "txn_site_baseline_rows": dbs.count(db, "txn_site_baseline"),
            }
            out["stored"]["all_stored"] = (
                out["stored"]["txn_aggregates_rows"] == expected.by_kind["transactions"]
                and out["stored"]["txn_batches_rows"] == expected.batches
            )
    return out


def compare(
    n: int,
    rounds: int,
    port: int,
    gateways: int,
    per: int,
    tmp: Path,
    dbs: Databases,
    mixes: Sequence[str] = ("heartbeats",),
) -> dict[str, Any]:
    """Interleaved rounds of N bare subscribers and N collectors, for every mix in every round;
    the median ratio per mix. One mix: that mix's figures; several: ``by_mix`` and the
    transaction mix's ratios over the heartbeat mix's."""
    expected = {m: Expected.of(m, gateways, per) for m in mixes}
    kept: dict[str, list[dict[str, Any]]] = {m: [] for m in mixes}
    places = "transactions" in mixes  # both mixes' fleets in stores and regions, alike
    for i in range(rounds):
        # Alternate who goes first, and which mix: a drift in the machine's load favours
        # neither.
        order = ["bare", "collector"] if i % 2 == 0 else ["collector", "bare"]
        for mix in mixes if i % 2 == 0 else list(reversed(mixes)):
            tag = f"{dbs.kind}_c{n}_r{i}" + ("" if mix == "heartbeats" else f"_{mix}")
            got = {
                role: run_group(
                    role, n, port, gateways, per, tmp, dbs, tag, mix, expected[mix], places
                )
                for role in order
            }
            ratio = got["collector"]["rate"] / got["bare"]["rate"]
            # The same messages: CPU seconds (from "go" to the last message counted or
            # committed) compare cost per message, which the machine's load disturbs much
            # less than wall-clock rates (the collector's processes only: a PostgreSQL
            # server's CPU is not in it).
            cpu_ratio = got["bare"]["cpu_s"] / got["collector"]["cpu_s"]
            col = got["collector"]
            kept[mix].append(
                {
                    "ratio": round(ratio, 3),
                    "cpu_ratio": round(cpu_ratio, 3),
                    "ratio_with_folds": round(col["rate_with_folds"] / got["bare"]["rate"], 3),
                    "cpu_ratio_with_folds": round(
                        got["bare"]["cpu_s"] / col["cpu_s_with_folds"], 3
                    ),
                    "bare": got["bare"],
                    "collector": got["collector"],
                }
            )
            stored = got["collector"].get("stored")
            print(
                f"{dbs.kind}, {n} collector(s), {mix}, round {i + 1}: bare "
                f"{got['bare']['rate']:.0f} msg/s, collector {got['collector']['rate']:.0f} "
                f"msg/s, ratio {ratio:.3f} (CPU per message {cpu_ratio:.3f}; with the folds "
                f"{kept[mix][-1]['ratio_with_folds']:.3f}, CPU "
                f"{kept[mix][-1]['cpu_ratio_with_folds']:.3f}), rows written "
                f"per message {got['collector']['rows_written_per_message']}"
                + (f", stored {stored}" if stored else ""),
                flush=True,
            )
    summaries = {m: _summary(n, kept[m]) for m in mixes}
    if len(mixes) == 1:
        return summaries[mixes[0]]
    out: dict[str, Any] = {"collectors": n, "by_mix": summaries}
    if "heartbeats" in mixes and "transactions" in mixes:
        out["transactions_over_heartbeats"] = _relative(kept["transactions"], kept["heartbeats"])
    return out


def _summary(n: int, kept: list[dict[str, Any]]) -> dict[str, Any]:
    mid = sorted(kept, key=lambda r: r["ratio"])[len(kept) // 2]
    rows = [
        r["collector"]["rows_written_per_message"]
        for r in kept
        if r["collector"]["rows_written_per_message"] is not None
    ]
    out = {
        "collectors": n,
        "ratio_collector_over_bare": mid["ratio"],
        "ratios_all_rounds": [r["ratio"] for r in kept],
        "cpu_ratio_bare_over_collector": median(r["cpu_ratio"] for r in kept),
        "cpu_ratios_all_rounds": [r["cpu_ratio"] for r in kept],
        "ratio_with_folds": median(r["ratio_with_folds"] for r in kept),
        "cpu_ratio_with_folds": median(r["cpu_ratio_with_folds"] for r in kept),
        "collector_cpu_us_per_message_with_folds": median(
            r["collector"]["cpu_us_per_message_with_folds"] for r in kept
        ),
        "bare_subscriber": mid["bare"],
        "collector": mid["collector"],
        "rows_written_per_message": median(rows) if rows else None,
        "collector_cpu_us_per_message": median(r["collector"]["cpu_us_per_message"] for r in kept),
        "rounds": kept,
    }
    stored = [r["collector"]["stored"] for r in kept if "stored" in r["collector"]]
    if stored:
        out["every_window_stored"] = all(s["all_stored"] for s in stored)
    return out


def _relative(txn: list[dict[str, Any]], hb: list[dict[str, Any]]) -> dict[str, Any]:
    """The transaction mix's ratios over the heartbeat mix's, round by round (the two ran
    back to back under the same load) and as the quotient of the medians."""
    per_round = [round(t["ratio"] / h["ratio"], 3) for t, h in zip(txn, hb, strict=True)]
    cpu_round = [round(t["cpu_ratio"] / h["cpu_ratio"], 3) for t, h in zip(txn, hb, strict=True)]
    cost = [
        round(t["collector"]["cpu_us_per_message"] / h["collector"]["cpu_us_per_message"], 3)
        for t, h in zip(txn, hb, strict=True)
    ]
    return {
        "ratio": round(median(per_round), 3),
        "ratio_all_rounds": per_round,
        "ratio_of_medians": round(
            median(t["ratio"] for t in txn) / median(h["ratio"] for h in hb), 3
        ),
        "cpu_ratio": round(median(cpu_round), 3),
        "cpu_ratio_all_rounds": cpu_round,
        "cpu_ratio_of_medians": round(
            median(t["cpu_ratio"] for t in txn) / median(h["cpu_ratio"] for h in hb), 3
        ),
        "collector_cpu_per_message": round(median(cost), 3),
        # What a window costs in all, its silence and spike folds included (the headline).
        **_relative_with_folds(txn, hb),
        "goal": ">= 0.9 (within 10 % of the heartbeat mix)",
    }


def _relative_with_folds(txn: list[dict[str, Any]], hb: list[dict[str, Any]]) -> dict[str, Any]:
    per_round = [
        round(t["ratio_with_folds"] / h["ratio_with_folds"], 3)
        for t, h in zip(txn, hb, strict=True)
    ]
    cpu_round = [
        round(t["cpu_ratio_with_folds"] / h["cpu_ratio_with_folds"], 3)
        for t, h in zip(txn, hb, strict=True)
    ]
    return {
        "ratio_with_folds": round(median(per_round), 3),
        "ratio_with_folds_all_rounds": per_round,
        "cpu_ratio_with_folds": round(median(cpu_round), 3),
        "cpu_ratio_with_folds_all_rounds": cpu_round,
    }


def detection_delay(port: int, db: Path, trials: int = 5) -> dict[str, object]:
    """Hung gateways (connection alive, heartbeats stop): down seen vs the theoretical deadline."""
    enrol(db, [f"gw-hang-{i}" for i in range(trials)])
    settings = load_config(
        db=db, broker_port=port, metrics_host="127.0.0.1", metrics_port=0, client_id="bench-det"
    )
    # A collector in its steady state: the broker holds its session. Connecting without one
    # reads as a broker that restarted (collector/liveness.py resume_all), and silence is
    # then held for the agents' whole reconnect backoff (restart_hold_s, 130 s): a measured
    # 126.7 s "delay" of the first trial that is that deliberate hold, not detection.
    _session(port, "bench-det", clean=False, topic=subscription())
    col = Collector(settings).start()
    interval = 1.0
    grace = col.tracker.config.grace(interval)
    delays = []
    for i in range(trials):
        gw = TestGateway(f"gw-hang-{i}", port, interval=interval).connect()
        conn = sqlite3.connect(db)
        try:
            deadline = time.monotonic() + 60
            while conn.execute(
                "SELECT status FROM gateways WHERE gateway_id=?", (gw.gateway_id,)
            ).fetchone() != ("online",):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{gw.gateway_id} not online after 60 s")
                time.sleep(0.01)
            time.sleep(2 * interval)  # let a few heartbeats through (bench, not a test)
            gw.hang()
            deadline = time.monotonic() + 60
            while True:
                row = conn.execute(
                    "SELECT status, last_seen_at FROM gateways WHERE gateway_id=?",
                    (gw.gateway_id,),
                ).fetchone()
                if row[0] == "down":
                    seen = datetime.now(UTC)
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{gw.gateway_id} hung, not down after 60 s")
                time.sleep(0.002)
            expected = datetime.fromisoformat(row[1]) + timedelta(seconds=interval + 2 * grace)
            delays.append((seen - expected).total_seconds())
        finally:
            conn.close()
            gw.close()
    col.stop()
    forget(port, "bench-det")
    return {
        "interval_s": interval,
        "grace_s": grace,
        "delays_past_deadline_s": [round(d, 4) for d in delays],
        "max_s": round(max(delays), 4),
    }


CEILING = (
    "as many bare subscribers on the collector's read path (64 KiB read-ahead, QoS 1, "
    "persistent session), same broker, same backlog, same run; collector counted after commit"
)


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    db = r.get("db", "sqlite")
    ratios, figures = [], []
    for run in r.get("runs", []):
        n = run.get("collectors", 1)
        who = f"{n} collector{'s' if n > 1 else ''} on {db}"
        if "by_mix" not in run:
            _mix_figures(ratios, figures, who, n, run)
            continue
        rel = run.get("transactions_over_heartbeats") or {}
        if rel and "ratio_with_folds" in rel:
            ratios.append(
                Figure(
                    f"{who}: transaction mix's ratio ÷ heartbeat mix's ratio, folds included",
                    fmt(rel.get("ratio_with_folds")),
                    "each mix's msg/s ÷ its bare subscribers' msg/s, round by round, the "
                    "collector's time including the silence and spike folds of the round's "
                    f"windows (goal ≥ 0.9); median of rounds "
                    f"{rel.get('ratio_with_folds_all_rounds')}",
                )
            )
            ratios.append(
                Figure(
                    f"{who}: transaction mix's CPU ratio ÷ heartbeat mix's CPU ratio, folds "
                    "included",
                    fmt(rel.get("cpu_ratio_with_folds")),
                    "bare subscriber CPU s ÷ collector CPU s (folds included) per mix, round "
                    f"by round (goal ≥ 0.9); median of rounds "
                    f"{rel.get('cpu_ratio_with_folds_all_rounds')}",
                )
            )
        if rel:
            ratios.append(
                Figure(
                    f"{who}: transaction mix's ratio ÷ heartbeat mix's ratio",
                    fmt(rel.get("ratio")),
                    "each mix's msg/s ÷ its bare subscribers' msg/s, round by round (goal ≥ "
                    f"0.9); median of rounds {rel.get('ratio_all_rounds')}",
                )
            )
            ratios.append(
                Figure(
                    f"{who}: transaction mix's CPU ratio ÷ heartbeat mix's CPU ratio",
                    fmt(rel.get("cpu_ratio")),
                    "bare subscriber CPU s ÷ collector CPU s per mix, round by round (goal ≥ "
                    f"0.9; little disturbed by load); median of rounds "
                    f"{rel.get('cpu_ratio_all_rounds')}",
                )
            )
        for mix, summary in run["by_mix"].items():
            _mix_figures(ratios, figures, f"{who}, {mix} mix", n, summary, bare=f"{mix} mix")
            if "every_window_stored" in summary:
                figures.append(
                    Figure(
                        f"{who}, {mix} mix: every window and batch close stored",
                        fmt(summary["every_window_stored"]),
                    )
                )
    if r.get("mixes", {}).get("transactions"):
        t = r["mixes"]["transactions"]
        figures.append(
            Figure(
                "transaction mix per gateway-hour",
                f"{fmt(get(t, 'per_gateway_hour.heartbeats'))} heartbeats, "
                f"{fmt(get(t, 'per_gateway_hour.transactions_windows'))} windows "
                f"({t.get('terminals_per_gateway')} terminals; {t.get('batch_close')})",
            )
        )
    figures.append(Figure("messages per round", fmt(r.get("messages"))))
    if r.get("hung_gateway_detection"):
        figures.append(
            Figure(
                "hung gateway: down past its deadline, max",
                fmt(get(r, "hung_gateway_detection.max_s"), "s"),
            )
        )
    return Headline(ratios, figures)


def _mix_figures(
    ratios: list[Figure],
    figures: list[Figure],
    who: str,
    n: int,
    run: dict[str, Any],
    bare: str = "",
) -> None:
    ratios.append(
        Figure(
            f"{who}: msg/s ÷ bare subscriber msg/s",
            fmt(run.get("ratio_collector_over_bare")),
            f"{CEILING} (goal ≥ 0.6); median of rounds {run.get('ratios_all_rounds')}",
        )
    )
    ratios.append(
        Figure(
            f"{who}: bare subscriber CPU s ÷ collector CPU s, same messages",
            fmt(run.get("cpu_ratio_bare_over_collector")),
            "cost per message, little disturbed by the machine's load (collector "
            "processes only, not a database server's)",
        )
    )
    figures += [
        Figure(f"{who}", fmt(get(run, "collector.rate"), "msg/s", 2)),
        Figure(
            f"{n} bare subscriber{'s' if n > 1 else ''}" + (f", {bare}" if bare else ""),
            fmt(get(run, "bare_subscriber.rate"), "msg/s", 2),
        ),
        Figure(f"{who}: rows written per message", fmt(run.get("rows_written_per_message"))),
        Figure(f"{who}: messages per commit", fmt(get(run, "collector.messages_per_commit"))),
        Figure(
            f"{who}: mean ingest latency", fmt(get(run, "collector.mean_ingest_latency_s"), "s")
        ),
    ]
    if bare:
        figures.append(
            Figure(
                f"{who}: collector CPU per message",
                fmt(run.get("collector_cpu_us_per_message"), "µs"),
            )
        )


def _mixes(text: str) -> list[str]:
    mixes = [m.strip() for m in text.split(",") if m.strip()]
    if not mixes or any(m not in MIXES for m in mixes) or len(set(mixes)) != len(mixes):
        raise argparse.ArgumentTypeError(
            f"mix: {', '.join(MIXES)}, or both: heartbeats,transactions"
        )
    return mixes


def _collectors(text: str) -> list[int]:
    ns = [int(x) for x in text.split(",") if x.strip()]
    if not ns or any(not 1 <= n <= 3 for n in ns):
        raise argparse.ArgumentTypeError("collectors: 1, 2 or 3, or a list such as 1,2,3")
    return ns


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=2000)
    ap.add_argument("--per-gateway", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved bare/collector rounds")
    ap.add_argument(
        "--db",
        default="sqlite",
        help="sqlite (default), postgresql (starts its own server), or postgresql://… of a "
        "running server (a database per round is created on it)",
    )
    ap.add_argument(
        "--collectors", type=_collectors, default=[1], help="1, 2 or 3, or a list: 1,2,3"
    )
    ap.add_argument(
        "--mix",
        type=_mixes,
        default=["heartbeats"],
        help="heartbeats (default: today's backlog), transactions (heartbeats and transaction "
        "windows at the agent's defaults), or heartbeats,transactions: both, interleaved, "
        "with the one's ratio over the other's",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="result file (default bench/results/ingest[_transactions][_postgresql].json)",
    )
    args = ap.parse_args(argv)
    if args.db not in ("sqlite", "postgresql") and not args.db.startswith(
        ("postgresql://", "postgres://")
    ):
        ap.error("--db: sqlite, postgresql or postgresql://USER@HOST:PORT/DB")
    load_start = os.getloadavg()
    runs = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        MosquittoProcess(workdir=Path(tmp) / "mq") as broker,
        Databases(args.db, Path(tmp)) as dbs,
    ):
        for n in args.collectors:
            runs.append(
                compare(
                    n,
                    args.rounds,
                    broker.port,
                    args.gateways,
                    args.per_gateway,
                    Path(tmp),
                    dbs,
                    args.mix,
                )
            )
        det = None
        if dbs.kind == "sqlite" and args.mix == ["heartbeats"]:
            det = detection_delay(broker.port, Path(tmp) / "detect.sqlite")
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "db": dbs.kind,
        "messages": args.gateways * args.per_gateway,
        "gateways": args.gateways,
        "per_gateway": args.per_gateway,
        "ceiling": CEILING,
        "mixes": {
            m: (
                {"heartbeat_interval_s": 60, "kinds": {"heartbeat": args.per_gateway}}
                if m == "heartbeats"
                else Mix.agent_defaults().describe()
            )
            for m in args.mix
        },
        "runs": runs,
        "hung_gateway_detection": det,
    }
    name = (
        "ingest"
        if args.mix == ["heartbeats"]
        else "ingest_" + "_".join(m for m in args.mix if m != "heartbeats")
    )
    out = args.out or RESULTS / (
        f"{name}.json" if dbs.kind == "sqlite" else f"{name}_postgresql.json"
    )
    write_result(out, result, headline)
    lost = False
    for run in runs:
        if "by_mix" in run:
            for mix, m in run["by_mix"].items():
                print(
                    f"ingest ({dbs.kind}, {run['collectors']} collector(s), {mix} mix): ratio "
                    f"{m['ratio_collector_over_bare']}, CPU ratio "
                    f"{m['cpu_ratio_bare_over_collector']}, rows written per message "
                    f"{m['rows_written_per_message']}"
                    + (
                        f", every window stored: {m['every_window_stored']}"
                        if "every_window_stored" in m
                        else ""
                    )
                )
                lost = lost or m.get("every_window_stored") is False
            rel = run.get("transactions_over_heartbeats")
            if rel:
                print(
                    f"transactions / heartbeats: ratio {rel['ratio']}, CPU ratio "
                    f"{rel['cpu_ratio']}; folds included: ratio {rel['ratio_with_folds']}, "
                    f"CPU ratio {rel['cpu_ratio_with_folds']} (goal >= 0.9)"
                )
            continue
        lost = lost or run.get("every_window_stored") is False
        print(
            f"ingest ({dbs.kind}, {run['collectors']} collector(s)): "
            f"collector {run['collector']['rate']:.0f} msg/s vs bare "
            f"{run['bare_subscriber']['rate']:.0f} msg/s -> ratio "
            f"{run['ratio_collector_over_bare']} (goal >= 0.6); rows written per message "
            f"{run['rows_written_per_message']}"
        )
    if det is not None:
        print(f"hung-gateway detection past deadline max {det['max_s']} s")
    if lost:
        raise SystemExit(f"transaction windows committed but not stored: see {out}")


if __name__ == "__main__":
    main()
