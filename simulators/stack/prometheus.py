"""Real Prometheus and Alertmanager processes on free loopback ports (tests, bench).

Configurations are rendered from the shipped files in ``deploy/`` so the tests prove what we
ship: only the receivers' base URLs (to the test webhook) and the intervals change.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collector.metrics import ALERT_LABELS
from collector.process import free_port

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"
AM_DIR = REPO / "deploy" / "alertmanager"
RULES = PROM_DIR / "rules" / "posfleet.rules.yml"
AM_CONFIG = AM_DIR / "alertmanager.yml"
AM_TEMPLATES = AM_DIR / "templates"
# The placeholders of the shipped alertmanager.yml, replaced by the test webhook's URL.
SHIPPED_BASE_URLS = ("http://pager-bridge.example:8080", "http://chat.example:8080")


class StackError(RuntimeError):
    """A Prometheus/Alertmanager program is missing or did not start; the message says why."""


def find_program(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def promtool() -> str | None:
    return find_program("promtool")


def amtool() -> str | None:
    return find_program("amtool")


def http_json(url: str, data: Any = None, timeout: float = 5.0) -> Any:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Intervals:
    """The knobs that decide page latency (docs/alerting.md)."""

    scrape: str = "10s"
    evaluation: str = "10s"
    group_wait: str = "5s"
    group_interval: str = "1m"


TEST_INTERVALS = Intervals(scrape="1s", evaluation="1s", group_wait="2s", group_interval="2s")
RECOMMENDED_INTERVALS = Intervals()


def render_alertmanager_config(
    hook_url: str, intervals: Intervals, dest_dir: Path, source: Path = AM_CONFIG
) -> Path:
    """The shipped config with receivers pointed at ``hook_url`` and the given intervals."""
    text = source.read_text()
    for base in SHIPPED_BASE_URLS:
        text = text.replace(base, hook_url)
    config = yaml.safe_load(text)
    config["route"]["group_wait"] = intervals.group_wait
    config["route"]["group_interval"] = intervals.group_interval
    # Templates are relative to the config file; the rendered copy lives elsewhere.
    config["templates"] = [str(AM_TEMPLATES / "*.tmpl")]
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def render_prometheus_config(
    collector_target: str,
    alertmanager_target: str,
    intervals: Intervals,
    dest_dir: Path,
    rules: Path = RULES,
) -> Path:
    """The shipped prometheus.yml with the given targets and intervals, and the shipped rules
    (``rules``: another rules file, e.g. an older revision for a before/after drill)."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = intervals.scrape
    config["global"]["evaluation_interval"] = intervals.evaluation
    # A scrape timeout cannot exceed the interval.
    config["global"]["scrape_timeout"] = intervals.scrape
    config["rule_files"] = [str(rules)]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager_target]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "posfleet-collector"]
    job["static_configs"][0]["targets"] = [collector_target]
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class _Process:
    name = "process"

    def __init__(self, argv: list[str], workdir: Path, ready_url: str) -> None:
        self.argv = argv
        self.workdir = workdir
        self.ready_url = ready_url
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> _Process:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not is_ready(self.ready_url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} did not become ready: {self.log()[-3000:]}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> _Process:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AlertmanagerProcess(_Process):
    name = "alertmanager"

    def __init__(self, config: Path, workdir: Path, port: int | None = None) -> None:
        exe = find_program("prometheus-alertmanager", "alertmanager")
        if exe is None:
            raise StackError(
                "Alertmanager is not installed: run scripts/install-services "
                "(apt-get install prometheus-alertmanager)"
            )
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                exe,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # Empty disables clustering; otherwise it binds 0.0.0.0:9094 and gossips.
                "--cluster.listen-address=",
                "--log.level=info",
            ],
            workdir,
            f"{self.url}/-/ready",
        )

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        http_json(f"{self.url}/api/v2/alerts", alerts)

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v2/alerts")
        return result

    def groups(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v2/alerts/groups")
        return result


class PrometheusProcess(_Process):
    name = "prometheus"

    def __init__(self, config: Path, workdir: Path, port: int | None = None) -> None:
        exe = find_program("prometheus")
        if exe is None:
            raise StackError(
                "Prometheus is not installed: run scripts/install-services "
                "(apt-get install prometheus)"
            )
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                exe,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=info",
            ],
            workdir,
            f"{self.url}/-/ready",
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        result: list[dict[str, Any]] = http_json(url)["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return result


class StandInExporter:
    """Serves ``posfleet_alert_firing`` as docs/metrics.md specifies, on a free port, to test
    the Prometheus -> Alertmanager share of the path without a collector."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Gauge, start_http_server

        self.registry = CollectorRegistry()
        self.firing = Gauge(
            "posfleet_alert_firing", "firing alerts", ALERT_LABELS, registry=self.registry
        )
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", self.registry)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
