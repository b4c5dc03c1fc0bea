"""The CI scenario: a fleet with several fault kinds through Mosquitto, the collector and the
alert engine; the scorecard against ground truth must show 0 missed, 0 false, 0 duplicate.

Timings are the production ones scaled down ~10x (heartbeat 2 s, pending delays 8/3/12 s,
faults held 30 s), keeping their order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.stack import fleet_stack, query
from support.wait import wait_for

from collector.main import Collector
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.scorecard import read_pages, read_truth, score
from telemetry.models import OfflineReason

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOLD_S = 30.0
MIN_DURATION = {"gateway_down": 15.0, "site_down": 10.0, "terminal_down": 20.0}


class Truth:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, fault: str, st: str, sid: str, expect: str | None, end: bool = False) -> None:
        now = datetime.now(UTC).isoformat()
        row = {"fault": f"{fault}_end" if end else fault, "subject_type": st, "subject_id": sid,
               "start": now, "end": now if end or expect is None else None,
               "expect_alert": None if end else expect}  # fmt: skip
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


@pytest.fixture
def stack(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FleetRunner, Collector]]:
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "8")
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_SITE_DOWN_S", "3")
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_TERMINAL_DOWN_S", "12")
    with fleet_stack(
        generate(150, seed=21), mosquitto, db_path, tmp_path, interval=2.0, grace_min_s=1.0
    ) as stack:
        yield stack


_q = query


def test_ci_scenario_scorecard_has_no_miss_no_false_page_no_duplicate(
    stack: tuple[FleetRunner, Collector], db_path: Path, tmp_path: Path
) -> None:
    runner, _collector = stack
    truth = Truth(tmp_path / "truth.jsonl")
    fleet = runner.fleet
    by_site: dict[str, list[str]] = {}
    for g in fleet.gateways.values():
        by_site.setdefault(g.spec.site_id, []).append(g.gateway_id)
    multi = next(s for s, gws in by_site.items() if len(gws) >= 3)
    singles = [gws[0] for gws in by_site.values() if len(gws) == 1]
    pads = [(g.gateway_id, g.spec.terminals[0].terminal_id) for g in fleet.gateways.values()
            if g.spec.terminals and g.spec.site_id != multi and g.gateway_id not in singles[:6]]  # fmt: skip
    killed, hung, bounced, upgraded = singles[0:2], singles[2:4], singles[4:6], singles[6:7]
    pad_gw, pad = pads[0]

    def act(fn: Callable[[Fleet], object]) -> None:
        runner.call(fn)

    for gid in killed:
        act(lambda f, g=gid: f.kill(g))
        truth.write("gateway_kill", "gateway", gid, "gateway_down")
    for gid in hung:
        act(lambda f, g=gid: f.hang(g))
        truth.write("gateway_hang", "gateway", gid, "gateway_down")
    for gid in by_site[multi]:
        act(lambda f, g=gid: f.kill(g))
    truth.write("site_outage", "site", multi, "site_down")
    act(lambda f: f.mute_terminal(pad_gw, pad))
    truth.write("pin_pad_unplugged", "terminal", pad, "terminal_down")
    for gid in bounced:  # reconnects and planned reboots must page nobody
        act(lambda f, g=gid: f.quick_reconnect(g))
        truth.write("quick_reconnect", "gateway", gid, None)
    for gid in upgraded:
        act(lambda f, g=gid: f.graceful_offline(g, OfflineReason.UPGRADE))
        truth.write("upgrade_reboot", "gateway", gid, None)

    started = time.monotonic()
    # Every expected page arrives (the scorecard judges which and how fast).
    wait_for(
        lambda: _q(db_path, "SELECT count(*) FROM alerts WHERE fired_at IS NOT NULL")[0][0] >= 6,
        HOLD_S,
        interval=0.5,
        what="the six expected pages",
    )
    # The upgraded gateway is back within its planned grace.
    act(lambda f: [f.connect(f.gateways[g]) for g in upgraded])
    truth.write("upgrade_reboot", "gateway", upgraded[0], None, end=True)
    remaining = HOLD_S - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)  # the faults last HOLD_S (a duration, not a synchronisation)
    for gid in killed:
        act(lambda f, g=gid: f.connect(f.gateways[g]))
        truth.write("gateway_kill", "gateway", gid, None, end=True)
    for gid in hung:
        act(lambda f, g=gid: f.unhang(g))
        truth.write("gateway_hang", "gateway", gid, None, end=True)
    for gid in by_site[multi]:
        act(lambda f, g=gid: f.connect(f.gateways[g]))
    truth.write("site_outage", "site", multi, None, end=True)
    act(lambda f: f.mute_terminal(pad_gw, pad, muted=False))
    truth.write("pin_pad_unplugged", "terminal", pad, None, end=True)
    wait_for(
        lambda: _q(db_path, "SELECT count(*) FROM alerts WHERE state != 'resolved' "
                   "AND kind IN ('gateway_down', 'site_down', 'terminal_down')") == [(0,)],
        40,
        interval=0.5,
        what="every outage alert resolved",
    )  # fmt: skip

    pages, site_of = read_pages(db_path)
    card = score(
        read_truth(truth.path), pages, site_of, until=datetime.now(UTC), min_duration=MIN_DURATION
    )
    summary = card.as_dict()
    assert summary["false"] == 0, summary
    for fault, s in card.by_fault.items():
        assert (s.missed, s.duplicate) == (0, 0), (fault, summary)
    for fault in ("gateway_kill", "gateway_hang", "site_outage", "pin_pad_unplugged"):
        assert card.by_fault[fault].detected == card.by_fault[fault].injected, summary
