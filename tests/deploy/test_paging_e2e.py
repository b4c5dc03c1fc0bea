"""End to end, on real processes: gateways -> Mosquitto -> posfleet-collector -> Prometheus
(shipped rules) -> Alertmanager (shipped routes, test intervals) -> webhook receiver.

One site (s-1) with two gateways: killing one pages once for that gateway, with the right
labels and runbook, and bringing it back delivers the resolved notification. Another site
(s-2) with three gateways in one process: killing the process is a store outage, and it
delivers one notification, not one per gateway. Both on the engine's shipped delays.

Page latency (issue #17): a single killed gateway pages within the 30 s budget scaled to the
test intervals, and a store whose gateways die one after another (as their keepalives expire
after a power cut) is exactly one notification for the store, its first gateway's page (the
store down is covered by it, never paged again), and one resolve when power is back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support.paging import for_site, paging_stack, wait_online

from simulators.broker import MosquittoProcess
from simulators.stack.paging import GatewaySpec
from simulators.stack.wait import wait_for
from simulators.stack.webhook import Notification

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATEWAYS = [
    GatewaySpec("gw-a1", "s-1", "north"),
    GatewaySpec("gw-a2", "s-1", "north"),
    GatewaySpec("gw-b1", "s-2", "north"),
    GatewaySpec("gw-b2", "s-2", "north"),
    GatewaySpec("gw-b3", "s-2", "north"),
]
# The engine's shipped pending delays (gateway 1 s, site 0 s): they are short enough for a
# test already. Only the terminal delay is shortened (no terminal here).
ENGINE_ENV = {"POSFLEET_ALERT_PENDING_TERMINAL_DOWN_S": "3"}
RUNBOOKS = "https://github.com/posfleet/posfleet/blob/main/docs/runbooks/"


def _is_page(n: Notification) -> bool:
    return n.path.startswith("/page/")


def _firing_alertnames(notes: list[Notification]) -> list[str]:
    return [a["labels"]["alertname"] for n in notes for a in n.alerts if a["status"] == "firing"]


def test_a_killed_gateway_pages_once_resolves_and_a_site_outage_pages_once(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    with paging_stack(mosquitto, tmp_path, GATEWAYS, ENGINE_ENV) as (stack, prom, hook):
        a1 = stack.start_gateways(["gw-a1"], session=1)
        stack.start_gateways(["gw-a2"], session=1)
        site2 = stack.start_gateways(["gw-b1", "gw-b2", "gw-b3"], session=1)
        wait_online(prom, 5)
        assert hook.received() == []

        # ---- one gateway dies: one page, right labels, runbook
        stack.kill(a1)
        (page,) = wait_for(lambda: hook.received(for_site("s-1", "firing")), 30, what="page")
        (alert,) = page.alerts
        labels = alert["labels"]
        assert labels["alertname"] == "PosfleetGatewayDown"
        assert (labels["region"], labels["site"], labels["gateway"]) == ("north", "s-1", "gw-a1")
        assert labels["severity"] == "critical"
        assert alert["annotations"]["runbook_url"] == RUNBOOKS + "gateway-down.md"
        assert "gw-a1" in alert["annotations"]["summary"]

        # ---- it comes back (new session): the resolved notification
        stack.start_gateways(["gw-a1"], session=2)
        (resolved,) = wait_for(
            lambda: hook.received(for_site("s-1", "resolved")), 30, what="resolved"
        )
        assert [a["labels"]["gateway"] for a in resolved.alerts] == ["gw-a1"]
        assert resolved.alerts[0]["status"] == "resolved"
        assert len(hook.received(for_site("s-1", "firing"))) == 1

        # ---- the store of site s-2 loses power: one notification for the site
        stack.kill(site2)
        (site_page,) = wait_for(
            lambda: hook.received(for_site("s-2", "firing")), 30, what="site page"
        )
        assert _firing_alertnames([site_page]) == ["PosfleetSiteDown"]
        assert site_page.alerts[0]["annotations"]["runbook_url"] == RUNBOOKS + "site-down.md"
        # Several group intervals later there is still exactly one page for s-2, and no
        # gateway of s-2 ever paged on its own.
        before = len(hook.received(_is_page))
        with pytest.raises(AssertionError):
            wait_for(lambda: len(hook.received(_is_page)) > before, 6, what="another page")
        s2 = [n for n in hook.received(_is_page) if n.group_labels.get("site") == "s-2"]
        assert len(s2) == 1
        assert "PosfleetGatewayDown" not in _firing_alertnames(s2)
        # gw-a1's outage and the site outage were the only firing pages of the whole run
        firing = hook.received(lambda n: _is_page(n) and n.status == "firing")
        assert len(firing) == 2, [n.body for n in firing]


# The budget: gateway death -> first notification <= 30 s with the recommended
# intervals (scrape 10 s + evaluation 10 s + group_wait 5 s = 25 s of it). What is left, 5 s,
# is the collector's share (will hold + engine pending + its ticks), the same whatever the
# intervals; with the test intervals the page must then land within 5 + 1 + 1 + 2 s.
COLLECTOR_SHARE_S = 30.0 - (10 + 10 + 5)
TEST_PAGE_BOUND_S = COLLECTOR_SHARE_S + 1 + 1 + 2
# A power cut: each gateway's will arrives when its own keepalive expires. Scaled down: a
# 6 s keepalive (wills up to 9 s apart), kills 4 s apart. The engine's store hold must
# cover the wills' spread plus the collector's 2 s will hold (the engine learns of each will
# 2 s after it arrived) and a tick: shipped 90 s >= 1.5 x 55 s + 2 s; here 9 + 2 + 1 s.
STORE_GAP_S = 4.0
LATENCY_ENV = {**ENGINE_ENV, "POSFLEET_ALERT_SITE_SPREAD_S": "12"}
LATENCY_GATEWAYS = [
    GatewaySpec("gw-c1", "s-3", "north"),
    GatewaySpec("gw-c2", "s-3", "north"),
    GatewaySpec("gw-d1", "s-4", "north"),
    GatewaySpec("gw-d2", "s-4", "north"),
    GatewaySpec("gw-d3", "s-4", "north"),
]


def _firing_of(notes: list[Notification]) -> list[tuple[str, str]]:
    return [
        (a["labels"]["alertname"], a["labels"].get("gateway", ""))
        for n in notes
        for a in n.alerts
        if a["status"] == "firing"
    ]


def test_a_killed_gateway_pages_within_budget_and_a_spread_store_outage_pages_once(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    with paging_stack(mosquitto, tmp_path, LATENCY_GATEWAYS, LATENCY_ENV) as (stack, prom, hook):
        procs = {
            g.gateway_id: stack.start_gateways([g.gateway_id], session=1) for g in LATENCY_GATEWAYS
        }
        wait_online(prom, 5)

        # ---- a single gateway dies: its page lands within the budget
        killed = time.monotonic()
        stack.kill(procs["gw-c1"])
        (page,) = wait_for(lambda: hook.received(for_site("s-3", "firing")), 60, what="page")
        assert _firing_of([page]) == [("PosfleetGatewayDown", "gw-c1")]
        took = page.received_at - killed
        assert took <= TEST_PAGE_BOUND_S, f"paged {took:.1f} s after the kill"

        # ---- the store s-4 loses power: its gateways' wills arrive one after another
        pace = threading.Event()
        kills: dict[str, float] = {}
        for gid in ("gw-d1", "gw-d2", "gw-d3"):
            kills[gid] = time.monotonic()
            stack.kill(procs[gid])
            if gid != "gw-d3":
                pace.wait(STORE_GAP_S)  # the scenario's pacing, not synchronisation

        def store_notes() -> list[Notification]:
            return hook.received(lambda n: n.group_labels.get("site") == "s-4")

        (first,) = wait_for(store_notes, 60, what="the store's first page")
        # The store is down (every gateway's will is in), and Prometheus has scraped that:
        # from here a site_down page would be on its way, within a few group intervals.
        wait_for(
            lambda: prom.query('posfleet_alerts{kind="site_down", state="firing"} == 1'),
            60,
            what="the store down in the collector, scraped by Prometheus",
        )
        with pytest.raises(AssertionError):
            wait_for(lambda: len(store_notes()) > 1, 8, what="another notification for s-4")
        # The first gateway could not be told from a single gateway's death: it paged, in
        # time, and its page is the store's one notification. Its siblings were held, then
        # covered by the store; the store, covered by that page, never paged (it is not in
        # /metrics as a paging series), so no promotion update reached the pager either.
        assert _firing_of([first]) == [("PosfleetGatewayDown", "gw-d1")]
        assert first.received_at - kills["gw-d1"] <= TEST_PAGE_BOUND_S
        assert store_notes() == [first]
        exported = [
            line
            for line in stack.metrics().splitlines()
            if line.startswith("posfleet_alert_firing{") and 'site="s-4"' in line
        ]
        assert len(exported) == 1, exported
        assert 'gateway="gw-d1"' in exported[0], exported

        # ---- power is back (the store's gateways together): one resolve, nothing else
        stack.start_gateways(["gw-d1", "gw-d2", "gw-d3"], session=2)
        (resolved,) = wait_for(
            lambda: hook.received(for_site("s-4", "resolved")), 60, what="store resolved"
        )
        assert [(a["labels"]["alertname"], a["status"]) for a in resolved.alerts] == [
            ("PosfleetGatewayDown", "resolved")
        ]
        with pytest.raises(AssertionError):
            wait_for(lambda: len(store_notes()) > 2, 6, what="a notification after the resolve")
        assert store_notes() == [first, resolved]
        assert not [
            line
            for line in stack.metrics().splitlines()
            if line.startswith("posfleet_alert_firing{") and 'site="s-4"' in line
        ]
