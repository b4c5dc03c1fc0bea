"""``posfleet-agent``: run | check | stop | issue-credentials.

Imports stay light on purpose (paho and the standard library only): the agent runs on small
gateways and must never pull in the server side.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import TextIO

from agent.config import AgentSettings, ConfigError, load_settings
from agent.contract import PLANNED_REASONS, Body, SystemClock, build, encode, topic_for
from agent.probes.firmware import FirmwareProbe
from agent.probes.hardware import HardwareProbe
from agent.probes.network import NetworkProbe
from agent.probes.system import SystemProbe
from agent.probes.terminals import load_plugins
from agent.runner import Agent, Probes
from agent.service import schedule_of, spool_dir_of
from agent.session import SessionCounter
from agent.txnspool import TxnSpool

log = logging.getLogger("agent")


def agent_version() -> str:
    try:
        return version("posfleet")
    except PackageNotFoundError:
        return "dev"


def build_probes(s: AgentSettings) -> Probes:
    terminals, plugin_errors = load_plugins() if s.terminal_plugins else ([], {})
    return Probes(
        system=SystemProbe(s.proc_root, s.disk_path, agent_version=agent_version()),
        network=NetworkProbe(
            s.proc_root,
            s.sys_root,
            payment_hosts=s.payment_hosts,
            dns_name=s.dns_name,
            timeout=s.connect_timeout,
            attempts=s.latency_attempts,
            mmcli=s.mmcli,
        ),
        firmware=FirmwareProbe(
            s.proc_root,
            s.etc_root,
            s.sys_root,
            model=s.model,
            sources={
                "terminal_fw": s.terminal_fw_source,
                "payment_app": s.payment_app_source,
                "patch_level": s.patch_level_source,
            },
        ),
        hardware=HardwareProbe(s.sys_root, s.disk_path, printer_source=s.printer_source),
        terminals=terminals,
        plugin_errors=plugin_errors,
    )


class PrintSink:
    """``--dry-run``: print each message as ``topic payload`` instead of sending it."""

    def __init__(self, session: int, out: TextIO) -> None:
        self.session = session
        self.out = out

    def send(self, topic: str, body: Body, *, durable: bool = False) -> None:
        self.out.write(f"{topic} {encode(body).decode()}\n")


def dry_run(s: AgentSettings, out: TextIO) -> int:
    clock = SystemClock()
    session = SessionCounter(s.state_dir / "session").current() + 1
    sink = PrintSink(session, out)
    status_topic = topic_for(s.gateway_id, "status")
    will = {"state": "offline", "session": session, "reason": "connection_lost"}
    will_body = build("status", s.gateway_id, clock.time(), will)
    out.write(f"# will (retained, QoS 1): {status_topic} {encode(will_body).decode()}\n")
    birth = build("status", s.gateway_id, clock.time(), {"state": "online", "session": session})
    sink.send(status_topic, birth)
    # The spool is read as a run would read it, but left as it is (nothing renamed, set
    # aside, journalled or deleted): its files are still there for the real run.
    spool = TxnSpool(spool_dir_of(s), s.gateway_id, s.state_dir / "txn-journal", read_only=True)
    out.write(f"# transaction spool {spool.root}: read, left as it is (files stay for the run)\n")
    Agent(s.gateway_id, build_probes(s), sink, clock, schedule_of(s), spool).tick(force=True)
    return 0


def run(s: AgentSettings, *, once: bool = False) -> int:
    from agent.service import Service

    service = Service(s, build_probes(s))
    pidfile = s.state_dir / "agent.pid"
    pidfile.write_text(f"{os.getpid()}\n")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # The reason (reboot, upgrade, ...) was left in the state dir by `stop`.
        service.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.run(once=once)
    finally:
        pidfile.unlink(missing_ok=True)
    return 0


def stop_running(s: AgentSettings, reason: str) -> int:
    """Tell the running agent to go offline with ``reason`` and exit (SIGTERM + reason file)."""
    pidfile = s.state_dir / "agent.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        print(f"no running agent: {pidfile} missing (is state_dir right?)", file=sys.stderr)
        return 1
    (s.state_dir / "stop-reason").write_text(reason + "\n")
    os.kill(pid, signal.SIGTERM)
    print(f"asked agent pid {pid} to go offline ({reason})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="posfleet-agent", description=__doc__)
    parser.add_argument("--config", type=Path, default=None, help="TOML config file")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the agent")
    r.add_argument("--once", action="store_true", help="measure and send once, then exit")
    r.add_argument("--dry-run", action="store_true", help="print what would be sent")
    sub.add_parser("check", help="test broker, TLS, credentials; print every probe")
    st = sub.add_parser("stop", help="make the running agent go offline with a reason")
    st.add_argument(
        "--reason",
        default="shutdown",
        choices=PLANNED_REASONS,
    )
    ic = sub.add_parser("issue-credentials", help="create a gateway's broker credentials")
    ic.add_argument("gateway_id")
    ic.add_argument(
        "--password-file",
        type=Path,
        required=True,
        help="the broker's mosquitto password_file to add the gateway to",
    )
    ic.add_argument("--out", type=Path, required=True, help="directory for the gateway's files")
    ic.add_argument("--ca-cert", type=Path, help="CA certificate, to also issue a client cert")
    ic.add_argument("--ca-key", type=Path, help="CA private key")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "issue-credentials":
        from agent.credentials import CredentialsError, issue

        try:
            issue(args.gateway_id, args.password_file, args.out, args.ca_cert, args.ca_key)
        except CredentialsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    config = args.config
    if config is None and "POSFLEET_AGENT_GATEWAY_ID" not in os.environ:
        from agent.config import DEFAULT_CONFIG

        config = DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
    try:
        settings = load_settings(config)
        if args.command == "run" and args.dry_run:
            return dry_run(settings, sys.stdout)
        if args.command == "run":
            return run(settings, once=args.once)
        if args.command == "check":
            from agent.check import check

            return check(settings, build_probes(settings), sys.stdout)
        return stop_running(settings, args.reason)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
