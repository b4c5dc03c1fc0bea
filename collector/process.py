"""``posfleet-collector run`` as a child process, the one way the simulator's scenarios, the
demo, the benchmarks and the tests start it, wait for it, read its metrics and stop it.

A child, not an in-process ``Collector``, when what is tested is what a process does: a
SIGKILL, a restart with a retained message waiting, an exit code, its own CPU and memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from collector.store.db import is_postgres, redact

_CLK = os.sysconf("SC_CLK_TCK")


class CollectorProcessError(RuntimeError):
    """The collector process did not come up or died; the message has its log's tail."""


def free_port() -> int:
    """A TCP port free on loopback now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process, from /proc; zeros once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _CLK
        rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


class CollectorProcess:
    """One collector, restartable: ``start()`` waits until its /metrics answers.

    ``inventory`` is imported at the first start only (as an operator would run it);
    ``args`` are more command-line flags; ``env`` is added to this process's environment.
    """

    def __init__(
        self,
        db: Path | str,
        broker_port: int,
        *,
        broker_host: str = "127.0.0.1",
        inventory: Path | None = None,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        metrics_port: int | None = None,
        log_level: str = "WARNING",
    ) -> None:
        # An SQLite file (its log beside it) or a postgresql:// URL (log in a temp dir).
        self.target: Path | str = db if is_postgres(db) else Path(db)
        self.broker_host, self.broker_port = broker_host, broker_port
        self.inventory = inventory
        if log_path is None:
            log_path = (
                self.target.with_suffix(".log")
                if isinstance(self.target, Path)
                else Path(tempfile.mkdtemp(prefix="posfleet-collector-")) / "collector.log"
            )
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)
        self.metrics_port = metrics_port or free_port()
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.cpu_s = 0.0  # of the runs that have ended
        self.peak_rss_mb = 0.0

    @property
    def db(self) -> Path:
        """The SQLite file (callers that read it directly); ``target`` names either engine."""
        if not isinstance(self.target, Path):
            raise CollectorProcessError(f"the store {redact(self.target)} is not a file")
        return self.target

    # ------------------------------------------------------------------ life
    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "collector.main", "run", "--db", str(self.target),
            "--broker-host", self.broker_host, "--broker-port", str(self.broker_port),
            "--metrics-host", "127.0.0.1", "--metrics-port", str(self.metrics_port),
            "--log-level", self.log_level, *self.args,
        ]  # fmt: skip
        if self.inventory is not None and self.starts == 0:
            cmd += ["--inventory", str(self.inventory)]
        return cmd

    def start(self, timeout: float = 120.0) -> CollectorProcess:
        cmd = self.command()
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self._poll(self._answers, timeout, "the collector's /metrics did not answer")

    def wait_connected(self, timeout: float = 60.0) -> CollectorProcess:
        """Until the collector is connected to its broker and subscribed. Start the devices
        after it: a birth the collector first reads as the broker's retained memory, on its
        first connection (no session yet, as after a broker restart), holds that gateway's
        will for the restart hold (docs/collector.md) instead of paging it at once."""
        return self._poll(
            lambda: self.sample_value("posfleet_collector_broker_connected") == 1.0,
            timeout,
            "the collector did not connect to the broker",
        )

    def _poll(self, done: Callable[[], bool], timeout: float, failed: str) -> CollectorProcess:
        """Until ``done()``; the collector's exit or the deadline raises, with its log."""
        deadline = time.monotonic() + timeout
        while not done():
            if not self.alive():
                raise CollectorProcessError(
                    f"the collector exited ({self.returncode}):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise CollectorProcessError(f"{failed} in {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)  # polling a child's port: nothing to wait on but time
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, *, hard: bool = False, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean stop: what is queued lands) or, ``hard``, SIGKILL; the exit code."""
        if not self.alive():
            return self.returncode
        assert self.proc is not None
        cpu, _rss = self.sample()
        self.proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.cpu_s = cpu
        return self.proc.returncode

    def __enter__(self) -> CollectorProcess:
        return self.start() if not self.alive() else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ reading it
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _answers(self) -> bool:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(self.url, timeout=2).read()
            return True
        return False

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as r:
            return str(r.read().decode())

    def sample_value(self, name: str, **labels: str) -> float | None:
        """One sample of its /metrics (``None`` when absent or unreachable)."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            text = self.metrics_text()
        except OSError:
            return None
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None

    def rejected(self) -> Counter[str]:
        """``posfleet_collector_rejected_total`` by reason."""
        from prometheus_client.parser import text_string_to_metric_families

        out: Counter[str] = Counter()
        for family in text_string_to_metric_families(self.metrics_text()):
            if family.name == "posfleet_collector_rejected":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        out[s.labels["reason"]] += int(s.value)
        return out

    def sample(self) -> tuple[float, float]:
        """(CPU seconds of every run so far, RSS MB now)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.cpu_s, 0.0
        cpu, rss = proc_usage(self.proc.pid)
        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        return self.cpu_s + cpu, rss
