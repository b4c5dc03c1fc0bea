"""Start a real Mosquitto on a free loopback port (tests, benchmarks, the demo).

The configuration never silently drops messages to a slow subscriber: Mosquitto's
default ``max_queued_messages 1000`` discards QoS 1 messages beyond the queue and logs
nothing, which would turn a slow collector into missed outages.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from collector.process import free_port


class BrokerError(RuntimeError):
    """Mosquitto could not be started; the message says what to install or fix."""


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


class MosquittoProcess:
    """One Mosquitto process. ``stop()``/``start()`` keep the port, for restart drills."""

    def __init__(
        self,
        port: int | None = None,
        *,
        workdir: Path | None = None,
        persistence: bool = False,
        extra_config: str = "",
    ) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise BrokerError(
                "mosquitto is not installed: run scripts/install-services "
                "(apt-get install mosquitto)"
            )
        self.exe = exe
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="posfleet-mosq-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "mosquitto.log"
        self.conf_path = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_inflight_messages 0",
            "max_keepalive 65535",
            "user root",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages false",
            extra_config,
        ]
        self.conf_path.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> MosquittoProcess:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.host, self.port, timeout)
        except BrokerError:
            err = b""
            if self.proc.poll() is not None and self.proc.stderr:
                err = self.proc.stderr.read()
            self.stop()
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise BrokerError(f"mosquitto did not start: {err.decode()} {log[-2000:]}") from None
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> MosquittoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
