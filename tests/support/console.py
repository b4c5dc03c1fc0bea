"""The console as a person meets it: ``posfleet-dashboard`` served on a free port, and the
Debian Chromium that drives it (tests/dashboard/test_dashboard_browser*.py, the NOC shift of
tests/support/shift.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector.process import free_port
from simulators.stack.wait import wait_for

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def console_script() -> str:
    exe = shutil.which("posfleet-dashboard", path=str(Path(sys.executable).parent))
    assert exe, "posfleet-dashboard console script not installed in the venv"
    return exe


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextmanager
def served(
    db: Path, env: dict[str, str], *, start_s: float, stop_s: float, what: str
) -> Iterator[str]:
    """``posfleet-dashboard --db db`` on a free port with ``env``, as an operator would start
    it; its URL once healthy. On the way out: SIGTERM (the launcher forwards it to
    Streamlit), then Streamlit must stop answering within ``stop_s``."""
    port = free_port()
    proc = subprocess.Popen(
        [console_script(), "--db", str(db), "--port", str(port), "--address", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url) or proc.poll() is not None, start_s, what=f"{what} health")
        assert proc.poll() is None, "posfleet-dashboard exited at start"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        wait_for(lambda: not healthy(url), stop_s, what=f"{what} to stop")


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
