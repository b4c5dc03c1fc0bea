"""``posfleet-sim``: a simulated fleet of POS gateways on real MQTT connections."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="posfleet-sim", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    inv = sub.add_parser("inventory", help="write the fleet's inventory CSVs")
    inv.add_argument("--gateways", type=int, default=200)
    inv.add_argument("--seed", type=int, default=1)
    inv.add_argument("--out", type=Path, required=True)
    inv.add_argument("--tz", help="every store in this IANA zone (default: its region's)")
    run = sub.add_parser("run", help="connect the fleet and keep it beating, with faults")
    run.add_argument("--broker-host", default="127.0.0.1")
    run.add_argument("--broker-port", type=int, default=1883)
    run.add_argument("--gateways", type=int, default=200)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--heartbeat", type=float, default=10.0, help="heartbeat interval, s")
    run.add_argument("--keepalive", type=int, default=15, help="MQTT keepalive, s")
    run.add_argument(
        "--reconnect-max",
        type=float,
        default=120.0,
        help="the agents' reconnect backoff cap after the broker goes away, s (the agent's: "
        "120; the collector's POSFLEET_AGENT_RECONNECT_MAX_S must match)",
    )
    run.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: never)")
    run.add_argument("--faults-every", type=float, default=0, help="inject a fault every S s")
    run.add_argument("--truth", type=Path, help="append injected faults here (JSON lines)")
    run.add_argument("--inventory-out", type=Path, help="also write the inventory CSVs here")
    run.add_argument("--tz", help="every store in this IANA zone (default: its region's)")
    run.add_argument("--quiet", action="store_true")
    tx = run.add_argument_group(
        "transactions", "the payment devices' transaction windows (docs/simulator.md)"
    )
    tx.add_argument(
        "--transactions", action="store_true", help="payment devices report transaction windows"
    )
    tx.add_argument("--txn-window", type=float, default=1200.0, help="window length, s")
    tx.add_argument("--txn-scale", type=float, default=1.0, help="multiply every sales rate")
    tx.add_argument(
        "--txn-history",
        type=float,
        default=7 * 86400.0,
        help="back-fill this much hourly history first, s (0: none)",
    )
    tx.add_argument(
        "--txn-faults-every",
        type=float,
        default=0,
        help="a stuck payment app or a store's issuer outage, in turn, every S s (0: none)",
    )
    tx.add_argument(
        "--db",
        help="the collector's store (SQLite file or postgresql:// URL): the back-fill is paced "
        "by what it stored, and the settlement file waits for it",
    )
    tx.add_argument(
        "--settlement-dir",
        type=Path,
        help="write the acquirer's settlement file of the previous business day here "
        "(the collector's POSFLEET_SETTLEMENT_DIR) once the history is stored",
    )
    tx.add_argument(
        "--duplicated-refunds",
        type=int,
        default=1,
        help="devices whose refund that file books twice (each opens a shortfall case)",
    )
    sc = sub.add_parser(
        "scenario",
        help="play a scenario file (or a library name) against its own broker and collector, "
        "then score the pages",
    )
    sc.add_argument("file", help="a .toml scenario, or a library name (see --list)")
    sc.add_argument("--gateways", type=int, help="override the scenario's fleet size")
    sc.add_argument("--seed", type=int, help="override the scenario's seed")
    sc.add_argument("--out", type=Path, help="output directory (default: scenario-runs/NAME)")
    sc.add_argument("--plan", action="store_true", help="print the compiled plan and stop")
    sc.add_argument(
        "--db",
        help="the collectors' store: a postgresql://USER@HOST:PORT/DB (default: an SQLite "
        "file in the output directory)",
    )
    sc.add_argument(
        "--collectors", type=int, default=1, help="collector processes (several need --share-group)"
    )
    sc.add_argument("--share-group", help="run the collectors on this MQTT $share group")
    sc.add_argument("--quiet", action="store_true")
    sub.add_parser("scenarios", help="list the scenario library")
    card = sub.add_parser("scorecard", help="ground truth against the collector's pages")
    card.add_argument(
        "--db",
        required=True,
        help="the collector's store: its SQLite file or its postgresql:// URL",
    )
    card.add_argument("--truth", type=Path, required=True, help="the simulator's truth file")
    card.add_argument("--out", type=Path, help="also write the scorecard here (JSON)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "scorecard":
        return scorecard(args)
    if args.command in ("scenario", "scenarios"):
        from simulators.scenarios.cli import list_library, run_scenario

        return run_scenario(args) if args.command == "scenario" else list_library()
    from simulators.fleetmodel import generate

    if args.tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            print(f"posfleet-sim: unknown --tz {args.tz!r}; use an IANA name such as "
                  "Asia/Shanghai", file=sys.stderr)  # fmt: skip
            return 2
    model = generate(args.gateways, args.seed, args.tz)
    if args.command == "inventory":
        model.export_inventory(args.out)
        print(f"{len(model.sites)} sites, {len(model.gateways)} gateways -> {args.out}")
        return 0
    if args.inventory_out:
        model.export_inventory(args.inventory_out)
    return run(args, model)


def scorecard(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from simulators.scorecard import read_cases, read_pages, read_truth, score

    pages, site_of = read_pages(args.db)
    pages += read_cases(args.db)  # shortfall cases (docs/scenarios.md, "The scorecard")
    card = score(read_truth(args.truth), pages, site_of, until=datetime.now(UTC)).as_dict()
    text = json.dumps(card, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if card["ok"] else 1


def run(args: argparse.Namespace, model: object) -> int:
    from simulators.chaos import Chaos, open_truth
    from simulators.gateways import Fleet, Mode

    fleet = Fleet(
        model.gateways,  # type: ignore[attr-defined]
        args.broker_host,
        args.broker_port,
        interval=args.heartbeat,
        keepalive=args.keepalive,
        seed=args.seed,
        reconnect_max_s=args.reconnect_max,
    )
    stop = False

    def _stop(_s: int, _f: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            bar = "#" * (30 * done // total)
            print(f"\rconnecting [{bar:<30}] {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        fleet.connect_all(progress)
    except OSError as exc:
        print(
            f"\nposfleet-sim: cannot reach the broker at {args.broker_host}:{args.broker_port} "
            f"({exc}): start it or set --broker-host/--broker-port",
            file=sys.stderr,
        )
        return 2
    if not args.quiet:
        print(file=sys.stderr)

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    truth = open_truth(args.truth)
    chaos = Chaos(fleet, args.seed, truth)
    live = None
    if args.transactions:
        from simulators.txnlive import LiveTxn

        live = LiveTxn(
            model,  # type: ignore[arg-type]
            args.seed,
            window_s=args.txn_window,
            scale=args.txn_scale,
            history_s=args.txn_history,
            db=args.db,
            settlement_dir=args.settlement_dir,
            duplicated_refunds=args.duplicated_refunds,
            say=say,
            record=chaos.record,
        )
        chaos.txn = live.driver
    start = time.monotonic()
    if live is not None:
        live.start(fleet, start)
    # Faults wait for the transaction back-fill: a dead gateway's history would hold it up.
    scheduled = False
    next_fault = next_txn_fault = float("inf")
    next_report = start
    try:
        while not stop:
            fleet.run_once(0.05)
            mono = time.monotonic()
            if not scheduled and (live is None or live.pump(mono)):
                scheduled = True
                if args.faults_every:
                    next_fault = mono + args.faults_every
                if live is not None and args.txn_faults_every:
                    next_txn_fault = mono + 5.0  # the first one early
            chaos.undo_due(mono)
            if mono >= next_fault:
                what = chaos.inject(mono)
                next_fault = mono + args.faults_every
                if what:
                    say(f"fault: {what}")
            if mono >= next_txn_fault:
                what = chaos.inject_txn(mono)
                next_txn_fault = mono + args.txn_faults_every
                if what:
                    say(f"fault: {what}")
            if mono >= next_report and not args.quiet:
                next_report = mono + 10
                up = sum(1 for g in fleet.gateways.values() if g.mode is Mode.RUNNING)
                c = fleet.counters
                txn = f", {live.status()}" if live is not None else ""
                print(
                    f"[{mono - start:6.0f}s] gateways running {up}/{len(fleet.gateways)}, "
                    f"published {c.published}, publish errors {c.publish_errors}, "
                    f"faults injected {chaos.injected}, active {len(chaos.active)}{txn}",
                    file=sys.stderr,
                    flush=True,
                )
            if args.duration and mono - start >= args.duration:
                break
    finally:
        fleet.close()
        if truth is not None:
            truth.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
