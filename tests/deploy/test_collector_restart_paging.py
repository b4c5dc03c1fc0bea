"""A collector death in the middle of an outage, on real processes: gateways -> Mosquitto ->
posfleet-collector -> Prometheus (shipped rules) -> Alertmanager (shipped routes, test
intervals) -> webhook.

The gateway outage pages; the collector is SIGKILLed for longer than Prometheus needs to
resolve (and than PosfleetCollectorDown's 30 s hold, so that one pages), then restarted while
the gateway is still down. The outage must get no resolve and no second page; the collector's
own outage pages once and resolves once; when the gateway comes back, exactly one resolve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.paging import for_site, paging_stack, wait_online

from simulators.broker import MosquittoProcess
from simulators.stack.paging import GatewaySpec
from simulators.stack.prometheus import PrometheusProcess
from simulators.stack.wait import wait_for
from simulators.stack.webhook import Notification

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATEWAYS = [
    GatewaySpec("gw-a1", "s-1", "north"),
    # the store keeps one live gateway: gw-a1's death is a gateway outage, not a site's
    GatewaySpec("gw-a2", "s-1", "north"),
]
ENGINE_ENV = {
    "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "3",
    "POSFLEET_ALERT_PENDING_SITE_DOWN_S": "1",
}


def _collector_down(status: str) -> Callable[[Notification], bool]:
    def pred(n: Notification) -> bool:
        return (
            n.path == "/page/platform-oncall"
            and n.group_labels.get("alertname") == "PosfleetCollectorDown"
            and n.status == status
        )

    return pred


def _gateway_down_active_at(prom: PrometheusProcess) -> list[str]:
    return [
        a["activeAt"]
        for a in prom.alerts()
        if a["labels"]["alertname"] == "PosfleetGatewayDown" and a["state"] == "firing"
    ]


def test_an_outage_that_continues_across_a_collector_death_pages_once_and_resolves_once(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    with paging_stack(mosquitto, tmp_path, GATEWAYS, ENGINE_ENV) as (stack, prom, hook):
        a1 = stack.start_gateways(["gw-a1"], session=1)
        stack.start_gateways(["gw-a2"], session=1)
        wait_online(prom, 2)

        # ---- the gateway dies: one page
        stack.kill(a1)
        wait_for(lambda: hook.received(for_site("s-1", "firing")), 30, what="the gateway page")
        (active_at,) = _gateway_down_active_at(prom)

        # ---- the collector dies, long enough for its own alert to page
        stack.stop_collector(kill=True)
        wait_for(lambda: hook.received(_collector_down("firing")), 60, what="collector down page")
        # Prometheus saw the failed scrapes for 30 s and more: no resolve was sent, and the
        # outage is still the same firing alert
        assert prom.query('up{job="posfleet-collector"} == 0')
        assert hook.received(for_site("s-1", "resolved")) == []
        assert _gateway_down_active_at(prom) == [active_at]

        # ---- it comes back while the gateway is still down
        stack.start_collector()
        # its first /metrics (the earliest Prometheus can scrape it, whether or not it sees
        # the broker yet) already serves the outage from its store
        assert any(
            line.startswith("posfleet_alert_firing{")  # labels in name order: acquirer first
            and 'alertname="gateway_down"' in line
            and 'gateway="gw-a1"' in line
            for line in stack.metrics().splitlines()
        )
        wait_for(
            lambda: hook.received(_collector_down("resolved")),
            30,
            what="the collector-down resolve",
        )
        # Several scrape + evaluation + group_interval rounds after its return: still the
        # same alert, and nothing more was sent for the site.
        with pytest.raises(AssertionError):
            wait_for(
                lambda: (
                    len(hook.received(for_site("s-1", "firing"))) > 1
                    or hook.received(for_site("s-1", "resolved"))
                ),
                8,
                what="a second page or a resolve",
            )
        assert _gateway_down_active_at(prom) == [active_at]

        # ---- the gateway recovers: exactly one resolve, as fast as without the restart
        recovered = time.monotonic()
        stack.start_gateways(["gw-a1"], session=2)
        (resolved,) = wait_for(
            lambda: hook.received(for_site("s-1", "resolved")), 30, what="resolve"
        )
        assert [a["labels"]["gateway"] for a in resolved.alerts] == ["gw-a1"]
        assert resolved.received_at - recovered < 15
        assert len(hook.received(for_site("s-1", "firing"))) == 1
        assert len(hook.received(_collector_down("firing"))) == 1
        assert len(hook.received(_collector_down("resolved"))) == 1
