"""Random POS faults over time, each written down as ground truth (JSON lines).

Used by the demo and by ``posfleet-sim run --faults-every``: a seeded schedule of the
failures field technicians see (dead router, hung payment app, flaky link, PIN pad
unplugged, planned upgrade reboot), each undone after a while, so the fleet keeps moving.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from simulators.gateways import Fleet, Mode
from telemetry.models import OfflineReason

KINDS = (
    "gateway_kill",
    "gateway_hang",
    "quick_reconnect",
    "site_outage",
    "pin_pad_unplugged",
    "upgrade_reboot",
)


@dataclass(frozen=True, slots=True)
class Truth:
    """What was injected: the oracle a scorecard compares the collector's alerts with."""

    fault: str
    subject_type: str
    subject_id: str
    start: str
    end: str | None = None
    expect_alert: str | None = None  # the alert kind a true detection raises (None: no page)


@dataclass
class _Active:
    undo_at: float
    undo: str
    subject: str
    fault: str


class Chaos:
    def __init__(
        self,
        fleet: Fleet,
        seed: int,
        truth: IO[str] | None = None,
        hold_s: tuple[float, float] = (45.0, 180.0),
    ) -> None:
        self.fleet = fleet
        self.rng = random.Random(seed)
        self.truth = truth
        self.hold_s = hold_s
        self.active: list[_Active] = []
        self.injected = 0

    def _write(self, t: Truth) -> None:
        if self.truth is not None:
            self.truth.write(json.dumps(asdict(t)) + "\n")
            self.truth.flush()

    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).isoformat()

    def _busy(self) -> set[str]:
        return {a.subject for a in self.active}

    def inject(self, mono: float) -> str | None:
        """Inject one random fault on a healthy subject; returns its description."""
        busy = self._busy()
        healthy = [
            g
            for g in self.fleet.gateways.values()
            if g.mode is Mode.RUNNING and g.gateway_id not in busy and g.spec.site_id not in busy
        ]
        if not healthy:
            return None
        kind = self.rng.choice(KINDS)
        gw = self.rng.choice(healthy)
        hold = self.rng.uniform(*self.hold_s)
        f = self.fleet
        if kind == "site_outage":
            site = gw.spec.site_id
            members = [g for g in f.gateways.values() if g.spec.site_id == site]
            if any(g.gateway_id in busy or g.mode is not Mode.RUNNING for g in members):
                return None
            for g in members:
                f.kill(g.gateway_id)
            alert = "site_down" if len(members) > 1 else "gateway_down"
            self._write(Truth(kind, "site", site, self._now(), None, alert))
            self.active.append(_Active(mono + hold, "site_restore", site, kind))
            self.injected += 1
            return f"{kind} {site} ({len(members)} gateways)"
        gid = gw.gateway_id
        if kind == "gateway_kill":
            f.kill(gid)
            self._write(Truth(kind, "gateway", gid, self._now(), None, "gateway_down"))
            self.active.append(_Active(mono + hold, "reconnect", gid, kind))
        elif kind == "gateway_hang":
            f.hang(gid)
            self._write(Truth(kind, "gateway", gid, self._now(), None, "gateway_down"))
            self.active.append(_Active(mono + hold, "unhang", gid, kind))
        elif kind == "quick_reconnect":
            f.quick_reconnect(gid)
            self._write(Truth(kind, "gateway", gid, self._now(), self._now(), None))
        elif kind == "pin_pad_unplugged":
            if not gw.spec.terminals:
                return None
            tid = self.rng.choice(gw.spec.terminals).terminal_id
            f.mute_terminal(gid, tid)
            self._write(Truth(kind, "terminal", tid, self._now(), None, "terminal_down"))
            self.active.append(_Active(mono + hold, f"replug:{tid}", gid, kind))
        elif kind == "upgrade_reboot":
            f.graceful_offline(gid, OfflineReason.UPGRADE)
            self._write(Truth(kind, "gateway", gid, self._now(), None, None))
            self.active.append(_Active(mono + self.rng.uniform(10, 20), "reconnect", gid, kind))
        self.injected += 1
        return f"{kind} {gid}"

    def undo_due(self, mono: float) -> None:
        f = self.fleet
        for a in [a for a in self.active if a.undo_at <= mono]:
            self.active.remove(a)
            if a.undo == "reconnect":
                f.connect(f.gateways[a.subject])
            elif a.undo == "unhang":
                f.unhang(a.subject)
            elif a.undo == "site_restore":
                for g in f.gateways.values():
                    if g.spec.site_id == a.subject and g.mode is Mode.DEAD:
                        f.connect(g)
            elif a.undo.startswith("replug:"):
                f.mute_terminal(a.subject, a.undo.split(":", 1)[1], muted=False)
            subject_type = "site" if a.undo == "site_restore" else "gateway"
            if a.undo.startswith("replug:"):
                subject_type, a.subject = "terminal", a.undo.split(":", 1)[1]
            self._write(Truth(f"{a.fault}_end", subject_type, a.subject, self._now(), self._now()))


def open_truth(path: Path | None) -> IO[str] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")
