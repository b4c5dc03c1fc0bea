"""The whole paging path on real processes for the deploy tests: gateways -> Mosquitto ->
posfleet-collector -> Prometheus (shipped rules) -> Alertmanager (shipped routes, test
intervals) -> webhook receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from simulators.broker import MosquittoProcess
from simulators.stack.paging import GatewaySpec, PagingStack
from simulators.stack.prometheus import TEST_INTERVALS, PrometheusProcess
from simulators.stack.wait import wait_for
from simulators.stack.webhook import Notification, WebhookReceiver


@contextmanager
def paging_stack(
    broker: MosquittoProcess, tmp: Path, gateways: list[GatewaySpec], env: dict[str, str]
) -> Iterator[tuple[PagingStack, PrometheusProcess, WebhookReceiver]]:
    """The stack in ``tmp``/stack on the test intervals, the collector run with ``env``, its
    gateways (none started) beating every second (PagingStack's default): the stack, its
    Prometheus and the webhook the pages land on."""
    stack = PagingStack(tmp / "stack", broker.port, gateways, TEST_INTERVALS, collector_env=env)
    with stack:
        assert stack.prometheus is not None
        yield stack, stack.prometheus, stack.webhook


def wait_online(prom: PrometheusProcess, n: int) -> None:
    """Until Prometheus has scraped ``n`` gateways online."""
    wait_for(
        lambda: prom.query(f'sum(posfleet_gateways{{status="online"}}) == {n}'),
        30,
        what=f"Prometheus to see {n} gateways online",
    )


def for_site(site: str, status: str) -> Callable[[Notification], bool]:
    """A page to the north region's on-call about ``site``, ``firing`` or ``resolved``."""
    page = ("/page/north-oncall", site, status)
    return lambda n: (n.path, n.group_labels.get("site"), n.status) == page
