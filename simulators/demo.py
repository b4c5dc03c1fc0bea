"""``posfleet-demo``: broker, collector, a simulated fleet with faults, the NOC console and
the metrics endpoint, on this machine. Ctrl-C stops it all.

The broker is Mosquitto when it is installed, otherwise amqtt (pip-installable) run in this
process. amqtt speaks MQTT 3.1.1 only (all our clients use 3.1.1), has no shared
subscriptions (one collector needs none), keeps persistent sessions only for clients that
log in with a username (so the collector logs in as ``collector``) and delivers retained
messages to clients that did not subscribe to them (the simulated gateways ignore them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from collector.process import free_port
from simulators.broker import MosquittoProcess, find_mosquitto, wait_for_port

log = logging.getLogger("posfleet-demo")


class AmqttBroker:
    """amqtt's broker on its own asyncio loop in a thread of this process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = "127.0.0.1"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._broker: Any = None

    def start(self) -> AmqttBroker:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._thread.start()

        async def _start() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(_start(), self._loop).result(20)
        wait_for_port(self.host, self.port)
        return self

    def close(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="posfleet-demo", description=__doc__.split("\n")[0])
    p.add_argument("--dir", type=Path, default=Path("var/demo"), help="work directory")
    p.add_argument("--gateways", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--heartbeat", type=float, default=10.0)
    p.add_argument("--faults-every", type=float, default=15.0)
    p.add_argument("--dashboard-port", type=int, default=8501)
    p.add_argument("--metrics-port", type=int, default=9108)
    p.add_argument("--broker-port", type=int, default=0, help="0: a free port")
    p.add_argument("--broker", choices=("auto", "mosquitto", "amqtt"), default="auto")
    p.add_argument("--no-dashboard", action="store_true")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: Ctrl-C)")
    p.add_argument("--fresh", action="store_true", help="start from an empty store")
    p.add_argument(
        "--no-transactions",
        dest="transactions",
        action="store_false",
        help="liveness only: no transaction windows, transaction faults nor settlement file",
    )
    p.add_argument(
        "--txn-faults-every",
        type=float,
        default=90.0,
        help="a stuck payment app or a store's issuer outage, in turn, every S s",
    )
    return p


# The demo's trade, compressed so that a minute shows what an hour would (docs/simulator.md,
# "The demo's transactions"): stores keep Shanghai hours, each payment device reports every
# 30 s at 60 x the sales rate of its store type, after a week of hourly history.
DEMO_TZ = "Asia/Shanghai"
TXN_WINDOW_S, TXN_SCALE, TXN_HISTORY_S = 30.0, 60.0, 7 * 86400.0
# The collector's detectors at the same compression, so a stuck app or an issuer outage is
# seen within the demo's first minutes; the environment wins over each of these.
DEMO_TXN_ENV = {
    "POSFLEET_DEFAULT_TZ": DEMO_TZ,
    "POSFLEET_SETTLEMENT_POLL_S": "5",
    "POSFLEET_ALERT_POLL_SILENCE_S": "5",
    # 90 s of a lane compressed 60x is an hour and a half of trade.
    "POSFLEET_ALERT_SILENCE_FLOOR_S": "90",
    # Thousands of sale gaps an hour at this rate: 12 expected sales (a chance of 6e-6)
    # keeps false silences rare, a busy lane is still silent after the floor.
    "POSFLEET_ALERT_SILENCE_EXPECTED": "12",
    # A week of hourly history gives each hour of the week one hour of baseline.
    "POSFLEET_ALERT_SILENCE_MIN_HOURS": "0.75",
    "POSFLEET_ALERT_POLL_SPIKES_S": "10",
    "POSFLEET_ALERT_SPIKE_WINDOW_S": "180",
}


@contextlib.contextmanager
def _broker(kind: str, port: int, workdir: Path) -> Iterator[tuple[str, Any]]:
    if kind == "auto":
        kind = "mosquitto" if find_mosquitto() else "amqtt"
    if kind == "mosquitto":
        broker: Any = MosquittoProcess(port, workdir=workdir / "mosquitto").start()
    else:
        broker = AmqttBroker(port).start()
    try:
        yield kind, broker
    finally:
        broker.close()


def _spawn(
    cmd: list[str], logfile: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    out = logfile.open("ab")
    try:
        # Own session: Ctrl-C reaches only us, and we stop the children in order.
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    finally:
        out.close()


def _wait_http(
    url: str, timeout: float, proc: subprocess.Popen[bytes], what: str, holding: str = ""
) -> None:
    """Until ``url`` answers (and its body holds ``holding``, when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"posfleet-demo: the {what} exited early (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if holding in resp.read().decode(errors="replace"):
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling a child's port: nothing to wait on but time
    raise SystemExit(f"posfleet-demo: the {what} did not answer on {url} within {timeout}s")


def _say_transactions(args: argparse.Namespace, env: dict[str, str], logs: Path) -> None:
    """What the demo shows of transaction health, and where."""
    inbox = Path(env["POSFLEET_SETTLEMENT_DIR"])
    print(
        f"payments    stores on {DEMO_TZ} hours, each payment device reporting a window every "
        f"{TXN_WINDOW_S:g}s at {TXN_SCALE:g}x its store's sales (a week of history first); "
        f"a stuck payment app or a store's issuer outage every {args.txn_faults_every:g}s"
    )
    where = "the console's Alerts page and " if not args.no_dashboard else ""
    cases_page = "worked on the console's Shortfall cases page; " if not args.no_dashboard else ""
    print(
        f"            silent terminals (terminal_silent) and failure spikes "
        f"(txn_failure_spike): {where}/metrics (posfleet_alerts, posfleet_transactions_total)"
    )
    print(
        f"            shortfall cases: yesterday's settlement file with a duplicated refund, "
        f"reconciled from {inbox}/ into {inbox}/done/ (*.report.txt: cases opened); "
        f"{cases_page}progress in {logs}/simulator.log"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workdir: Path = args.dir.resolve()
    if args.fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db, inventory, logs = workdir / "posfleet.sqlite", workdir / "inventory", workdir / "logs"
    logs.mkdir(exist_ok=True)
    bin_dir = Path(sys.executable).parent
    broker_port = args.broker_port or free_port()
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()

    def _stop(_s: int, _f: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with _broker(args.broker, broker_port, workdir) as (kind, _b):
        print(f"broker      {kind} on 127.0.0.1:{broker_port}")
        zone = ["--tz", DEMO_TZ] if args.transactions else []
        subprocess.run(
            [str(bin_dir / "posfleet-sim"), "inventory", "--gateways", str(args.gateways),
             "--seed", str(args.seed), "--out", str(inventory), *zone],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        env = {**os.environ, "POSFLEET_BROKER_USERNAME": "collector"}
        inbox = workdir / "settlement-inbox"
        if args.transactions:
            env = {**DEMO_TXN_ENV, "POSFLEET_SETTLEMENT_DIR": str(inbox), **env}
        collector = _spawn(
            [str(bin_dir / "posfleet-collector"), "run", "--db", str(db), "--broker-port",
             str(broker_port), "--metrics-port", str(args.metrics_port), "--inventory",
             str(inventory)],
            logs / "collector.log", env,
        )  # fmt: skip
        procs.append(collector)
        # Subscribed before the fleet is born (CollectorProcess.wait_connected says why).
        _wait_http(
            f"http://127.0.0.1:{args.metrics_port}/metrics", 60, collector, "collector",
            holding="posfleet_collector_broker_connected 1.0",
        )  # fmt: skip
        print(f"metrics     http://localhost:{args.metrics_port}/metrics  (health: /healthz)")
        if not args.no_dashboard:
            user = subprocess.run(
                [str(bin_dir / "posfleet-dashboard"), "add-user", "admin", "--role", "admin",
                 "--db", str(db)],
                input=b"posfleet-demo\n", stdout=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            dash = _spawn(
                [str(bin_dir / "posfleet-dashboard"), "--db", str(db), "--port",
                 str(args.dashboard_port), "--tz", DEMO_TZ],
                logs / "dashboard.log",
            )  # fmt: skip
            procs.append(dash)
            _wait_http(f"http://127.0.0.1:{args.dashboard_port}/", 90, dash, "dashboard")
            login = " (log in as admin / posfleet-demo to act)" if user.returncode == 0 else ""
            print(f"dashboard   http://localhost:{args.dashboard_port}{login}")
        txn = [
            "--transactions", "--txn-window", str(TXN_WINDOW_S), "--txn-scale", str(TXN_SCALE),
            "--txn-history", str(TXN_HISTORY_S), "--txn-faults-every",
            str(args.txn_faults_every), "--db", str(db), "--settlement-dir",
            str(env.get("POSFLEET_SETTLEMENT_DIR", inbox)),
        ] if args.transactions else []  # fmt: skip
        sim = _spawn(
            [str(bin_dir / "posfleet-sim"), "run", "--broker-port", str(broker_port),
             "--gateways", str(args.gateways), "--seed", str(args.seed), "--heartbeat",
             str(args.heartbeat), "--faults-every", str(args.faults_every), "--truth",
             str(workdir / "truth.jsonl"), *zone, *txn],
            logs / "simulator.log",
        )  # fmt: skip
        procs.append(sim)
        print(f"fleet       {args.gateways} simulated gateways, a fault every {args.faults_every}s")
        if args.transactions:
            _say_transactions(args, env, logs)
        print(f"logs        {logs}/  — Ctrl-C stops everything")
        start = time.monotonic()
        try:
            while not stop.wait(1.0):
                if args.duration and time.monotonic() - start >= args.duration:
                    break
                dead = [p for p in procs if p.poll() is not None]
                if dead:
                    name = Path(str(dead[0].args[0])).name  # type: ignore[index]
                    print(f"posfleet-demo: {name} exited (see {logs}); stopping", file=sys.stderr)
                    break
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in reversed(procs):
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
