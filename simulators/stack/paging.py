"""The whole paging path on real processes, for the end-to-end test and the benchmark:

gateways (raw paho, tests/deploy/gateway_proc.py) -> Mosquitto -> posfleet-collector
(/metrics) -> Prometheus (shipped rules) -> Alertmanager (shipped routes) -> webhook.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from collector.process import CollectorProcess, CollectorProcessError, free_port
from simulators.stack.prometheus import (
    RULES,
    AlertmanagerProcess,
    Intervals,
    PrometheusProcess,
    StackError,
    render_alertmanager_config,
    render_prometheus_config,
)
from simulators.stack.webhook import WebhookReceiver

GATEWAY_PROC = Path(__file__).with_name("gateway_proc.py")


@dataclass(frozen=True)
class GatewaySpec:
    gateway_id: str
    site_id: str
    region_id: str
    model: str = "PX-5"


def write_inventory(directory: Path, gateways: list[GatewaySpec]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    regions = sorted({g.region_id for g in gateways})
    sites = sorted({(g.site_id, g.region_id) for g in gateways})
    with (directory / "regions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["region_id", "name", "oncall_name"])
        w.writerows([[r, r.title(), f"{r}-oncall"] for r in regions])
    with (directory / "sites.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["site_id", "region_id", "name"])
        w.writerows([[s, r, f"Store {s}"] for s, r in sites])
    with (directory / "gateways.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["gateway_id", "site_id", "region_id", "model"])
        w.writerows([[g.gateway_id, g.site_id, g.region_id, g.model] for g in gateways])
    return directory


@dataclass
class PagingStack:
    """Start with ``with PagingStack(...) as stack``; everything stops on exit."""

    workdir: Path
    broker_port: int
    gateways: list[GatewaySpec]
    intervals: Intervals
    heartbeat_interval: float = 1.0
    # Engine settings for the collector (env POSFLEET_ALERT_*), e.g. short pending delays.
    collector_env: dict[str, str] = field(default_factory=dict)
    rules: Path = RULES  # the shipped rules unless a drill compares another revision
    webhook: WebhookReceiver = field(default_factory=WebhookReceiver)
    metrics_port: int = field(default_factory=free_port)
    _stack: ExitStack = field(default_factory=ExitStack)
    _collector: CollectorProcess | None = None
    _gateway_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    prometheus: PrometheusProcess | None = None
    alertmanager: AlertmanagerProcess | None = None

    def __enter__(self) -> PagingStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stack.enter_context(self.webhook)
        self.start_collector()
        try:  # the gateways are started after it has subscribed (CollectorProcess.wait_connected)
            assert self._collector is not None
            self._collector.wait_connected()
        except CollectorProcessError as exc:
            raise StackError(f"collector did not connect to the broker: {exc}") from exc
        am_conf = render_alertmanager_config(self.webhook.url, self.intervals, self.workdir / "am")
        self.alertmanager = AlertmanagerProcess(am_conf, self.workdir / "am")
        self._stack.enter_context(self.alertmanager)
        prom_conf = render_prometheus_config(
            f"127.0.0.1:{self.metrics_port}",
            f"127.0.0.1:{self.alertmanager.port}",
            self.intervals,
            self.workdir / "prom",
            self.rules,
        )
        self.prometheus = PrometheusProcess(prom_conf, self.workdir / "prom")
        self._stack.enter_context(self.prometheus)

    def start_collector(self, timeout: float = 30.0) -> None:
        inventory = write_inventory(self.workdir / "inventory", self.gateways)
        self._collector = CollectorProcess(
            self.workdir / "posfleet.sqlite",
            self.broker_port,
            inventory=inventory,
            log_path=self.workdir / "collector.log",
            env=self.collector_env,
            metrics_port=self.metrics_port,
            log_level="INFO",
        )
        try:
            self._collector.start(timeout)
        except CollectorProcessError as exc:
            raise StackError(f"collector did not serve /metrics: {exc}") from exc

    def collector_log(self) -> str:
        path = self.workdir / "collector.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def start_gateways(
        self, gateway_ids: list[str], session: int, timeout: float = 20.0
    ) -> subprocess.Popen[bytes]:
        """One process for ``gateway_ids``; returns once each birth is acknowledged."""
        proc = subprocess.Popen(
            [
                sys.executable,
                str(GATEWAY_PROC),
                "--port",
                str(self.broker_port),
                "--session",
                str(session),
                "--interval",
                str(self.heartbeat_interval),
                *gateway_ids,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._gateway_procs.append(proc)
        assert proc.stdout is not None
        # readline blocks, but the child prints "ready" or exits within its own 20s limit.
        line = proc.stdout.readline().decode().strip()
        if line != "ready":
            self.kill(proc)
            raise StackError(f"gateways {gateway_ids} did not come up: {line!r}")
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: sockets die without DISCONNECT, so the broker sends the Last Wills."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop_collector(self, *, kill: bool = False) -> None:
        if self._collector is not None:
            self._collector.stop(hard=kill)
        self._collector = None

    def close(self) -> None:
        for proc in self._gateway_procs:
            self.kill(proc)
        self._gateway_procs.clear()
        self.stop_collector()
        self._stack.close()
