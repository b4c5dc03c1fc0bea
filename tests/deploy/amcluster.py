"""A two-node Alertmanager cluster on loopback, and a Prometheus sending to both, for the HA
drill (tests/deploy/test_alertmanager_ha.py, docs/alerting.md "High availability").

Built on promstack: the same shipped configs, the same processes; clustering only adds the
``--cluster.*`` flags that deploy/systemd/alertmanager-ha@.service ships, with timings short
enough for a test (ClusterTimings).
"""

from __future__ import annotations

import signal
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulators.stack.prometheus import (
    PROM_DIR,
    AlertmanagerProcess,
    Intervals,
    PrometheusProcess,
    StandInExporter,
    free_port,
    http_json,
    render_alertmanager_config,
)
from simulators.stack.webhook import Notification, WebhookReceiver

PROM_HA_CONFIG = PROM_DIR / "prometheus-ha.yml"


@dataclass(frozen=True)
class ClusterTimings:
    """``--cluster.*`` timings. peer_timeout is how long the second node waits for the first
    node's notification to be gossiped before it sends itself (shipped: 15s)."""

    peer_timeout: str = "15s"
    gossip_interval: str = "200ms"
    pushpull_interval: str = "1m"
    reconnect_interval: str = "10s"


# Short, but peer_timeout stays far above one webhook post plus one gossip round on a loaded
# 2-core machine: a smaller one would turn load into duplicates, which is what the drill counts.
TEST_CLUSTER_TIMINGS = ClusterTimings(
    peer_timeout="3s", gossip_interval="100ms", pushpull_interval="5s", reconnect_interval="1s"
)


class ClusteredAlertmanager(AlertmanagerProcess):
    """An Alertmanager that gossips on ``127.0.0.1:cluster_port`` with ``peers``."""

    def __init__(
        self,
        config: Path,
        workdir: Path,
        cluster_port: int,
        peers: list[int],
        timings: ClusterTimings = TEST_CLUSTER_TIMINGS,
    ) -> None:
        super().__init__(config, workdir)
        self.cluster_port = cluster_port
        self.argv.remove("--cluster.listen-address=")
        # Debug logs say which member sent what ("Notify success") and when a peer was marked
        # failed: what a failing drill needs to be read (they go to the log file only).
        self.argv[self.argv.index("--log.level=info")] = "--log.level=debug"
        self.argv += [
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
            *(f"--cluster.peer=127.0.0.1:{p}" for p in peers),
            f"--cluster.peer-timeout={timings.peer_timeout}",
            f"--cluster.gossip-interval={timings.gossip_interval}",
            f"--cluster.pushpull-interval={timings.pushpull_interval}",
            f"--cluster.reconnect-interval={timings.reconnect_interval}",
        ]

    def kill(self) -> None:
        """SIGKILL: no goodbye to the peers, no snapshot of the notification log."""
        assert self.proc is not None, "not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def cluster(self) -> dict[str, Any]:
        """``/api/v2/status`` cluster part: name, status (settling/ready), peers."""
        result: dict[str, Any] = http_json(f"{self.url}/api/v2/status")["cluster"]
        return result

    def metric(self, name: str) -> float:
        """Sum of the samples of ``name`` (all label sets) in this Alertmanager's /metrics."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total


def render_prometheus_ha_config(
    exporter_target: str,
    alertmanager_targets: list[str],
    intervals: Intervals,
    dest_dir: Path,
    replica: str = "a",
) -> Path:
    """The shipped prometheus-ha.yml with local targets, the given intervals, every shipped
    rule file, and ``replica`` as its external label."""
    config = yaml.safe_load(PROM_HA_CONFIG.read_text())
    config["global"]["scrape_interval"] = intervals.scrape
    config["global"]["evaluation_interval"] = intervals.evaluation
    config["global"]["scrape_timeout"] = intervals.scrape
    config["global"]["external_labels"]["replica"] = replica
    config["rule_files"] = [str(PROM_DIR / "rules" / "*.rules.yml")]
    (ams,) = config["alerting"]["alertmanagers"]
    ams["static_configs"][0]["targets"] = alertmanager_targets
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    jobs["posfleet-collector"]["static_configs"][0]["targets"] = [exporter_target]
    jobs["alertmanager"]["static_configs"][0]["targets"] = alertmanager_targets
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class HaStack:
    """Webhook, stand-in exporter, two Alertmanagers (clustered or not) and one Prometheus
    per replica, each sending to both. ``with HaStack(tmp_path, intervals) as stack``."""

    workdir: Path
    intervals: Intervals
    clustered: bool = True
    timings: ClusterTimings = TEST_CLUSTER_TIMINGS
    # One Prometheus per replica label, all sending to both Alertmanagers.
    replicas: tuple[str, ...] = ("a",)
    webhook: WebhookReceiver = field(default_factory=WebhookReceiver)
    alertmanagers: list[AlertmanagerProcess] = field(default_factory=list)
    prometheuses: list[PrometheusProcess] = field(default_factory=list)
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> HaStack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self._stack.enter_context(self.webhook)
        self.exporter = StandInExporter()
        self._stack.callback(self.exporter.close)
        am_config = render_alertmanager_config(
            self.webhook.url, self.intervals, self.workdir / "am-config"
        )
        cluster_ports = [free_port(), free_port()]
        for i, port in enumerate(cluster_ports):
            workdir = self.workdir / f"am{i}"
            am: AlertmanagerProcess
            if self.clustered:
                others = [p for p in cluster_ports if p != port]
                am = ClusteredAlertmanager(am_config, workdir, port, others, self.timings)
            else:
                am = AlertmanagerProcess(am_config, workdir)
            # Stop whatever runs at exit, also a restarted one.
            self._stack.callback(am.stop)
            am.start()
            self.alertmanagers.append(am)
        for replica in self.replicas:
            workdir = self.workdir / f"prom-{replica}"
            prom_config = render_prometheus_ha_config(
                f"127.0.0.1:{self.exporter.port}",
                [f"127.0.0.1:{am.port}" for am in self.alertmanagers],
                self.intervals,
                workdir,
                replica,
            )
            prom = PrometheusProcess(prom_config, workdir)
            # Prometheus re-sends firing alerts every resend-delay (default 1m): that is how a
            # restarted Alertmanager, which starts with no alerts, learns them again.
            prom.argv.append("--rules.alert.resend-delay=1s")
            self._stack.callback(prom.stop)
            prom.start()
            self.prometheuses.append(prom)

    def members(self) -> list[ClusteredAlertmanager]:
        """The clustered Alertmanagers in peer position order: position 0 sends first, the
        next waits peer_timeout, then sends only if the gossiped notification log lacks it."""
        ams = [am for am in self.alertmanagers if isinstance(am, ClusteredAlertmanager)]
        names = {am.cluster()["name"]: am for am in ams if am.proc is not None}
        return [names[n] for n in sorted(names)]

    def cluster_ready(self, size: int = 2) -> bool:
        """Every running member sees ``size`` peers and has settled."""
        running = [am for am in self.alertmanagers if am.proc is not None]
        for am in running:
            assert isinstance(am, ClusteredAlertmanager)
            status = am.cluster()
            if status["status"] != "ready" or len(status.get("peers") or []) != size:
                return False
        return True

    def pages(self, gateway: str, status: str = "firing") -> list[Notification]:
        """Page notifications (the webhook receiver, not the chat copy) about ``gateway``."""
        return self.webhook.received(
            lambda n: (
                n.path.startswith("/page/")
                and n.status == status
                and any(a["labels"].get("gateway") == gateway for a in n.alerts)
            )
        )
