"""Firmware probe: OS, kernel, model, terminal firmware, payment app, security patch level.

Vendor-specific values come from a *source*: ``file:/path`` (first line of a file) or
``cmd:program args`` (first line of a command's output), set in the agent's config.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from agent.probes import Fields, ProbeError, Reading, Runner, partial, run_command


def read_source(source: str, runner: Runner = run_command) -> str:
    kind, _, arg = source.partition(":")
    if kind == "file":
        try:
            text = Path(arg).read_text()
        except OSError as exc:
            raise ProbeError(f"{arg}: {exc.strerror}") from exc
    elif kind == "cmd":
        text = runner(shlex.split(arg))
    else:
        raise ProbeError(f"source {source!r} must start with file: or cmd:")
    first = text.strip().splitlines()
    if not first:
        raise ProbeError(f"{source}: empty")
    return first[0].strip()[:128]


class FirmwareProbe:
    name = "firmware"

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        etc_root: Path = Path("/etc"),
        sys_root: Path = Path("/sys"),
        *,
        model: str | None = None,
        sources: dict[str, str | None] | None = None,
        runner: Runner = run_command,
    ) -> None:
        self.proc, self.etc, self.sys = proc_root, etc_root, sys_root
        self.model = model
        self.sources = {k: v for k, v in (sources or {}).items() if v}
        self.run = runner

    def read(self) -> Reading:
        r = Reading()
        partial(r, "os", self._os)
        partial(r, "kernel", self._kernel)
        partial(r, "model", self._model)
        for field_name, source in sorted(self.sources.items()):
            partial(r, field_name, self._from_source(field_name, source))
        return r

    def _from_source(self, field_name: str, source: str) -> Callable[[], Fields]:
        return lambda: {field_name: read_source(source, self.run)}

    def _os(self) -> Fields:
        values = {}
        for line in (self.etc / "os-release").read_text().splitlines():
            key, _, val = line.partition("=")
            values[key.strip()] = val.strip().strip('"')
        name = values.get("PRETTY_NAME") or values.get("NAME")
        if not name:
            raise ProbeError("os-release has no PRETTY_NAME")
        return {"os": name[:128]}

    def _kernel(self) -> Fields:
        return {"kernel": (self.proc / "sys/kernel/osrelease").read_text().strip()[:128]}

    def _model(self) -> Fields:
        if self.model:
            return {"model": self.model}
        path = self.sys / "class/dmi/id/product_name"
        return {"model": path.read_text().strip()[:128]} if path.exists() else {}
