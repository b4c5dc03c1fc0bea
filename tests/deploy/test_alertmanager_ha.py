"""The Alertmanager HA drill (docs/alerting.md "High availability"): two real Alertmanagers
clustered on loopback, one Prometheus (deploy/prometheus/prometheus-ha.yml, shipped rules)
sending to both, a stand-in posfleet_alert_firing exporter, and a webhook counting pages.

Claims: a clustered pair pages once; killing the sending node loses no page and duplicates at
most the one page it was sending; a restarted node rejoins without paging again. The
contrast (two Alertmanagers without the cluster page twice) shows that the counter counts and
that the cluster is what de-duplicates.

POSFLEET_AM_HA_DRILL_OUT=<file.json> writes the measured figures (docs/alerting.md quotes them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amcluster import (
    PROM_HA_CONFIG,
    TEST_CLUSTER_TIMINGS,
    ClusteredAlertmanager,
    ClusterTimings,
    HaStack,
)
from support.services import missing

from simulators.stack.prometheus import REPO, TEST_INTERVALS, find_program
from simulators.stack.wait import wait_for
from simulators.stack.webhook import Notification

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The short test intervals of promstack: pages, resolves and re-evaluations come quickly.
DRILL_INTERVALS = TEST_INTERVALS
# A page's way: scrape + eval + group_wait + peer_timeout (when the sender is gone) + margin.
PAGE_TIMEOUT = 40.0


def _need_services() -> None:
    if find_program("prometheus-alertmanager", "alertmanager") is None:
        missing("Alertmanager (Debian package prometheus-alertmanager)")
    if find_program("prometheus") is None:
        missing("Prometheus (Debian package prometheus)")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HaStack]:
    _need_services()
    with HaStack(tmp_path, DRILL_INTERVALS) as stack:
        wait_for(stack.cluster_ready, 60, interval=0.2, what="a settled two-node cluster")
        yield stack


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[HaStack]:
    _need_services()
    with HaStack(tmp_path, DRILL_INTERVALS, replicas=("a", "b")) as stack:
        wait_for(stack.cluster_ready, 60, interval=0.2, what="a settled two-node cluster")
        yield stack


@pytest.fixture
def unclustered(tmp_path: Path) -> Iterator[HaStack]:
    _need_services()
    with HaStack(tmp_path, DRILL_INTERVALS, clustered=False) as stack:
        yield stack


def _labels(n: int) -> dict[str, str]:
    # Each alert on its own site: its own Alertmanager group, its own page.
    return {
        "alertname": "gateway_down",
        "severity": "critical",
        "region": "north",
        "site": f"s-{n}",
        "gateway": f"gw-{n}",
        "terminal": "",
        "escalation": "1",
        "summary": f"Gateway gw-{n} down (will)",
        "since": "2026-11-30T09:00:00+00:00",
        "acquirer": "",
    }


def _fire(stack: HaStack, n: int) -> None:
    stack.exporter.firing.labels(**_labels(n)).set(1)


def _clear(stack: HaStack, n: int) -> None:
    stack.exporter.firing.remove(*_labels(n).values())


def _page(stack: HaStack, n: int, count: int = 1, status: str = "firing") -> list[Notification]:
    return wait_for(
        lambda: len(stack.pages(f"gw-{n}", status)) >= count and stack.pages(f"gw-{n}", status),
        PAGE_TIMEOUT,
        interval=0.05,
        what=f"{count} {status} page(s) for gw-{n}",
    )


def _holds(am: ClusteredAlertmanager, n: int) -> bool:
    return any(a["labels"].get("gateway") == f"gw-{n}" for a in am.alerts())


def _sent_by(n: Notification) -> int:
    # Each Alertmanager signs its posts with its external URL: by default the host name and
    # its listen port.
    return int(urllib.parse.urlsplit(n.body["externalURL"]).port or 0)


def _nflog_queries(am: ClusteredAlertmanager) -> float:
    return am.metric("alertmanager_nflog_queries_total")


def _decided_twice_more(am: ClusteredAlertmanager) -> None:
    """Wait until every aggregation group of ``am`` has flushed and consulted the
    notification log at least twice more: from then on, a page it was going to send (a
    duplicate, a repeat) has been sent."""
    groups = len(am.groups())
    start = _nflog_queries(am)
    # Each flush queries the log once per integration of the route (webhook + chat = 2).
    wait_for(
        lambda: _nflog_queries(am) >= start + 2 * 2 * groups,
        PAGE_TIMEOUT,
        interval=0.2,
        what=f"{am.url}: two more notification-log decisions per group",
    )


def _record(figures: dict[str, Any]) -> None:
    out = os.environ.get("POSFLEET_AM_HA_DRILL_OUT")
    if not out:
        return
    path = Path(out)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(figures)
    data["load_average"] = [round(x, 2) for x in os.getloadavg()]
    data["settings"] = {
        "intervals": vars(DRILL_INTERVALS),
        "cluster": vars(TEST_CLUSTER_TIMINGS),
        "prometheus_resend_delay": "1s",
    }
    data["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_shipped_prometheus_ha_config_passes_promtool_check() -> None:
    promtool = find_program("promtool")
    if promtool is None:
        missing("promtool (Debian package prometheus)")
    result = subprocess.run(
        [promtool, "check", "config", str(PROM_HA_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _unit_flags() -> dict[str, str]:
    unit = (REPO / "deploy" / "systemd" / "alertmanager-ha@.service").read_text()
    (start,) = re.findall(r"^ExecStart=((?:.*\\\n)*.*)$", unit, flags=re.M)
    flags = re.findall(r"(--[a-z.-]+)=(\S+)", start)
    return dict(flags)


def test_the_shipped_unit_uses_flags_this_alertmanager_knows_and_the_drill_uses_its_flags(
    tmp_path: Path,
) -> None:
    exe = find_program("prometheus-alertmanager", "alertmanager")
    if exe is None:
        missing("Alertmanager (Debian package prometheus-alertmanager)")
    shown = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30, check=False)
    help_text = shown.stdout + shown.stderr
    flags = _unit_flags()
    assert {"--cluster.listen-address", "--cluster.peer", "--cluster.peer-timeout"} <= set(flags)
    for flag in flags:
        assert f"{flag}=" in help_text, f"{flag} is not a flag of {exe}"
    # The drill runs the unit's cluster flags (its own timings, shorter) ...
    drill = ClusteredAlertmanager(tmp_path / "am.yml", tmp_path, 1, [2])
    drill_flags = {a.split("=", 1)[0] for a in drill.argv if a.startswith("--cluster.")}
    assert drill_flags == {f for f in flags if f.startswith("--cluster.")}
    # ... and the unit's values are the ones docs/alerting.md quotes as shipped.
    shipped = ClusterTimings()
    assert flags["--cluster.peer-timeout"] == shipped.peer_timeout
    assert flags["--cluster.gossip-interval"] == shipped.gossip_interval
    assert flags["--cluster.pushpull-interval"] == shipped.pushpull_interval
    assert flags["--cluster.reconnect-interval"] == shipped.reconnect_interval


def test_two_unclustered_alertmanagers_page_twice(unclustered: HaStack) -> None:
    # The contrast: the same Prometheus, the same two Alertmanagers, no gossip. Each one
    # pages on its own, so the webhook counts every page and the cluster is what de-duplicates.
    _fire(unclustered, 1)
    pages = _page(unclustered, 1, count=2)
    assert {p.path for p in pages} == {"/page/north-oncall"}
    for am in unclustered.alertmanagers:
        assert am.proc is not None
    assert len(unclustered.pages("gw-1")) == 2
    _record({"unclustered": {"pages": len(unclustered.pages("gw-1"))}})


def test_a_clustered_pair_pages_once_and_resolves_once(cluster: HaStack) -> None:
    _fire(cluster, 1)
    (page,) = _page(cluster, 1)
    assert page.path == "/page/north-oncall"
    # The second node has the alert too; give it two decisions, then count again.
    for am in cluster.members():
        assert _holds(am, 1)
        _decided_twice_more(am)
    assert len(cluster.pages("gw-1")) == 1

    _clear(cluster, 1)
    _page(cluster, 1, status="resolved")
    for am in cluster.members():
        _decided_twice_more(am)
    assert len(cluster.pages("gw-1", "resolved")) == 1
    assert len(cluster.pages("gw-1")) == 1
    _record(
        {
            "both_up": {
                "pages": len(cluster.pages("gw-1")),
                "resolves": len(cluster.pages("gw-1", "resolved")),
            }
        }
    )


def test_two_prometheus_replicas_make_one_alert_and_one_page(replicated: HaStack) -> None:
    # prometheus-ha.yml drops the replica label from alerts: both replicas' copies are the
    # same alert to Alertmanager. Kept, each page would list every alert twice.
    _fire(replicated, 1)
    for prom in replicated.prometheuses:
        wait_for(
            lambda p=prom: any(a["labels"].get("gateway") == "gw-1" for a in p.alerts()),
            PAGE_TIMEOUT,
            interval=0.2,
            what=f"{prom.url} evaluates gw-1 as firing",
        )
    (page,) = _page(replicated, 1)
    assert [a["labels"]["gateway"] for a in page.alerts] == ["gw-1"]
    assert "replica" not in page.alerts[0]["labels"]
    for am in replicated.members():
        assert len([a for a in am.alerts() if a["labels"].get("gateway") == "gw-1"]) == 1
        _decided_twice_more(am)
    assert len(replicated.pages("gw-1")) == 1
    _record({"two_prometheus_replicas": {"pages": len(replicated.pages("gw-1"))}})


def test_killing_the_sending_alertmanager_loses_no_page_and_duplicates_at_most_one(
    cluster: HaStack,
) -> None:
    sender, survivor = cluster.members()

    # 1. Paged before the kill, and gossiped (the survivor has decided on it since): never
    # paged again.
    _fire(cluster, 1)
    _page(cluster, 1)
    _decided_twice_more(survivor)

    # 2. The worst moment: the sender dies after its post reached the pager, before it could
    # record and gossip it. The survivor waits peer_timeout, finds no record, pages too.
    killed_at: list[float] = []

    def kill_sender_on_gw2(n: Notification) -> None:
        if not killed_at and any(a["labels"].get("gateway") == "gw-2" for a in n.alerts):
            sender.kill()
            killed_at.append(time.monotonic())

    cluster.webhook.before_reply = kill_sender_on_gw2
    _fire(cluster, 2)
    first, second = _page(cluster, 2, count=2)
    assert killed_at, "the sender was not the one that paged gw-2"
    assert _sent_by(first) == sender.port
    assert _sent_by(second) == survivor.port
    kill_to_next_delivery = second.received_at - killed_at[0]

    # 3. Fired after the kill: the survivor alone pages it, once.
    fired_at = time.monotonic()
    _fire(cluster, 3)
    (page3,) = _page(cluster, 3)
    fire_to_page_after_kill = page3.received_at - fired_at

    # 4. Every resolve is delivered, once.
    for n in (1, 2, 3):
        _clear(cluster, n)
    for n in (1, 2, 3):
        _page(cluster, n, status="resolved")
    _decided_twice_more(survivor)

    pages = {n: len(cluster.pages(f"gw-{n}")) for n in (1, 2, 3)}
    resolves = {n: len(cluster.pages(f"gw-{n}", "resolved")) for n in (1, 2, 3)}
    assert pages == {1: 1, 2: 2, 3: 1}, "only the page in flight at the kill may come twice"
    assert resolves == {1: 1, 2: 1, 3: 1}
    _record(
        {
            "kill_sender": {
                "pages_per_alert": pages,
                "resolves_per_alert": resolves,
                "duplicates": sum(c - 1 for c in pages.values()),
                "kill_to_next_delivery_s": round(kill_to_next_delivery, 2),
                "fire_to_page_after_kill_s": round(fire_to_page_after_kill, 2),
            }
        }
    )


def test_a_restarted_alertmanager_rejoins_without_paging_again(cluster: HaStack) -> None:
    sender, survivor = cluster.members()
    for n in (1, 2):
        _fire(cluster, n)
    for n in (1, 2):
        _page(cluster, n)

    # Kill once the survivor has decided on both pages: the sender's record had reached it
    # (killed sooner, inside the gossip round after a send, the page comes twice; the
    # previous test drills that).
    _decided_twice_more(survivor)
    sender.kill()
    _fire(cluster, 3)
    _page(cluster, 3)

    restarted_at = time.monotonic()
    sender.start()
    wait_for(cluster.cluster_ready, 60, interval=0.2, what="the restarted node rejoined")
    rejoin_s = time.monotonic() - restarted_at
    # It starts with no alerts; Prometheus re-sends them (resend-delay). Once it holds them
    # and has decided twice on each group, any page it was going to send has been sent.
    wait_for(
        lambda: all(_holds(sender, n) for n in (1, 2, 3)),
        PAGE_TIMEOUT,
        interval=0.2,
        what="Prometheus re-sent the firing alerts to the restarted node",
    )
    _decided_twice_more(sender)
    assert {n: len(cluster.pages(f"gw-{n}")) for n in (1, 2, 3)} == {1: 1, 2: 1, 3: 1}

    # And the pair de-duplicates again: a new alert pages once.
    _fire(cluster, 4)
    _page(cluster, 4)
    # The rejoined member sorts last: it is the one that would send a second copy.
    _decided_twice_more(sender)
    pages = {n: len(cluster.pages(f"gw-{n}")) for n in (1, 2, 3, 4)}
    assert pages == {1: 1, 2: 1, 3: 1, 4: 1}
    _record({"restart_rejoin": {"pages_per_alert": pages, "rejoin_s": round(rejoin_s, 2)}})
