"""Heartbeat probe: uptime, boot id, load, memory and disk, from an injectable /proc root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agent.probes import Fields, Reading, partial


def disk_used_pct(path: Path) -> float:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    if total == 0:
        return 0.0
    free = st.f_bavail * st.f_frsize
    return round(100.0 * (total - free) / total, 1)


class SystemProbe:
    name = "system"

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        disk_path: Path = Path("/"),
        agent_version: str = "",
        statvfs: Callable[[Path], float] = disk_used_pct,
    ) -> None:
        self.proc = proc_root
        self.disk_path = disk_path
        self.agent_version = agent_version
        self._disk = statvfs

    def read(self) -> Reading:
        r = Reading()
        if self.agent_version:
            r.fields["agent_version"] = self.agent_version
        partial(r, "uptime", self._uptime)
        partial(r, "boot_id", self._boot_id)
        partial(r, "load", self._load)
        partial(r, "memory", self._memory)
        partial(r, "disk", lambda: {"disk_used_pct": self._disk(self.disk_path)})
        return r

    def _uptime(self) -> Fields:
        return {"uptime_s": round(float((self.proc / "uptime").read_text().split()[0]))}

    def _boot_id(self) -> Fields:
        return {"boot_id": (self.proc / "sys/kernel/random/boot_id").read_text().strip()}

    def _load(self) -> Fields:
        return {"load1": float((self.proc / "loadavg").read_text().split()[0])}

    def _memory(self) -> Fields:
        info: dict[str, int] = {}
        for line in (self.proc / "meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                info[key] = int(parts[0])
        total, avail = info["MemTotal"], info.get("MemAvailable", info.get("MemFree", 0))
        return {"mem_used_pct": round(100.0 * (total - avail) / total, 1)}
