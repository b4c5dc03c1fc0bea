"""A real victoria-metrics on a free loopback port: accepts InfluxDB's /api/v2/write.

``stop()``/``start()`` keep the port and the data directory, for outage drills. Reading
back goes through ``/api/v1/export`` after ``/internal/force_flush`` (VictoriaMetrics
keeps fresh rows in memory for a few seconds before search sees them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from collector.process import free_port


class VictoriaMetrics:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            raise FileNotFoundError("victoria-metrics not installed (apt install victoria-metrics)")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / "vm.log"
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 15.0) -> VictoriaMetrics:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.workdir / 'data'}",
                    "-retentionPeriod=100y",
                    "-loggerLevel=ERROR",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited: {self._log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"victoria-metrics not healthy after {timeout}s")
            time.sleep(0.05)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Graceful stop (SIGTERM): VictoriaMetrics flushes what it accepted to disk."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def close(self) -> None:
        self.stop()

    def force_flush(self) -> None:
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5) as resp:
            resp.read()

    def export(self, match: str) -> list[dict[str, object]]:
        """Raw samples of every series matching ``match`` (one JSON object per series)."""
        self.force_flush()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as resp:
            body = resp.read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def samples(self, match: str) -> list[tuple[dict[str, str], int, float]]:
        """(labels, timestamp ms, value) for every stored sample, sorted."""
        out: list[tuple[dict[str, str], int, float]] = []
        for series in self.export(match):
            labels = dict(series["metric"])  # type: ignore[call-overload]
            values = series["values"]
            stamps = series["timestamps"]
            assert isinstance(values, list)
            assert isinstance(stamps, list)
            out.extend((labels, int(t), float(v)) for t, v in zip(stamps, values, strict=True))
        return sorted(out, key=lambda s: (sorted(s[0].items()), s[1]))
