"""Random POS faults over time, each written down as ground truth (JSON lines).

Used by the demo and by ``posfleet-sim run --faults-every``: a seeded schedule of the
failures field technicians see (dead router, hung payment app, flaky link, PIN pad
unplugged, planned upgrade reboot), each undone after a while, so the fleet keeps moving.
With the fleet's transactions on (``--transactions``), ``inject_txn`` takes turns between a
stuck payment app and a store's issuer outage, on what trades busiest now (a fault on a
shop that is closed shows nothing).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from simulators.gateways import Fleet, Mode
from simulators.txnfleet import TxnDriver
from simulators.txnmodel import TxnMode
from telemetry.models import OfflineReason

KINDS = (
    "gateway_kill",
    "gateway_hang",
    "quick_reconnect",
    "site_outage",
    "pin_pad_unplugged",
    "upgrade_reboot",
)
TXN_KINDS = ("stuck_app", "issuer_outage")
# After a transaction fault ends, its gateway or store stays off-limits this long: its alert
# clears on the first sales (a silence) or once the failures leave the collector's spike
# window, before any other fault there could make the collector re-page the same subject.
TXN_SETTLE_S = 240.0
ISSUER_OUTAGE_SHARE = 0.6  # of a store's sale attempts declined with 91 during its outage


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
    subject: str  # the gateway or site no other fault may touch meanwhile
    fault: str
    devices: tuple[str, ...] = ()  # payment devices put back to normal at the end
    truth: tuple[str, str] | None = None  # the end row's (subject type, id), when not subject


class Chaos:
    def __init__(
        self,
        fleet: Fleet,
        seed: int,
        truth: IO[str] | None = None,
        hold_s: tuple[float, float] = (45.0, 180.0),
        txn: TxnDriver | None = None,
        txn_hold_s: tuple[float, float] = (300.0, 480.0),
    ) -> None:
        self.fleet = fleet
        self.rng = random.Random(seed)
        self.truth = truth
        self.hold_s = hold_s
        self.txn = txn
        self.txn_hold_s = txn_hold_s
        self.active: list[_Active] = []
        self.injected = 0
        self._txn_turn = 0

    def record(self, t: Truth) -> None:
        if self.truth is not None:
            self.truth.write(json.dumps(asdict(t)) + "\n")
            self.truth.flush()

    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).isoformat()

    def busy(self) -> set[str]:
        """The gateways and sites a fault holds: no other fault touches them meanwhile."""
        return {a.subject for a in self.active}

    def inject(self, mono: float) -> str | None:
        """Inject one random fault on a healthy subject; returns its description."""
        busy = self.busy()
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
            self.record(Truth(kind, "site", site, self._now(), None, alert))
            self.active.append(_Active(mono + hold, "site_restore", site, kind))
            self.injected += 1
            return f"{kind} {site} ({len(members)} gateways)"
        gid = gw.gateway_id
        if kind == "gateway_kill":
            f.kill(gid)
            self.record(Truth(kind, "gateway", gid, self._now(), None, "gateway_down"))
            self.active.append(_Active(mono + hold, "reconnect", gid, kind))
        elif kind == "gateway_hang":
            f.hang(gid)
            self.record(Truth(kind, "gateway", gid, self._now(), None, "gateway_down"))
            self.active.append(_Active(mono + hold, "unhang", gid, kind))
        elif kind == "quick_reconnect":
            f.quick_reconnect(gid)
            self.record(Truth(kind, "gateway", gid, self._now(), self._now(), None))
        elif kind == "pin_pad_unplugged":
            if not gw.spec.terminals:
                return None
            tid = self.rng.choice(gw.spec.terminals).terminal_id
            f.mute_terminal(gid, tid)
            self.record(Truth(kind, "terminal", tid, self._now(), None, "terminal_down"))
            self.active.append(_Active(mono + hold, f"replug:{tid}", gid, kind))
        elif kind == "upgrade_reboot":
            f.graceful_offline(gid, OfflineReason.UPGRADE)
            self.record(Truth(kind, "gateway", gid, self._now(), None, None))
            self.active.append(_Active(mono + self.rng.uniform(10, 20), "reconnect", gid, kind))
        self.injected += 1
        return f"{kind} {gid}"

    def inject_txn(self, mono: float, now: datetime | None = None) -> str | None:
        """A stuck payment app or a store's issuer outage (in turn), on one of the busiest
        devices or stores trading at ``now`` whose gateways are up and free of other faults."""
        if self.txn is None:
            return None
        kind = TXN_KINDS[self._txn_turn % len(TXN_KINDS)]
        self._txn_turn += 1
        now = now or datetime.now(UTC)
        busy = self.busy()
        up = {
            gid
            for gid, g in self.fleet.gateways.items()
            if g.mode is Mode.RUNNING and gid not in busy and g.spec.site_id not in busy
        }
        devices = [
            d for d in self.txn.devices.values() if d.gateway_id in up and d.mode is TxnMode.NORMAL
        ]
        rate = {d.device_id: d.store.rate(now.astimezone(d.tz)) for d in devices}
        hold = self.rng.uniform(*self.txn_hold_s)
        if kind == "stuck_app":
            pool = sorted((-r, dev) for dev, r in rate.items() if r > 0)[:5]
            if not pool:
                return None
            dev = self.rng.choice(pool)[1]
            d = self.txn.devices[dev]
            self.txn.set_mode([dev], TxnMode.STUCK)
            where = ("terminal" if d.terminal else "gateway", dev)
            self.record(Truth(kind, *where, self._now(), None, "terminal_silent"))
            self.active.append(
                _Active(mono + hold, "txn_normal", d.gateway_id, kind, (dev,), where)
            )
            self.injected += 1
            return f"{kind} {dev} ({d.store.name}, {d.site_id})"
        gateways_of: dict[str, set[str]] = {}
        for g in self.fleet.gateways.values():
            gateways_of.setdefault(g.spec.site_id, set()).add(g.gateway_id)
        by_site: dict[str, list[str]] = {}
        for d in devices:
            by_site.setdefault(d.site_id, []).append(d.device_id)
        trading = sorted(
            (-sum(rate[dev] for dev in devs), site)
            for site, devs in by_site.items()
            if gateways_of[site] <= up and sum(rate[dev] for dev in devs) > 0
        )[:3]
        if not trading:
            return None
        site = self.rng.choice(trading)[1]
        devs = tuple(sorted(by_site[site]))
        self.txn.set_mode(devs, TxnMode.ISSUER_OUTAGE, ISSUER_OUTAGE_SHARE)
        self.record(Truth(kind, "site", site, self._now(), None, "txn_failure_spike"))
        self.active.append(_Active(mono + hold, "txn_normal", site, kind, devs, ("site", site)))
        self.injected += 1
        return f"{kind} at {site} ({len(devs)} payment devices)"

    def undo_due(self, mono: float) -> None:
        f = self.fleet
        for a in [a for a in self.active if a.undo_at <= mono]:
            self.active.remove(a)
            if a.undo == "txn_normal":
                assert self.txn is not None
                assert a.truth is not None
                self.txn.set_mode(a.devices, TxnMode.NORMAL)
                self.record(Truth(f"{a.fault}_end", *a.truth, self._now(), self._now()))
                self.active.append(_Active(mono + TXN_SETTLE_S, "settled", a.subject, a.fault))
                continue
            if a.undo == "settled":
                continue
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
            self.record(Truth(f"{a.fault}_end", subject_type, a.subject, self._now(), self._now()))


def open_truth(path: Path | None) -> IO[str] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")
