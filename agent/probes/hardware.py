"""Hardware probe: battery, temperature, storage, printer (a pluggable source)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from agent.probes import Fields, ProbeError, Reading, Runner, partial, run_command
from agent.probes.firmware import read_source
from agent.probes.system import disk_used_pct

PRINTER_STATES = ("ok", "paper_low", "paper_out", "error", "absent", "unknown")


def printer_state(text: str) -> str:
    """Map a vendor file's state or CUPS ``lpstat -p`` output to a PrinterState value."""
    t = text.strip().lower()
    if t in PRINTER_STATES:
        return t
    if "media-empty" in t or "out of paper" in t or "paper out" in t:
        return "paper_out"
    if "media-low" in t or "paper low" in t:
        return "paper_low"
    if "disabled" in t or "error" in t or "offline" in t:
        return "error"
    if "idle" in t or "printing" in t or "enabled" in t:
        return "ok"
    raise ProbeError(f"unrecognised printer status {text.strip()[:80]!r}")


def _read_float(path: Path) -> float:
    return float(path.read_text().strip())


class HardwareProbe:
    name = "hardware"

    def __init__(
        self,
        sys_root: Path = Path("/sys"),
        disk_path: Path = Path("/"),
        *,
        printer_source: str | None = None,
        runner: Runner = run_command,
        statvfs: Callable[[Path], float] = disk_used_pct,
    ) -> None:
        self.sys, self.disk_path = sys_root, disk_path
        self.printer_source = printer_source
        self.run = runner
        self._disk = statvfs

    def read(self) -> Reading:
        r = Reading()
        partial(r, "battery", self._battery)
        partial(r, "temperature", self._temperature)
        partial(r, "storage", lambda: {"storage_used_pct": self._disk(self.disk_path)})
        if self.printer_source:
            partial(r, "printer", self._printer)
            if "printer" in r.errors:
                r.fields["printer"] = "unknown"
        return r

    def _battery(self) -> Fields:
        base = self.sys / "class/power_supply"
        if not base.is_dir():
            return {}  # mains-powered: no battery is not a fault
        for supply in sorted(base.iterdir()):
            kind = supply / "type"
            if not kind.exists() or kind.read_text().strip() != "Battery":
                continue
            fields: Fields = {}
            if (supply / "capacity").exists():
                fields["battery_pct"] = min(100.0, _read_float(supply / "capacity"))
            if (supply / "status").exists():
                fields["charging"] = (supply / "status").read_text().strip() in {
                    "Charging",
                    "Full",
                }
            if (supply / "cycle_count").exists():
                fields["battery_cycles"] = int(_read_float(supply / "cycle_count"))
            for full, design in (
                ("charge_full", "charge_full_design"),
                ("energy_full", "energy_full_design"),
            ):
                if (supply / full).exists() and (supply / design).exists():
                    d = _read_float(supply / design)
                    if d > 0:
                        pct = 100.0 * _read_float(supply / full) / d
                        fields["battery_health_pct"] = round(min(100.0, pct), 1)
                    break
            return fields
        return {}

    def _temperature(self) -> Fields:
        base = self.sys / "class/thermal"
        temps = []
        if base.is_dir():
            for zone in sorted(base.glob("thermal_zone*")):
                if (zone / "temp").exists():
                    temps.append(_read_float(zone / "temp") / 1000.0)
        return {"temperature_c": round(max(temps), 1)} if temps else {}

    def _printer(self) -> Fields:
        assert self.printer_source is not None
        kind, _, arg = self.printer_source.partition(":")
        if kind == "cmd":
            text = self.run(shlex.split(arg))
        else:
            text = read_source(self.printer_source, self.run)
        return {"printer": printer_state(text)}
