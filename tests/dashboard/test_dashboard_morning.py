"""The morning check on a store the real collector wrote: a simulated fleet through a real
Mosquitto into the collector; one store loses every gateway (a store row, its terminals
unknown) and one gateway of another store dies (a gateway row). What the page shows is
checked against the fleet model and what the test did, not against the page's own query."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest
from support.services import missing
from support.stack import fleet_stack, query

from collector.actions import Actor, Role, acknowledge_alert, snooze_alert
from collector.store.times import from_db, to_db
from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import SiteSpec, generate
from simulators.gateways import Fleet
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
OLGA = Actor("olga", Role.OPERATOR)
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Store:
    db: Path
    model: FleetModel
    dead_site: SiteSpec  # every gateway killed: one store row
    dead_gateways: list[str]
    killed: str  # one gateway of a store whose others are up: a gateway row
    killed_site: SiteSpec


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if find_mosquitto() is None:
        missing("mosquitto")
    work = tmp_path_factory.mktemp("morning-fleet")
    db = work / "posfleet.sqlite"
    model = generate(30, seed=5)
    per_site: dict[str, list[str]] = {}
    for g in model.gateways:
        per_site.setdefault(g.site_id, []).append(g.gateway_id)
    multi = [s for s in model.sites if len(per_site.get(s.site_id, [])) > 1]
    dead_site, killed_site = multi[0], multi[1]
    dead = per_site[dead_site.site_id]
    killed = per_site[killed_site.site_id][0]
    try:
        broker = MosquittoProcess(workdir=work / "mosquitto").start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "2")
        env.setenv("POSFLEET_ALERT_PENDING_SITE_DOWN_S", "2")
        try:
            with fleet_stack(
                model, broker, db, work, interval=1.0, online_timeout=60, grace_min_s=0.5
            ) as (runner, _collector):
                for gid in [*dead, killed]:
                    runner.call(partial(Fleet.kill, gateway_id=gid))
                wait_for(
                    lambda: (
                        query(
                            db,
                            "SELECT kind, subject_id FROM alerts WHERE state = 'firing' "
                            "AND kind IN ('site_down', 'gateway_down') AND subject_id IN (?, ?) "
                            "ORDER BY kind",
                            dead_site.site_id,
                            killed,
                        )
                        == [("gateway_down", killed), ("site_down", dead_site.site_id)]
                    ),
                    90,
                    what="the dead store and the killed gateway paged",
                )
        finally:
            broker.close()
    return Store(db, model, dead_site, dead, killed, killed_site)


@pytest.fixture
def db(store: Store, tmp_path: Path) -> Path:
    """A copy per test: the tests act on it."""
    copy = tmp_path / "posfleet.sqlite"
    src = sqlite3.connect(store.db)
    dst = sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return copy


def short(at: datetime, now: datetime, tz: ZoneInfo = UTC_ZONE) -> str:
    """The page's rule for a time (docs/dashboard.md): local HH:MM, with the day when it is
    not today's."""
    here, then = now.astimezone(tz), at.astimezone(tz)
    return f"{then:%H:%M}" if then.date() == here.date() else f"{then:%m-%d %H:%M}"


def since_of(db: Path, gateway_id: str) -> datetime:
    (since,) = (
        sqlite3.connect(db)
        .execute("SELECT status_since FROM gateways WHERE gateway_id = ?", (gateway_id,))
        .fetchone()
    )
    return from_db(since)


def morning(db: Path, now: datetime, monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    monkeypatch.setenv("POSFLEET_DB", str(db))
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(now))
    monkeypatch.setenv("POSFLEET_TZ", env.get("tz", "UTC"))
    monkeypatch.setenv("POSFLEET_LANG", env.get("lang", "en"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    at.switch_page("views/morning.py").run()
    assert not at.exception, at.exception
    return at


def rows(at: AppTest) -> list[dict[str, object]]:
    (table,) = at.dataframe
    out: list[dict[str, object]] = table.value.to_dict("records")
    return out


def tiles(at: AppTest) -> dict[str, str]:
    """count key -> (figure, colour) of the coloured tiles above the table."""
    import re

    body = next(h.proto.body for h in at.get("html") if "mc-tiles" in h.proto.body)
    return {
        key: (n, colour)
        for key, colour, n in re.findall(
            r'data-count="(\w+)" style="background:(#\w+)"><div class="mc-n">([\d,]+)</div>', body
        )
    }


def test_the_dead_store_and_the_dead_gateway_are_listed_store_first_with_merchant_and_since(
    store: Store, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = since_of(db, store.killed)
    now = since + timedelta(hours=2, minutes=5, seconds=30)
    at = morning(db, now, monkeypatch)
    got = rows(at)
    assert [r["what"] for r in got] == [
        f"Store down ({len(store.dead_gateways)}/{len(store.dead_gateways)} gateways)",
        f"gateway {store.killed}",
    ]
    dead, one = got
    assert dead["store"] == f"{store.dead_site.site_id} {store.dead_site.name}"
    assert dead["merchant"] == store.dead_site.merchant
    assert dead["phone"] == store.dead_site.merchant_contact
    assert one["store"] == f"{store.killed_site.site_id} {store.killed_site.name}"
    assert one["since"] == f"2 h 5 min · {short(since, now)}"
    assert one["cause"].startswith("fault")
    assert one["ack"] == ""
    assert dead["ack"] == ""
    # The counts: the terminals behind the dead gateways are unknown, not down nor online.
    behind = sum(
        len(g.terminals)
        for g in store.model.gateways
        if g.gateway_id in {*store.dead_gateways, store.killed}
    )
    figures = tiles(at)
    assert figures["stores_down"] == ("1", "#d62728")
    assert figures["gateways_down"] == (str(len(store.dead_gateways) + 1), "#d62728")
    assert figures["terminals_down"] == ("0", "#2ca02c")
    assert figures["terminals_unknown"] == (f"{behind:,}", "#7f7f7f")
    assert figures["paging"] == ("2", "#d62728")


def test_an_acknowledged_store_goes_below_the_unacknowledged_gateway_and_shows_who(
    store: Store, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sqlite3.connect(db)
    ids = [
        int(i)
        for (i,) in conn.execute(
            "SELECT id FROM alerts WHERE state = 'firing' AND site_id = ? AND inhibited_by IS NULL",
            (store.dead_site.site_id,),
        )
    ]
    now = since_of(db, store.killed) + timedelta(minutes=30)
    for alert_id in ids:
        acknowledge_alert(conn, OLGA, alert_id, "truck on its way", now - timedelta(minutes=3))
    conn.close()
    at = morning(db, now, monkeypatch)
    got = rows(at)
    assert got[0]["what"] == f"gateway {store.killed}"
    assert got[1]["store"] == f"{store.dead_site.site_id} {store.dead_site.name}"
    assert got[1]["ack"] == f"olga · {short(now - timedelta(minutes=3), now)}"
    assert tiles(at)["paging"] == ("1", "#d62728")


def test_a_snoozed_gateway_shows_snoozed_until_local_time_in_chinese_and_goes_last(
    store: Store, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = since_of(db, store.killed)
    now = since + timedelta(hours=3, minutes=7, seconds=10)
    until = (now + timedelta(hours=2)).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    conn = sqlite3.connect(db)
    (alert_id,) = conn.execute(
        "SELECT id FROM alerts WHERE kind = 'gateway_down' AND subject_id = ? AND state = 'firing'",
        (store.killed,),
    ).fetchone()
    snooze_alert(conn, OLGA, int(alert_id), until, now)
    conn.close()
    at = morning(db, now, monkeypatch, lang="zh-CN", tz="Asia/Shanghai")
    got = rows(at)
    assert got[0]["what"].startswith("门店离线")
    one = got[-1]
    assert one["what"] == f"网关 {store.killed}"
    assert one["since"] == f"3小时7分 · {short(since, now, SHANGHAI)}"
    assert (
        one["hold"] == f"暂缓至 {short(until, now, SHANGHAI)}\uff08olga\uff09"
    )  # full-width brackets
    # Once the snooze has passed it is back among the pages nobody is on, by itself.
    later = morning(db, until.astimezone(UTC) + timedelta(minutes=1), monkeypatch)
    back = [r for r in rows(later) if r["what"] == f"gateway {store.killed}"]
    assert back[0]["hold"] == ""
    assert tiles(later)["paging"] == ("2", "#d62728")
