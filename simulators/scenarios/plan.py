"""Compile a scenario into a plan: timed steps on named subjects, with the ground truth each
step writes (pure and deterministic: the same scenario, fleet and seed give the same plan).

Every random choice (which stores, which gateways, when inside a spread, which rollout
fails) is made here, from the scenario's seed; running the plan only replays it. Each
subject takes part in one event at most, so the truth is never ambiguous.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.alerts.config import AlertSettings
from collector.config import CollectorSettings
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import GatewaySpec
from simulators.scenarios import spec as S
from simulators.txnmodel import StoreType, store_type_of

DOWN_FAMILY = ("site_down", "gateway_down", "terminal_down")


@dataclass(frozen=True, slots=True)
class Mark:
    """One ground-truth row: a fault starts (or ends, ``end``) on a subject."""

    fault: str
    subject_type: str
    subject_id: str
    expect_alert: str | None = None
    end: bool = False
    instant: bool = False  # starts and ends at once (nothing to detect)


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds after the fleet is up
    op: str
    targets: tuple[str, ...] = ()
    args: tuple[tuple[str, Any], ...] = ()
    truth: tuple[Mark, ...] = ()
    note: str = ""

    @property
    def kw(self) -> dict[str, Any]:
        return dict(self.args)


@dataclass(frozen=True, slots=True)
class Timing:
    """The collector's delays the plan must respect (from its settings)."""

    interval: float
    grace: float
    alerts: AlertSettings

    def page_after(self, kind: str) -> float:
        """A fault that lasts at least this long must page (later than that: missed)."""
        detect = self.interval + 2 * self.grace  # a hang is the slowest to see
        return self.alerts.pending_for(kind) + detect + max(5.0, self.interval)


def timing(scenario: S.Scenario) -> Timing:
    settings = CollectorSettings.model_validate(
        {k: v for k, v in scenario.collector.settings.items()}
    )
    alerts = AlertSettings.model_validate(dict(scenario.collector.alerts))
    interval = scenario.fleet.heartbeat
    grace = min(max(settings.grace_ratio * interval, settings.grace_min_s), settings.grace_max_s)
    return Timing(interval, grace, alerts)


@dataclass
class Plan:
    steps: list[Step]
    end: float  # last step + settle
    expected_rejects: Counter[str] = field(default_factory=Counter)
    timing: Timing | None = None

    def faults(self) -> Counter[str]:
        return Counter(m.fault for s in self.steps for m in s.truth if not m.end)


class _Picker:
    def __init__(self, model: FleetModel, rng: random.Random) -> None:
        self.rng = rng
        self.model = model
        self.by_site: dict[str, list[GatewaySpec]] = {}
        for g in model.gateways:
            self.by_site.setdefault(g.site_id, []).append(g)
        self.region = {s.site_id: s.region_id for s in model.sites}
        self.taken: set[str] = set()
        self.scenario: S.Scenario | None = None

    def regions(self) -> list[str]:
        return sorted(set(self.region.values()))

    def free_sites(self, region: str | None, min_gateways: int = 1) -> list[str]:
        return [
            s
            for s, gws in sorted(self.by_site.items())
            if (region is None or self.region[s] == region)
            and len(gws) >= min_gateways
            and s not in self.taken
            and not any(g.gateway_id in self.taken for g in gws)
        ]

    def take_sites(self, sites: Iterable[str]) -> None:
        for s in sites:
            self.taken.add(s)
            self.taken.update(g.gateway_id for g in self.by_site[s])

    def free_gateways(self, region: str | None, pred: Any = None) -> list[GatewaySpec]:
        return [
            g
            for g in self.model.gateways
            if (region is None or g.region_id == region)
            and g.gateway_id not in self.taken
            and g.site_id not in self.taken
            and (pred is None or pred(g))
        ]

    def sample(self, pool: Sequence[Any], n: int, what: str, event: str) -> list[Any]:
        if len(pool) < n:
            raise S.ScenarioError(
                f"{event}: needs {n} {what} but only {len(pool)} are free in this fleet; "
                "lower count, add gateways, or drop the region filter"
            )
        return self.rng.sample(list(pool), n)


def compile_plan(scenario: S.Scenario, model: FleetModel) -> Plan:
    rng = random.Random(scenario.seed)
    pick = _Picker(model, rng)
    pick.scenario = scenario
    t = timing(scenario)
    steps: list[Step] = []
    rejects: Counter[str] = Counter()
    # A window on a whole region takes the region before anything else picks subjects in it,
    # wherever it is listed; the other events are served in file order.
    order = sorted(
        enumerate(scenario.events),
        key=lambda ie: not (isinstance(ie[1], S.MaintenanceWindow) and ie[1].scope == "region"),
    )
    for i, ev in order:
        name = f"events[{i}] ({ev.fault})"
        steps.extend(_expand(ev, name, pick, t, rejects))
    # Faults on a settlement file come before the files themselves (same time, stable sort).
    steps.extend(settlement_steps(scenario))
    steps.sort(key=lambda s: s.at)  # stable: same-time steps keep their order
    last = max((s.at for s in steps), default=0.0)
    return Plan(steps, last + scenario.settle, rejects, t)


def _need(cond: bool, event: str, msg: str) -> None:
    if not cond:
        raise S.ScenarioError(f"{event}: {msg}")


def _check_hold(hold: float, kind: str, t: Timing, event: str) -> None:
    need = t.page_after(kind)
    _need(
        hold >= need,
        event,
        f"hold {hold:g}s is shorter than the {kind} page delay with these settings "
        f"(~{need:.0f}s), so it would not be expected to page; make hold >= {need:.0f}s",
    )


def _gw_ids(gws: Iterable[GatewaySpec]) -> tuple[str, ...]:
    return tuple(g.gateway_id for g in gws)


def _expand(
    ev: S.EventSpec, name: str, pick: _Picker, t: Timing, rejects: Counter[str]
) -> list[Step]:
    """The steps (and ground truth) of one event: one expander per event type."""
    return _EXPANDERS[type(ev)](ev, name, pick, t, rejects)


def _store_outage(
    ev: S.SitePowerOutage | S.RegionalIspOutage,
    name: str,
    pick: _Picker,
    t: Timing,
    _rejects: Counter[str],
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    _check_hold(ev.hold, "site_down", t, name)
    if isinstance(ev, S.SitePowerOutage):
        sites = pick.sample(pick.free_sites(region, ev.min_gateways), ev.count, "stores", name)
    else:
        reg = region or pick.rng.choice(pick.regions())
        free = pick.free_sites(reg)
        sites = pick.sample(free, max(1, round(ev.share * len(free))), "stores", name)
    sites.sort()
    pick.take_sites(sites)
    gws = tuple(g for s in sites for g in _gw_ids(pick.by_site[s]))
    out.append(
        Step(
            at,
            "kill",
            gws,
            truth=tuple(Mark(ev.fault, "site", s, "site_down") for s in sites),
            note=f"{ev.fault}: {len(sites)} stores, {len(gws)} gateways",
        )
    )
    out.append(
        Step(
            at + ev.hold,
            "connect",
            gws,
            truth=tuple(Mark(ev.fault, "site", s, end=True) for s in sites),
            note=f"{ev.fault} over: {len(sites)} stores back",
        )
    )
    return out


def _flapping_link(
    ev: S.FlappingLink, name: str, pick: _Picker, t: Timing, _rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    _need(
        ev.down + 2.0 < t.alerts.pending_gateway_down_s,
        name,
        f"down {ev.down:g}s must be shorter than pending_gateway_down_s - 2s "
        f"({t.alerts.pending_gateway_down_s:g}s - 2s), or each drop pages on its own",
    )
    changes = 2 * ev.cycles
    _need(
        changes > t.alerts.flap_changes and ev.cycles * (ev.down + ev.up) <= t.alerts.flap_window_s,
        name,
        f"{ev.cycles} cycles make {changes} changes in {ev.cycles * (ev.down + ev.up):g}s; "
        f"a flapping alert needs more than flap_changes={t.alerts.flap_changes} within "
        f"flap_window_s={t.alerts.flap_window_s:g}s",
    )

    # Only gateways of stores with others that stay up: a lone one takes its store down.
    def shared(g: GatewaySpec) -> bool:
        return len(pick.by_site[g.site_id]) > 1

    for g in pick.sample(pick.free_gateways(region, shared), ev.count, "gateways", name):
        pick.taken.add(g.gateway_id)
        when = at
        for c in range(ev.cycles):
            first, last = c == 0, c == ev.cycles - 1
            out.append(
                Step(
                    when,
                    "kill",
                    (g.gateway_id,),
                    truth=(Mark(ev.fault, "gateway", g.gateway_id, "flapping"),) if first else (),
                    note=f"flapping_link {g.gateway_id} drop {c + 1}/{ev.cycles}",
                )
            )
            out.append(
                Step(
                    when + ev.down,
                    "connect",
                    (g.gateway_id,),
                    truth=(Mark(ev.fault, "gateway", g.gateway_id, end=True),) if last else (),
                )
            )
            when += ev.down + ev.up
    return out


def _hung_app(
    ev: S.HungApp, name: str, pick: _Picker, t: Timing, _rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    _check_hold(ev.hold, "gateway_down", t, name)
    for g in pick.sample(pick.free_gateways(region), ev.count, "gateways", name):
        pick.taken.add(g.gateway_id)
        gid = g.gateway_id
        out.append(
            Step(at, "hang", (gid,), truth=(Mark(ev.fault, "gateway", gid, "gateway_down"),))
        )
        out.append(
            Step(
                at + ev.hold,
                "unhang",
                (gid,),
                truth=(Mark(ev.fault, "gateway", gid, end=True),),
            )
        )
    return out


def _pin_pad_unplugged(
    ev: S.PinPadUnplugged, name: str, pick: _Picker, t: Timing, _rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    _check_hold(ev.hold, "terminal_down", t, name)
    routers = pick.free_gateways(region, lambda g: bool(g.terminals))
    for g in pick.sample(routers, ev.count, "store routers with PIN pads", name):
        pick.taken.add(g.gateway_id)
        tid = pick.rng.choice(g.terminals).terminal_id
        out.append(
            Step(
                at,
                "mute",
                (g.gateway_id,),
                (("terminal", tid),),
                (Mark(ev.fault, "terminal", tid, "terminal_down"),),
            )
        )
        out.append(
            Step(
                at + ev.hold,
                "unmute",
                (g.gateway_id,),
                (("terminal", tid),),
                (Mark(ev.fault, "terminal", tid, end=True),),
            )
        )
    return out


def _clock_skew(
    ev: S.ClockSkew, name: str, pick: _Picker, _t: Timing, _rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    for g in pick.sample(pick.free_gateways(region), ev.count, "gateways", name):
        pick.taken.add(g.gateway_id)
        gid = g.gateway_id
        out.append(
            Step(
                at,
                "skew",
                (gid,),
                (("seconds", ev.skew),),
                (Mark(ev.fault, "gateway", gid, "clock_skew"),),
            )
        )
        out.append(
            Step(
                at + ev.hold,
                "skew",
                (gid,),
                (("seconds", 0.0),),
                (Mark(ev.fault, "gateway", gid, end=True),),
            )
        )
    return out


def _printer_paper_out(
    ev: S.PrinterPaperOut, name: str, pick: _Picker, _t: Timing, _rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    aio = pick.free_gateways(region, lambda g: not g.terminals)  # all-in-one POS
    for g in pick.sample(aio, ev.count, "all-in-one POS gateways", name):
        pick.taken.add(g.gateway_id)
        gid = g.gateway_id
        when = at
        first = True
        while when < at + ev.hold:
            marks = (Mark(ev.fault, "gateway", gid, "hardware_fault"),) if first else ()
            out.append(Step(when, "hardware", (gid,), (("printer", "paper_out"),), marks))
            first, when = False, when + ev.report_every
        out.append(
            Step(
                at + ev.hold,
                "hardware",
                (gid,),
                (("printer", "ok"),),
                (Mark(ev.fault, "gateway", gid, end=True),),
            )
        )
    return out


def _battery_drain(
    ev: S.BatteryDrain, name: str, pick: _Picker, t: Timing, _rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    low = t.alerts.battery_low_pct
    _need(
        ev.from_pct > t.alerts.battery_ok_pct,
        name,
        f"from_pct must be above battery_ok_pct ({t.alerts.battery_ok_pct:g})",
    )
    portable = pick.free_gateways(region, lambda g: not g.terminals)
    for g in pick.sample(portable, ev.count, "portable POS gateways", name):
        pick.taken.add(g.gateway_id)
        gid = g.gateway_id
        when, crossed = at, None
        while crossed is None or when < crossed + ev.hold:
            pct = max(1.0, round(ev.from_pct - ev.pct_per_min * (when - at) / 60.0, 1))
            crossing: tuple[Mark, ...] = ()
            if crossed is None and pct <= low:
                crossed = when
                crossing = (Mark(ev.fault, "gateway", gid, "hardware_fault"),)
            report = (("battery_pct", pct), ("charging", False))
            out.append(Step(when, "hardware", (gid,), report, crossing))
            when += ev.report_every
        out.append(
            Step(
                when,
                "hardware",
                (gid,),
                (("battery_pct", 25.0), ("charging", True)),
                (Mark(ev.fault, "gateway", gid, end=True),),
            )
        )
    return out


def _restart(
    ev: S.BrokerRestart | S.CollectorRestart,
    _name: str,
    _pick: _Picker,
    _t: Timing,
    _rejects: Counter[str],
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    what = "broker" if isinstance(ev, S.BrokerRestart) else "collector"
    ctl: tuple[tuple[str, Any], ...] = (("down", ev.down),)
    if isinstance(ev, S.CollectorRestart):
        ctl += (("hard", ev.hard),)
    for k in range(ev.count):
        out.append(
            Step(
                at + k * (ev.down + 30.0),
                f"{what}_restart",
                args=ctl,
                truth=(Mark(ev.fault, what, what, instant=True),),
                note=f"{what} restart ({ev.down:g}s down)",
            )
        )
    return out


def _bad_input(
    ev: S.BadInput, name: str, pick: _Picker, _t: Timing, rejects: Counter[str]
) -> list[Step]:
    out: list[Step] = []
    at = ev.at
    region = ev.region
    a, b = pick.sample(pick.free_gateways(region), 2, "gateways", name)
    pick.taken.update((a.gateway_id, b.gateway_id))
    for kind in ev.kinds:
        rejects[kind] += ev.count
    out.append(
        Step(
            at,
            "bad_input",
            (a.gateway_id, b.gateway_id),
            (("kinds", tuple(ev.kinds)), ("count", ev.count)),
            (Mark(ev.fault, "gateway", a.gateway_id, instant=True),),
            note=f"bad input: {ev.count} x {len(ev.kinds)} kinds",
        )
    )
    return out


_Expander = Callable[[Any, str, _Picker, Timing, Counter[str]], list[Step]]
_EXPANDERS: dict[type, _Expander] = {
    S.SitePowerOutage: _store_outage,
    S.RegionalIspOutage: _store_outage,
    S.FlappingLink: _flapping_link,
    S.HungApp: _hung_app,
    S.PinPadUnplugged: _pin_pad_unplugged,
    S.FirmwareRollout: lambda ev, name, pick, t, _rejects: _rollout(ev, name, pick, t),
    S.ClockSkew: _clock_skew,
    S.PrinterPaperOut: _printer_paper_out,
    S.BatteryDrain: _battery_drain,
    S.MaintenanceWindow: lambda ev, name, pick, t, _rejects: _window(ev, name, pick, t),
    S.BrokerRestart: _restart,
    S.CollectorRestart: _restart,
    S.BadInput: _bad_input,
    S.StuckApp: lambda ev, name, pick, t, _rejects: _stuck_app(ev, name, pick, t),
    S.IssuerOutage: lambda ev, name, pick, t, _rejects: _failure_spike(ev, name, pick, t),
    S.NetworkTimeouts: lambda ev, name, pick, t, _rejects: _failure_spike(ev, name, pick, t),
    S.DuplicatedRefund: lambda ev, name, pick, t, _rejects: _duplicated_refund(ev, name, pick),
    S.LateSettlement: lambda ev, name, pick, t, _rejects: _late_settlement(ev, name, pick),
}


# ---------------------------------------------------------------- transaction faults
# Each store trades around the clock or not; a silence or a spike is only seen while it
# trades, and the plan does not know the wall-clock hour a run starts at, so these faults
# pick stores open around the clock (and the check uses the quietest hour of their week).


def _txn(pick: _Picker, name: str) -> S.TransactionsSpec:
    s = pick.scenario
    _need(s is not None and s.transactions is not None, name, "needs [transactions]")
    assert s is not None
    assert s.transactions is not None
    return s.transactions


def _store(pick: _Picker, site_id: str) -> StoreType:
    s = pick.scenario
    assert s is not None
    assert s.transactions is not None
    return store_type_of(site_id, s.seed, tuple(s.transactions.store_types))


def always_open(t: StoreType) -> bool:
    return all(spans == ((0, 24),) for spans in t.hours)


def quietest_rate(t: StoreType) -> float:
    """The lowest sales rate per hour of the store's week (0 when it ever closes)."""
    return min(t.peak * t.shape[h] * t.week[wd] if always_open(t) else 0.0
               for wd in range(7) for h in range(24))  # fmt: skip


def silent_after(t: Timing, tx: S.TransactionsSpec, store: StoreType) -> float:
    """A stuck app that lasts at least this long must page ``terminal_silent``: the floor or
    the time the expected sales take at the quietest hour, then a window and a judgement."""
    a = t.alerts
    rate = quietest_rate(store) * tx.scale / 3600.0
    quiet = a.silence_expected / rate if rate > 0 else float("inf")
    return max(a.silence_floor_s, quiet) + tx.window + a.poll_silence_s + max(5.0, t.interval)


def _open_sites(pick: _Picker, region: str | None) -> list[str]:
    return [s for s in pick.free_sites(region) if always_open(_store(pick, s))]


def _stuck_app(ev: S.StuckApp, name: str, pick: _Picker, t: Timing) -> list[Step]:
    tx = _txn(pick, name)
    pool = [
        g
        for g in pick.free_gateways(ev.region, lambda g: bool(g.terminals))
        if always_open(_store(pick, g.site_id))
    ]
    out: list[Step] = []
    for g in pick.sample(pool, ev.count, "store routers with PIN pads in 24/7 stores", name):
        need = silent_after(t, tx, _store(pick, g.site_id))
        _need(
            ev.hold >= need,
            name,
            f"hold {ev.hold:g}s is shorter than a silence takes to page with these settings "
            f"(~{need:.0f}s: silence_floor_s, the quietest hour's expected sales, the window "
            f"and poll_silence_s); make hold >= {need:.0f}s or raise [transactions] scale",
        )
        pick.taken.add(g.gateway_id)
        tid = pick.rng.choice(g.terminals).terminal_id
        mode = (("mode", "stuck"), ("share", 0.0))
        out.append(
            Step(
                ev.at,
                "txn_mode",
                (tid,),
                mode,
                (Mark(ev.fault, "terminal", tid, "terminal_silent"),),
                note=f"stuck_app: the payment app of {tid} hangs",
            )
        )
        out.append(
            Step(
                ev.at + ev.hold,
                "txn_mode",
                (tid,),
                (("mode", "normal"), ("share", 0.0)),
                (Mark(ev.fault, "terminal", tid, end=True),),
            )
        )
    return out


def _failure_spike(
    ev: S.IssuerOutage | S.NetworkTimeouts, name: str, pick: _Picker, t: Timing
) -> list[Step]:
    _txn(pick, name)
    sites = sorted(pick.sample(_open_sites(pick, ev.region), ev.count, "24/7 stores", name))
    pick.take_sites(sites)
    out: list[Step] = []
    for site in sites:
        devices = tuple(d for g in pick.by_site[site] for d in _devices(g))
        out.append(
            Step(
                ev.at,
                "txn_mode",
                devices,
                (("mode", ev.fault), ("share", ev.share)),
                (Mark(ev.fault, "site", site, "txn_failure_spike"),),
                note=f"{ev.fault} at {site} ({len(devices)} payment devices)",
            )
        )
        out.append(
            Step(
                ev.at + ev.hold,
                "txn_mode",
                devices,
                (("mode", "normal"), ("share", 0.0)),
                (Mark(ev.fault, "site", site, end=True),),
            )
        )
    return out


def _devices(g: GatewaySpec) -> tuple[str, ...]:
    """The payment devices of a gateway: its PIN pads, or itself (an all-in-one POS)."""
    return tuple(t.terminal_id for t in g.terminals) or (g.gateway_id,)


def _duplicated_refund(ev: S.DuplicatedRefund, name: str, pick: _Picker) -> list[Step]:
    tx = _txn(pick, name)
    # A store that closes a batch every day (a restaurant closed on Mondays may not have one).
    pool = [g for g in pick.free_gateways(ev.region) if all(_store(pick, g.site_id).hours)]
    out: list[Step] = []
    for g in pick.sample(pool, ev.count, "gateways of stores open every day", name):
        pick.taken.add(g.gateway_id)
        device = pick.rng.choice(_devices(g))
        out.append(
            Step(
                tx.settlement_at,
                "settlement_fault",
                (device,),
                (("day", ev.day), ("kind", "duplicated_refund")),
                # The batch id is the business day's, known when the run starts: the runner
                # names the subject ``{device}/{batch}`` then.
                (Mark(ev.fault, "batch", device, "shortfall_mismatch", instant=True),),
                note=f"duplicated_refund: day {ev.day} of {device}",
            )
        )
    return out


def _late_settlement(ev: S.LateSettlement, name: str, pick: _Picker) -> list[Step]:
    tx = _txn(pick, name)
    day = f"day{ev.day}"
    return [
        Step(
            tx.settlement_at,
            "settlement_fault",
            (),
            (("day", ev.day), ("kind", "late_settlement")),
            (Mark(ev.fault, "settlement", day),),
            note=f"late_settlement: the file of day {ev.day} is late",
        ),
        Step(
            ev.at,
            "settlement",
            (),
            (("day", ev.day),),
            (Mark(ev.fault, "settlement", day, end=True),),
            note=f"the late settlement file of day {ev.day} arrives",
        ),
    ]


def settlement_steps(scenario: S.Scenario) -> list[Step]:
    """The on-time settlement files: one per business day, oldest first, except late ones."""
    tx = scenario.transactions
    if tx is None:
        return []
    late = {ev.day for ev in scenario.events if isinstance(ev, S.LateSettlement)}
    return [
        Step(
            tx.settlement_at, "settlement", (), (("day", -k),), note=f"settlement file of day {-k}"
        )
        for k in range(tx.settlement_days, 0, -1)
        if -k not in late
    ]


def _rollout(ev: S.FirmwareRollout, name: str, pick: _Picker, t: Timing) -> list[Step]:
    out: list[Step] = []
    models = sorted({g.model for g in pick.model.gateways})
    model = ev.model or pick.rng.choice(models)
    _need(model in models, name, f"model {model!r} is not in the fleet; use one of {models}")
    members = pick.free_gateways(ev.region, lambda g: g.model == model)
    _need(bool(members), name, f"no free gateway of model {model}")
    grace = t.alerts.planned_grace_s
    if ev.fail_share:
        _check_hold(ev.hold, "gateway_down", t, name)
    pick.rng.shuffle(members)
    final: dict[str, str] = {}  # what each member runs at the end of the rollout
    for i, g in enumerate(members):
        pick.taken.add(g.gateway_id)
        gid = g.gateway_id
        start = ev.at + ev.spread * i / len(members)
        roll = pick.rng.random()
        back = start + ev.reboot
        failed = roll < ev.fail_share
        ok = roll >= ev.fail_share + ev.rollback_share
        fault = "firmware_rollout" if ok or failed else "firmware_rollback"
        how = " (will fail)" if failed else "" if ok else " (rolls back)"
        final[gid] = ev.target if ok else g.firmware
        out.append(
            Step(
                start,
                "offline",
                (gid,),
                (("reason", "upgrade"),),
                (Mark(fault, "gateway", gid, instant=True),),
                note=f"rollout {gid} -> {ev.target}{how}",
            )
        )
        if failed:
            out.append(
                Step(
                    start + grace,
                    "mark",
                    (gid,),
                    truth=(Mark("firmware_rollout_failed", "gateway", gid, "gateway_down"),),
                )
            )
            out.append(
                Step(
                    start + grace + ev.hold,
                    "connect",
                    (gid,),
                    truth=(Mark("firmware_rollout_failed", "gateway", gid, end=True),),
                    note=f"{gid} replaced, back on {g.firmware}",
                )
            )
            continue
        if ok:
            out.append(Step(back, "firmware", (gid,), (("version", ev.target),)))
        out.append(Step(back, "connect", (gid,)))
    if ev.enforce_after is not None:
        when = ev.at + ev.enforce_after
        _need(
            when > max(s.at for s in out),
            name,
            "enforce_after must come after the last gateway is back (spread + reboot, and "
            "planned grace + hold for failures)",
        )
        behind = [
            g.gateway_id
            for g in pick.model.gateways
            if g.model == model and final.get(g.gateway_id, g.firmware) != ev.target
        ]
        out.append(
            Step(
                when,
                "policy",
                (model,),
                (("min_version", ev.target),),
                tuple(
                    Mark("firmware_behind_policy", "gateway", gid, "firmware_non_compliant")
                    for gid in behind
                ),
                note=f"policy: {model} >= {ev.target} ({len(behind)} gateways behind)",
            )
        )
    return out


def _window(ev: S.MaintenanceWindow, name: str, pick: _Picker, t: Timing) -> list[Step]:
    out: list[Step] = []
    _need(
        ev.lead >= t.alerts.poll_windows_s + 1,
        name,
        f"lead {ev.lead:g}s must exceed poll_windows_s ({t.alerts.poll_windows_s:g}s) + 1s: "
        "the collector must have read the window before the first reboot",
    )
    _need(
        ev.length >= ev.reboot + 2 * t.interval + 2,
        name,
        f"length {ev.length:g}s leaves no room for a {ev.reboot:g}s reboot inside it",
    )
    if ev.scope == "region":
        reg = ev.region or pick.rng.choice(pick.regions())
        sites = [s for s, r in sorted(pick.region.items()) if r == reg]
        busy = [s for s in sites if s not in pick.free_sites(reg)]
        _need(
            not busy,
            name,
            f"region {reg} is already taken by another region window ({len(busy)} stores); "
            "choose another region",
        )
        scopes = [("region", reg)]
    else:
        sites = sorted(pick.sample(pick.free_sites(ev.region), ev.count, "stores", name))
        scopes = [("site", s) for s in sites]
    pick.take_sites(sites)
    end = ev.at + ev.lead + ev.length
    for scope_type, scope_id in scopes:
        out.append(
            Step(
                ev.at,
                "window",
                (scope_id,),
                (("scope_type", scope_type), ("length", ev.lead + ev.length)),
                (Mark("maintenance_window", scope_type, scope_id, instant=True),),
                note=f"maintenance window on {scope_type} {scope_id}",
            )
        )
    gws = [g for s in sites for g in pick.by_site[s]]
    overrun = set(_gw_ids(pick.sample(gws, min(ev.overrun, len(gws)), "gateways", name)))
    latest = ev.length - ev.reboot - 2 * t.interval
    for g in gws:
        gid = g.gateway_id
        start = ev.at + ev.lead + pick.rng.uniform(0, latest)
        # Half are power-cycled without a goodbye; an overrun is one (a planned offline
        # would be covered by its planned grace after the window, too).
        hard = pick.rng.random() < 0.5 or gid in overrun
        op, args = ("kill", ()) if hard else ("offline", (("reason", "upgrade"),))
        out.append(Step(start, op, (gid,), args))
        if gid in overrun:
            out.append(
                Step(
                    end,
                    "mark",
                    (gid,),
                    truth=(Mark("maintenance_overrun", "gateway", gid, "gateway_down"),),
                )
            )
            out.append(
                Step(
                    end + ev.overrun_by,
                    "connect",
                    (gid,),
                    truth=(Mark("maintenance_overrun", "gateway", gid, end=True),),
                )
            )
        else:
            out.append(Step(start + ev.reboot, "connect", (gid,)))
    if overrun:
        _check_hold(ev.overrun_by, "gateway_down", t, name)
    return out
