"""The scenario file: a timeline of POS faults, in TOML (see docs/scenarios.md).

    name = "store-outage"
    seed = 7
    [fleet]
    gateways = 300
    heartbeat = "2s"
    [collector.alerts]          # POSFLEET_ALERT_* for the run's own collector
    pending_gateway_down_s = 8
    [[events]]
    at = "20s"
    fault = "site_power_outage"
    count = 2
    hold = "40s"

Durations are seconds (a number) or a string with a unit: "500ms", "90s", "2m", "1h".
Every event names its ``fault``; the other keys are that fault's parameters. Unknown keys
and unknown faults are errors that name the event, the key and the fix.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from telemetry.models import RECONNECT_MAX_DELAY_S, RECONNECT_MIN_DELAY_S

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """``30`` / ``"30s"`` / ``"2m"`` / ``"500ms"`` / ``"1h"`` / ``"14d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '90s' or '2m'")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration: use seconds (90) or '90s', '2m', '1h'")
    return float(m.group(1)) * _UNIT[m.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Event(_Strict):
    at: Duration  # seconds after the fleet is up and seen online
    count: Annotated[int, Field(ge=1)] = 1
    region: str | None = None  # only subjects of this region (default: any)


class SitePowerOutage(_Event):
    """Every gateway of a store dies at once (no goodbye): one page for the site."""

    fault: Literal["site_power_outage"]
    hold: Duration = 60.0
    min_gateways: Annotated[int, Field(ge=1)] = 1


class RegionalIspOutage(_Event):
    """A share of a region's stores lose their uplink together: each store pages once."""

    fault: Literal["regional_isp_outage"]
    hold: Duration = 60.0
    share: Share = 0.3  # of the region's stores (those on the failing ISP)


class FlappingLink(_Event):
    """A cellular uplink drops and comes back, again and again: one flapping alert, no
    down pages (each drop is shorter than the pending delay)."""

    fault: Literal["flapping_link"]
    cycles: Annotated[int, Field(ge=1)] = 4
    down: Duration = 3.0
    up: Duration = 8.0


class HungApp(_Event):
    """The payment app hangs: the connection lives on, heartbeats stop."""

    fault: Literal["hung_app"]
    hold: Duration = 60.0


class PinPadUnplugged(_Event):
    """A PIN pad behind a live store router goes silent."""

    fault: Literal["pin_pad_unplugged"]
    hold: Duration = 60.0


class FirmwareRollout(_Event):
    """Every gateway of a model upgrades (planned reboot) to ``target``, spread over
    ``spread``. ``fail_share`` never come back (bricked; page once the planned grace is
    over), ``rollback_share`` come back on their old version. With ``enforce_after`` the
    policy (minimum version = target) is set then, and what is not on target is
    non-compliant."""

    fault: Literal["firmware_rollout"]
    model: str | None = None  # default: a model of the fleet, chosen by the seed
    target: str = "9.9.0"
    spread: Duration = 30.0
    reboot: Duration = 10.0
    fail_share: Share = 0.1
    rollback_share: Share = 0.1
    hold: Duration = 120.0  # a bricked unit is replaced (back on its old version) after this
    enforce_after: Duration | None = None  # after ``at``


class ClockSkew(_Event):
    """A gateway's clock drifts (card transactions fail on wrong clocks)."""

    fault: Literal["clock_skew"]
    skew: Annotated[float, BeforeValidator(lambda v: _signed(v))] = 600.0
    hold: Duration = 60.0


def _signed(value: object) -> float:
    text = str(value).strip()
    if text.startswith("-"):
        return -parse_duration(text[1:])
    return parse_duration(text.removeprefix("+") if isinstance(value, str) else value)


class PrinterPaperOut(_Event):
    """An all-in-one POS runs out of receipt paper."""

    fault: Literal["printer_paper_out"]
    hold: Duration = 60.0
    report_every: Duration = 15.0


class BatteryDrain(_Event):
    """A portable POS off its charger drains until low, then goes back on the charger."""

    fault: Literal["battery_drain"]
    from_pct: Annotated[float, Field(gt=0, le=100)] = 30.0
    pct_per_min: Annotated[float, Field(gt=0)] = 20.0
    report_every: Duration = 10.0
    hold: Duration = 60.0  # low for this long before it is charged again


class MaintenanceWindow(_Event):
    """A window on ``count`` stores (or on ``region`` when ``scope = "region"``): their
    gateways reboot for upgrades inside it and nobody is paged. ``overrun`` gateways are
    still down when it ends: they fire once, as new, at the end."""

    fault: Literal["maintenance_window"]
    scope: Literal["site", "region"] = "site"
    length: Duration = 60.0
    lead: Duration = 8.0  # the window is created this long before the first reboot
    reboot: Duration = 20.0  # each gateway is down this long (longer than the pending delay)
    overrun: Annotated[int, Field(ge=0)] = 0
    overrun_by: Duration = 60.0


class BrokerRestart(_Event):
    """The MQTT broker stops and comes back: nobody is paged."""

    fault: Literal["broker_restart"]
    down: Duration = 5.0


class CollectorRestart(_Event):
    """The collector dies (``hard``: SIGKILL) or stops, and comes back: nobody is paged,
    alerts in progress do not page again."""

    fault: Literal["collector_restart"]
    down: Duration = 5.0
    hard: bool = True


BadInputKind = Literal[
    "malformed_json",
    "schema",
    "oversized",
    "unknown_topic",
    "gateway_mismatch",
    "non_finite",
    "future_timestamp",
    "stale_session",
]
BAD_INPUTS: tuple[str, ...] = get_args(BadInputKind)


class BadInput(_Event):
    """Malformed and spoofed messages: each is rejected and counted by reason, none pages,
    none changes a gateway's state. ``count`` of each kind."""

    fault: Literal["bad_input"]
    kinds: list[BadInputKind] = Field(default_factory=lambda: list(get_args(BadInputKind)))


class StuckApp(_Event):
    """A PIN pad's payment app hangs: the terminal beats on, takes no money and reports no
    transaction window: ``terminal_silent`` (needs ``[transactions]``)."""

    fault: Literal["stuck_app"]
    hold: Duration = 120.0


class IssuerOutage(_Event):
    """The issuer behind a store stops answering: most of its sales decline with ISO 91
    (class ``issuer_unavailable``): ``txn_failure_spike`` at the store."""

    fault: Literal["issuer_outage"]
    hold: Duration = 120.0
    share: Share = 0.6  # of the store's sale attempts that decline so


class NetworkTimeouts(_Event):
    """A store's uplink to the acquirer drops answers: most sales time out (68, no answer in
    time; outcome ``timed_out``): ``txn_failure_spike`` at the store."""

    fault: Literal["network_timeouts"]
    hold: Duration = 120.0
    share: Share = 0.5


class DuplicatedRefund(_Event):
    """The acquirer books a refund of a terminal twice: the day's settlement file settles
    its batch one transaction more and short by the refund: a ``mismatch`` shortfall case."""

    fault: Literal["duplicated_refund"]
    day: Annotated[int, Field(le=-1)] = -1  # business day: -1 the last settled day


class LateSettlement(_Event):
    """The settlement file of one business day arrives at ``at`` instead of with the others
    (``[transactions] settlement_at``): no case before it, nothing open after it."""

    fault: Literal["late_settlement"]
    day: Annotated[int, Field(le=-1)] = -2


EventSpec = Annotated[
    SitePowerOutage
    | RegionalIspOutage
    | FlappingLink
    | HungApp
    | PinPadUnplugged
    | FirmwareRollout
    | ClockSkew
    | PrinterPaperOut
    | BatteryDrain
    | MaintenanceWindow
    | BrokerRestart
    | CollectorRestart
    | BadInput
    | StuckApp
    | IssuerOutage
    | NetworkTimeouts
    | DuplicatedRefund
    | LateSettlement,
    Field(discriminator="fault"),
]

FAULTS = (
    "site_power_outage",
    "regional_isp_outage",
    "flapping_link",
    "hung_app",
    "pin_pad_unplugged",
    "firmware_rollout",
    "clock_skew",
    "printer_paper_out",
    "battery_drain",
    "maintenance_window",
    "broker_restart",
    "collector_restart",
    "bad_input",
)
# Faults of transaction health (docs/scenarios.md, "Transaction faults"): they need a
# scenario with ``[transactions]``.
TXN_FAULTS = (
    "stuck_app",
    "issuer_outage",
    "network_timeouts",
    "duplicated_refund",
    "late_settlement",
)


class FleetSpec(_Strict):
    gateways: Annotated[int, Field(ge=1, le=20_000)] = 300
    heartbeat: Duration = 5.0
    keepalive: Annotated[int, Field(ge=2)] = 10
    # The agents' reconnect backoff after the broker goes away (exponential, full jitter):
    # the agent's own bounds unless a scenario scales them. The run's collector is told the
    # same cap (POSFLEET_AGENT_RECONNECT_MAX_S) unless [collector.settings] says otherwise.
    reconnect_min: Annotated[float, BeforeValidator(parse_duration), Field(gt=0)] = (
        RECONNECT_MIN_DELAY_S
    )
    reconnect_max: Annotated[float, BeforeValidator(parse_duration), Field(gt=0)] = (
        RECONNECT_MAX_DELAY_S
    )


class CollectorSpec(_Strict):
    """Overrides for the run's collector: ``settings`` are POSFLEET_<NAME>, ``alerts``
    POSFLEET_ALERT_<NAME> (see docs/collector.md and docs/alerts.md)."""

    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    alerts: dict[str, str | int | float | bool] = Field(default_factory=dict)


StoreTypeName = Literal["supermarket", "restaurant", "convenience", "boutique"]


class TransactionsSpec(_Strict):
    """The fleet's payment devices report transaction windows (simulators/txnmodel.py).
    ``scale`` multiplies every store's sales rate (a compressed scenario needs busy
    terminals to see a silence in seconds); ``history`` of windows is published first, as
    historical, so the collector's baselines exist before the timeline starts."""

    window: Annotated[float, BeforeValidator(parse_duration), Field(gt=0)] = 1200.0
    scale: Annotated[float, Field(gt=0, le=10_000)] = 1.0
    store_types: list[StoreTypeName] = Field(
        default_factory=lambda: list(get_args(StoreTypeName)), min_length=1
    )
    history: Duration = 14 * 86400.0
    history_window: Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=86400)] = (
        3600.0
    )
    settlement_days: Annotated[int, Field(ge=0, le=13)] = 2  # files for the last N days
    settlement_at: Duration = 10.0  # when the on-time files are dropped


class Scenario(_Strict):
    name: str
    description: str = ""
    seed: int = 1
    settle: Duration = 30.0  # after the last event, before the scorecard
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    collector: CollectorSpec = Field(default_factory=CollectorSpec)
    transactions: TransactionsSpec | None = None
    events: list[EventSpec] = Field(default_factory=list)


class ScenarioError(ValueError):
    """A bad scenario file; the message names the file, the event and the key."""


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
        events = data.get("events") or []
        ev = events[loc[1]] if loc[1] < len(events) else {}
        fault = ev.get("fault", "?") if isinstance(ev, dict) else "?"
        rest = [str(x) for x in loc[2:] if x != fault]
        return f"events[{loc[1]}] ({fault})" + (f" key {'.'.join(rest)}" if rest else "")
    return "key " + ".".join(str(x) for x in loc)


def load(path: Path) -> Scenario:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    return parse(data, str(path))


def parse(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "union_tag_invalid":
                msg = f"unknown fault; use one of: {', '.join(FAULTS + TXN_FAULTS)}"
            elif err["type"] == "extra_forbidden":
                msg = "unknown key for this fault (see docs/scenarios.md for its keys)"
            lines.append(f"  {_where(err['loc'], data)}: {msg}")
        raise ScenarioError(f"{source}: invalid scenario\n" + "\n".join(lines)) from exc
    _check_collector(scenario, source)
    _check_transactions(scenario, source)
    if scenario.fleet.reconnect_max < scenario.fleet.reconnect_min:
        raise ScenarioError(f"{source}: [fleet] reconnect_max must be >= reconnect_min")
    return scenario


def _check_transactions(s: Scenario, source: str) -> None:
    tx = s.transactions
    for i, ev in enumerate(s.events):
        if ev.fault not in TXN_FAULTS:
            continue
        where = f"{source}: events[{i}] ({ev.fault})"
        if tx is None:
            raise ScenarioError(f"{where}: needs a [transactions] table (docs/scenarios.md)")
        if isinstance(ev, DuplicatedRefund | LateSettlement) and -ev.day > tx.settlement_days:
            raise ScenarioError(
                f"{where}: day {ev.day} has no settlement file; [transactions] "
                f"settlement_days = {tx.settlement_days} covers days -1..-{tx.settlement_days}"
            )
        if isinstance(ev, LateSettlement) and ev.at <= tx.settlement_at:
            raise ScenarioError(
                f"{where}: at {ev.at:g}s is not late: make it later than [transactions] "
                f"settlement_at ({tx.settlement_at:g}s)"
            )


def _check_collector(s: Scenario, source: str) -> None:
    from collector.alerts.config import AlertSettings
    from collector.config import CollectorSettings

    for table, model in (("settings", CollectorSettings), ("alerts", AlertSettings)):
        known = set(model.model_fields)
        for name in getattr(s.collector, table):
            if name not in known:
                raise ScenarioError(
                    f"{source}: [collector.{table}] has no setting {name!r}; "
                    f"known: {', '.join(sorted(known))}"
                )
