"""End to end, on real processes: gateways -> Mosquitto -> posfleet-collector -> Prometheus
(shipped rules) -> Alertmanager (shipped routes, test intervals) -> webhook receiver.

One site (s-1) with two gateways: killing one pages once for that gateway, with the right
labels and runbook, and bringing it back delivers the resolved notification. Another site
(s-2) with three gateways in one process: killing the process is a store outage, and it
delivers one notification, not one per gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from simulators.broker import MosquittoProcess
from simulators.stack.paging import GatewaySpec, PagingStack
from simulators.stack.prometheus import TEST_INTERVALS
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
# Short engine delays so the test runs in seconds; site shorter than gateway, as shipped,
# so a store outage is recognised as a site before any gateway could page.
ENGINE_ENV = {
    "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "3",
    "POSFLEET_ALERT_PENDING_SITE_DOWN_S": "1",
    "POSFLEET_ALERT_PENDING_TERMINAL_DOWN_S": "3",
}
RUNBOOKS = "https://github.com/posfleet/posfleet/blob/main/docs/runbooks/"


def _for_site(site: str, status: str) -> Callable[[Notification], bool]:
    def pred(n: Notification) -> bool:
        return (
            n.path == "/page/north-oncall"
            and n.group_labels.get("site") == site
            and n.status == status
        )

    return pred


def _is_page(n: Notification) -> bool:
    return n.path.startswith("/page/")


def _firing_alertnames(notes: list[Notification]) -> list[str]:
    return [a["labels"]["alertname"] for n in notes for a in n.alerts if a["status"] == "firing"]


def test_a_killed_gateway_pages_once_resolves_and_a_site_outage_pages_once(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    with PagingStack(
        workdir=tmp_path / "stack",
        broker_port=mosquitto.port,
        gateways=GATEWAYS,
        intervals=TEST_INTERVALS,
        heartbeat_interval=1.0,
        collector_env=ENGINE_ENV,
    ) as stack:
        assert stack.prometheus is not None
        prom = stack.prometheus
        hook = stack.webhook
        a1 = stack.start_gateways(["gw-a1"], session=1)
        stack.start_gateways(["gw-a2"], session=1)
        site2 = stack.start_gateways(["gw-b1", "gw-b2", "gw-b3"], session=1)
        wait_for(
            lambda: prom.query('sum(posfleet_gateways{status="online"}) == 5'),
            30,
            what="Prometheus to see 5 gateways online",
        )
        assert hook.received() == []

        # ---- one gateway dies: one page, right labels, runbook
        stack.kill(a1)
        (page,) = wait_for(lambda: hook.received(_for_site("s-1", "firing")), 30, what="page")
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
            lambda: hook.received(_for_site("s-1", "resolved")), 30, what="resolved"
        )
        assert [a["labels"]["gateway"] for a in resolved.alerts] == ["gw-a1"]
        assert resolved.alerts[0]["status"] == "resolved"
        assert len(hook.received(_for_site("s-1", "firing"))) == 1

        # ---- the store of site s-2 loses power: one notification for the site
        stack.kill(site2)
        (site_page,) = wait_for(
            lambda: hook.received(_for_site("s-2", "firing")), 30, what="site page"
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
