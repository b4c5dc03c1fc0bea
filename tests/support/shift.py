"""A NOC shift in the browser, on a store the real collector wrote (issue #15, "Done when").

The store: a simulated fleet (``simulators.fleetmodel``, every store on Shanghai time) over
a real Mosquitto into a ``posfleet-collector`` subprocess; some gateways are killed (their
sockets die, the broker sends their wills) and paged; then fleet and collector stop and the
console is served on that file as an operator would start it, driven by Debian's Chromium.
Two users: the operator on shift, and the shift lead (an admin: policies are theirs), who
works in a browser of their own.

A shift is a list of steps, one function each (``STEPS``), run in order on one ``Shift``.
Every text a step looks for comes from the console's catalog (``dashboard.i18n``) in the
shift's language, so the zh-CN run checks the Chinese console. Each step checks what it
did twice: on the page, and in the store (or with the collector's own rule).

Used by tests/dashboard/test_shift.py (screenshots to a temporary directory) and by
``scripts/screenshots`` (``python -m support.shift --out docs/screenshots``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from collector.alerts.repository import load_windows
from collector.process import CollectorProcess
from collector.store import db as store_db
from collector.store.times import from_db, to_db
from dashboard.i18n import CATALOGS, translate
from dashboard.session import COOKIE
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.stack.wait import wait_for
from support.console import chromium, console_script, served

STORE_TZ = "Asia/Shanghai"
VIEWER_TZ = {"zh-CN": "Asia/Shanghai", "en": "UTC"}  # a NOC in China; one that reads UTC
GATEWAYS = 40
KILLED = 7  # gateway outages paged: more alerts than one page of the console shows
PAGE_SIZE = 5  # the console's smallest page
OPERATOR, PASSWORD = "olga", "correct horse battery"
ADMIN = "ada"  # the shift lead: firmware policies and maintenance schedules are admins' work
HEADER_H, ROW_H = 36, 76  # px: the morning check's grid header and rows (views/morning.py)
WAIT_MS = 60_000  # a page under load (2 cores shared by several test runs)


# ------------------------------------------------------------------ the store
@dataclass(frozen=True)
class FleetStore:
    db: Path
    model: FleetModel
    killed: tuple[str, ...]  # gateways killed, each at a store that keeps another one up

    def copy(self, to: Path) -> FleetStore:
        """The same store in another file (each shift writes to its own)."""
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.db, to)
        return FleetStore(to, self.model, self.killed)


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = store_db.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]
    finally:
        conn.close()


def build_store(work: Path, broker: MosquittoProcess) -> FleetStore:
    """Fleet -> ``broker`` -> collector subprocess -> ``work``/posfleet.sqlite; ``KILLED``
    gateways paged; then everything stopped (the collector closes its store cleanly)."""
    model = generate(GATEWAYS, seed=15, tz=STORE_TZ)
    per_site: dict[str, list[str]] = {}
    for g in model.gateways:
        per_site.setdefault(g.site_id, []).append(g.gateway_id)
    killed = tuple(ids[0] for ids in per_site.values() if len(ids) > 1)[:KILLED]
    assert len(killed) == KILLED, f"seed gives {len(killed)} stores with two gateways"
    db = work / "posfleet.sqlite"
    inventory = work / "inventory"
    model.export_inventory(inventory)
    collector = CollectorProcess(
        db,
        broker.port,
        inventory=inventory,
        env={"POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "2"},
        log_path=work / "collector.log",
    ).start()
    try:
        runner = FleetRunner(Fleet(model.gateways, "127.0.0.1", broker.port, interval=1.0))
        runner.start()
        try:
            runner.call(lambda f: f.connect_all(), timeout=120)
            n = len(model.gateways)
            wait_for(
                lambda: query(db, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)],
                90,
                interval=0.2,
                what=f"{n} gateways online",
            )
            for gw in killed:
                runner.call(partial(Fleet.kill, gateway_id=gw))
            firing = (
                "SELECT subject_id FROM alerts WHERE kind = 'gateway_down' AND state = 'firing'"
            )
            wait_for(
                lambda: {r[0] for r in query(db, firing)} == set(killed),
                90,
                interval=0.2,
                what=f"{KILLED} gateway outages paged",
            )
        finally:
            runner.stop()
    finally:
        collector.stop()
    exe = console_script()
    pw = work / "password"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    for name, role in ((OPERATOR, "operator"), (ADMIN, "admin")):
        subprocess.run(
            [exe, "add-user", "--db", str(db), name, "--role", role, "--password-file", str(pw)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return FleetStore(db, model, killed)


# ------------------------------------------------------------------ the console
@contextmanager
def console(db: Path, *, tz: str, now: datetime | None = None) -> Iterator[str]:
    """``posfleet-dashboard`` on a free port (its clock the real one, or pinned at ``now``);
    English by default, as deployed: the viewer picks zh-CN with ``?lang=``."""
    env = {
        **os.environ,
        "POSFLEET_DASHBOARD_PAGE_SIZE": str(PAGE_SIZE),
        "POSFLEET_DASHBOARD_REFRESH_S": "600",  # no refresh under the test's feet
        "POSFLEET_DASHBOARD_SECRET": "a secret for the shift test, 32+ characters",
        "POSFLEET_TZ": tz,
    }
    env.pop("POSFLEET_LANG", None)
    env.pop("POSFLEET_DASHBOARD_NOW", None)
    if now is not None:
        env["POSFLEET_DASHBOARD_NOW"] = to_db(now)
    with served(db, env, start_s=60, stop_s=20, what="the console") as url:
        yield url


# ------------------------------------------------------------------ a shift
@dataclass
class Shift:
    store: FleetStore
    browser: Any
    url: str
    lang: str
    shots: Path  # where the screenshots go
    page: Any = None
    lead: Any = None  # the shift lead's browser (an admin), once a step needs one
    done: dict[str, Any] = field(default_factory=dict)  # what earlier steps did

    @property
    def tz(self) -> str:
        return VIEWER_TZ[self.lang]

    def tr(self, msgid: str, **fields: Any) -> str:
        """``msgid`` as the console says it in this shift's language (in zh-CN, a message
        without a translation is an error here: the run would look for English and pass)."""
        assert self.lang == "en" or msgid in CATALOGS[self.lang], f"no {self.lang}: {msgid!r}"
        return translate(msgid, self.lang, **fields)

    def go(self, path: str, marker: str) -> None:
        sep = "&" if "?" in path else "?"
        lang = f"{sep}lang={self.lang}" if self.lang != "en" else ""
        self.page.goto(f"{self.url}/{path}{lang}")
        settled(self.page, marker)

    def shot(self, name: str, page: Any = None) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"shift-{name}.{self.lang}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)

    def sidebar(self) -> Any:
        return self.page.locator('[data-testid="stSidebar"]')

    def logged_in_text(self, name: str = OPERATOR, role: str = "operator") -> str:
        text = self.tr("Logged in: **{name}** ({role})", name=name, role=self.tr(role))
        return text.replace("**", "")

    def flash(self, action: str, page: Any = None) -> None:
        """Wait for the confirmation of an operator action (``dashboard.ui.act``)."""
        done = self.tr("{action}: done, recorded in the audit log.", action=self.tr(action))
        # The confirmation comes first in the run that shows it: wait for the run's end.
        settled(page or self.page, done)

    def db(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        return query(self.store.db, sql, *args)


def settled(page: Any, marker: str) -> None:
    """``marker`` shown and Streamlit done drawing (no script run, skeleton or stale element)."""
    page.get_by_text(marker).first.wait_for(timeout=WAIT_MS)
    page.wait_for_function(
        """() => document.querySelector(
                '[data-testid="stApp"][data-test-script-state="notRunning"]')
            && !document.querySelector('[data-testid="stSkeleton"]')
            && !document.querySelector('[data-stale="true"]')""",
        timeout=WAIT_MS,
    )
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, (
        page.url,
        [errors.nth(i).inner_text() for i in range(errors.count())],
    )


def cell(page: Any, text: str, *, scroll_right: bool = False) -> Any:
    """A table cell. glide-data-grid draws on a canvas and keeps the cells it draws, the
    visible ones only, in a hidden table; ``scroll_right`` scrolls the grids to their last
    columns first, as a person would."""
    if scroll_right:
        page.wait_for_function("() => document.querySelector('[data-testid=stDataFrame] table')",
                               timeout=WAIT_MS)  # fmt: skip
        page.evaluate(
            "() => document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller')"
            ".forEach(e => { e.scrollLeft = e.scrollWidth; })"
        )
    return page.locator('[data-testid="stDataFrame"] td', has_text=text)


def metric(page: Any, label: str) -> str:
    """The value of the first metric labelled ``label`` exactly."""
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return str(box.first.get_by_test_id("stMetricValue").inner_text()).strip()


def _login_rows(s: Shift, actor: str = OPERATOR) -> int:
    return int(
        s.db("SELECT COUNT(*) FROM audit_log WHERE action = 'login' AND actor = ?", actor)[0][0]
    )


def active_alerts(s: Shift) -> int:
    """What the console calls active (firing or pending), counted in the store."""
    return int(s.db("SELECT COUNT(*) FROM alerts WHERE state IN ('firing', 'pending')")[0][0])


# ------------------------------------------------------------------ the steps
def _sign_in(s: Shift, page: Any, name: str, role: str) -> None:
    bar = page.locator('[data-testid="stSidebar"]')
    bar.get_by_label(s.tr("User"), exact=True).fill(name)
    bar.get_by_label(s.tr("Password"), exact=True).fill(PASSWORD)
    bar.get_by_role("button", name=s.tr("Log in")).click()
    bar.get_by_text(s.logged_in_text(name, role)).wait_for(timeout=WAIT_MS)
    # The sidebar says so before the end of the run hands the browser its session cookie
    # (``dashboard.ui._write_cookie``): a page opened before that would be logged out.
    page.wait_for_function(
        f"() => document.cookie.split('; ').some(c => c.startsWith('{COOKIE}='))",
        timeout=WAIT_MS,
    )
    assert _login_rows(s, name) == 1


def log_in(s: Shift) -> None:
    s.page = s.browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
    s.page.set_default_timeout(WAIT_MS)
    s.go("", s.tr("Regions at a glance"))
    _sign_in(s, s.page, OPERATOR, "operator")


def _morning_rows(s: Shift, n: int) -> list[str]:
    """The morning check's rows as the grid draws them (top first), once it draws ``n``."""
    js = """() => Array.from(document.querySelectorAll(
            '[data-testid="stDataFrame"] table tbody tr[aria-rowindex]'))
        .sort((a, b) => a.getAttribute('aria-rowindex') - b.getAttribute('aria-rowindex'))
        .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent).join(' | '))"""
    s.page.wait_for_function(f"() => ({js})().length === {n}", timeout=WAIT_MS)
    return [str(r) for r in s.page.evaluate(js)]


def _tile(s: Shift, key: str) -> int:
    return int(s.page.locator(f'.mc-tile[data-count="{key}"] .mc-n').inner_text().replace(",", ""))


def _down_gateways(s: Shift) -> list[str]:
    """The store's down gateways, longest down first (the order within one urgency)."""
    rows = s.db("SELECT gateway_id FROM gateways WHERE status = 'down' AND registered = 1 "
                "AND decommissioned = 0 ORDER BY status_since, gateway_id")  # fmt: skip
    return [r[0] for r in rows]


def _what(s: Shift, gateway: str) -> str:
    return f"{s.tr('gateway')} {gateway}"


def _select_rows(s: Shift, rows: tuple[int, ...]) -> None:
    """Tick rows by their checkbox at the grid's left edge (a canvas: by position)."""
    box = s.page.get_by_test_id("stDataFrame").bounding_box()
    for n, row in enumerate(rows, 1):
        s.page.mouse.click(box["x"] + 17, box["y"] + HEADER_H + ROW_H * row + ROW_H / 2)
        s.page.get_by_text(s.tr("{n} rows selected ({alerts} alerts).", n=n, alerts=n)).wait_for(
            timeout=WAIT_MS
        )


def morning_check(s: Shift) -> None:
    """What is down in the store the collector wrote, on one screen, most urgent first."""
    s.go("morning", s.tr("Morning check"))
    settled(s.page, s.tr("Select rows (left edge of the table) to acknowledge or snooze them."))
    down = _down_gateways(s)
    assert sorted(down) == sorted(s.store.killed)
    killed = ",".join("?" * len(down))
    paging = s.db(
        "SELECT COUNT(*) FROM alerts WHERE kind = 'gateway_down' AND state = 'firing' "
        "AND inhibited_by IS NULL AND fired_at IS NOT NULL AND acked_at IS NULL"
    )[0][0]
    assert paging == len(down)  # every outage pages, nobody on any: longest down first
    store = {
        "stores_down": s.db(
            "SELECT COUNT(*) FROM sites s WHERE EXISTS (SELECT 1 FROM gateways g WHERE "
            "g.site_id = s.site_id) AND NOT EXISTS (SELECT 1 FROM gateways g WHERE "
            "g.site_id = s.site_id AND g.status != 'down')"
        )[0][0],
        "gateways_down": len(down),
        "terminals_down": s.db(
            "SELECT COUNT(*) FROM terminals t JOIN gateways g ON g.gateway_id = t.gateway_id "
            f"WHERE t.status = 'down' AND g.gateway_id NOT IN ({killed})",
            *down,
        )[0][0],
        "terminals_unknown": sum(
            len(g.terminals) for g in s.store.model.gateways if g.gateway_id in set(down)
        ),
        "paging": paging,
    }
    assert {key: _tile(s, key) for key in store} == store
    rows = _morning_rows(s, len(down))
    for row, gateway in zip(rows, down, strict=True):
        assert _what(s, gateway) in row, (gateway, rows)
    # One screen at 1600 px: neither the page nor the table scrolls sideways.
    sizes = s.page.evaluate(
        """() => { const doc = document.documentElement;
            const grid = document.querySelector('[data-testid="stDataFrame"] .dvn-scroller');
            return [doc.scrollWidth, doc.clientWidth, grid.scrollWidth, grid.clientWidth]; }"""
    )
    assert sizes[0] <= sizes[1], sizes  # the page
    assert 0 < sizes[2] <= sizes[3], sizes  # the table's own
    s.done["morning"] = down
    s.shot("morning")


def bulk_ack(s: Shift) -> None:
    """The two most urgent rows ticked and acknowledged in one action, each audited."""
    down = s.done["morning"]
    _select_rows(s, (0, 1))
    note = {"zh-CN": "早班已接手", "en": "morning shift on it"}[s.lang]
    s.page.get_by_label(s.tr("Note (who is on it, what is known)")).fill(note)
    s.page.get_by_role("button", name=s.tr("Acknowledge selected")).click()
    s.flash("acknowledge alerts")
    settled(s.page, s.tr("Select rows (left edge of the table) to acknowledge or snooze them."))
    acked = s.db("SELECT subject_id, acked_by, ack_note FROM alerts WHERE acked_at IS NOT NULL "
                 "ORDER BY subject_id")  # fmt: skip
    assert acked == sorted((g, OPERATOR, note) for g in down[:2])
    audited = s.db("SELECT actor FROM audit_log WHERE action = 'alert.acknowledge'")
    assert audited == [(OPERATOR,), (OPERATOR,)]
    # Acknowledged, they make way for what nobody is on yet.
    assert _tile(s, "paging") == len(down) - 2
    rows = _morning_rows(s, len(down))
    for row, gateway in zip(rows, down[2:] + down[:2], strict=True):
        assert _what(s, gateway) in row, (gateway, rows)
    assert all(f"{OPERATOR} · " in row for row in rows[-2:]), rows


def _fill_when(s: Shift, at: datetime) -> None:
    """The snooze form's day and time (the viewer's clock), typed as a person would."""
    form = s.page.get_by_test_id("stForm").filter(
        has=s.page.get_by_role("button", name=s.tr("Snooze selected"))
    )
    # react-aria date and time fields: one spin button per segment, typing moves on.
    day = form.get_by_label(s.tr("Snooze until: day ({zone})", zone=s.tz), exact=True)
    day.get_by_role("spinbutton").first.click()
    s.page.keyboard.type(at.strftime("%Y%m%d"))
    segments = day.get_by_role("spinbutton")
    assert [segments.nth(i).get_attribute("aria-valuenow") for i in range(3)] == [
        str(at.year),
        str(at.month),
        str(at.day),
    ]
    clock = form.get_by_label(s.tr("time ({zone})", zone=s.tz), exact=True)
    clock.get_by_role("spinbutton").first.click()
    s.page.keyboard.type(at.strftime("%H%M"))
    segments = clock.get_by_role("spinbutton")
    assert [segments.nth(i).get_attribute("aria-valuenow") for i in range(2)] == [
        str(at.hour),
        str(at.minute),
    ]


def snooze(s: Shift) -> None:
    """The most urgent row snoozed until a time on the viewer's clock; a past time refused."""
    zone = ZoneInfo(s.tz)
    gateway = s.done["morning"][2]  # first row now: the longest down nobody is on
    _select_rows(s, (0,))
    here = datetime.now(zone).replace(second=0, microsecond=0)
    past = here - timedelta(hours=1, minutes=here.minute % 5)
    _fill_when(s, past)
    s.page.get_by_role("button", name=s.tr("Snooze selected")).click()
    refused = s.tr("Snooze until {time} is in the past: pick a later time.",
                   time=past.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    settled(s.page, refused)
    assert s.db("SELECT COUNT(*) FROM alerts WHERE snoozed_until IS NOT NULL") == [(0,)]
    until = here + timedelta(hours=2, minutes=5 - here.minute % 5)
    _fill_when(s, until)
    s.page.get_by_role("button", name=s.tr("Snooze selected")).click()
    s.flash("snooze alerts")
    stored = s.db("SELECT subject_id, snoozed_until, snoozed_by FROM alerts "
                  "WHERE snoozed_until IS NOT NULL")  # fmt: skip
    assert [(r[0], r[2]) for r in stored] == [(gateway, OPERATOR)]
    at = datetime.fromisoformat(stored[0][1])
    assert at.utcoffset() == timedelta(0), stored  # stored in UTC ...
    assert at == until, (stored, until.isoformat())  # ... the instant typed on the clock
    # Shown on the viewer's clock, last: it waits for its time.
    today = datetime.now(zone).date()
    shown = until.strftime("%H:%M" if until.date() == today else "%m-%d %H:%M")
    down = s.done["morning"]
    rows = _morning_rows(s, len(down))
    assert _what(s, gateway) in rows[-1], rows
    assert s.tr("snoozed until {time} ({who})", time=shown, who=OPERATOR) in rows[-1], rows
    assert _tile(s, "paging") == len(down) - 3
    s.done["snoozed"] = (gateway, until)
    s.shot("morning-acted")


def _lead(s: Shift, path: str, marker: str) -> Any:
    """The shift lead's browser (an admin), logged in once, at ``path``."""
    if s.lead is None:
        s.lead = s.browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
        s.lead.set_default_timeout(WAIT_MS)
        s.lead.goto(s.url + "/" + _lang_query(s, path))
        settled(s.lead, marker)
        _sign_in(s, s.lead, ADMIN, "admin")
    s.lead.goto(s.url + "/" + _lang_query(s, path))
    settled(s.lead, marker)
    return s.lead


def _lang_query(s: Shift, path: str) -> str:
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}lang={s.lang}" if s.lang != "en" else path


def _pick(page: Any, key: str, option: str) -> None:
    """Choose ``option`` in the select box of widget ``key``."""
    box = page.locator(f".st-key-{key} input")
    # Typed, as a person filters a long list: the list opens on typing and shows the match.
    box.click()
    box.press("ControlOrMeta+a")
    box.press("Backspace")
    box.press_sequentially(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_function("([el, v]) => el.value === v", arg=[box.element_handle(), option],
                           timeout=WAIT_MS)  # fmt: skip


def firmware_policy(s: Shift) -> None:
    """The lead sets a policy for a model the fleet has; the Firmware page shows its target."""
    model, version = s.db(
        "SELECT model, firmware_version FROM gateways WHERE COALESCE(firmware_version, '') "
        "!= '' GROUP BY model, firmware_version ORDER BY COUNT(*) DESC, model, firmware_version"
    )[0]
    page = _lead(s, "policies", s.tr("Firmware policies"))
    _pick(page, "fw_model", model)
    page.locator(".st-key-fw_target input").fill(version)
    page.locator(".st-key-fw_min input").fill(version)
    page.get_by_role("button", name=s.tr("Save firmware policy")).click()
    s.flash("set firmware policy", page)
    assert s.db("SELECT model, target_version, min_version, updated_by FROM firmware_policy") == [
        (model, version, version, ADMIN)
    ]
    expect(page.locator(".st-key-fw_target input")).to_have_value("", timeout=10_000)
    page = _lead(s, f"firmware?model={model}", s.tr("Rollout progress"))
    rollout = page.get_by_test_id("stDataFrame").first
    rollout.locator("td", has_text=model).first.wait_for(state="attached", timeout=WAIT_MS)
    assert rollout.locator("td").get_by_text(version, exact=True).count() == 1
    assert rollout.locator("td").get_by_text(s.tr("no policy"), exact=True).count() == 0
    s.shot("firmware", page)


def maintenance_schedule(s: Shift) -> None:
    """The lead sets a printer schedule every 30 days for a Shanghai store: stored, listed."""
    site = next(x.site_id for x in s.store.model.sites if x.tz == STORE_TZ)
    page = _lead(s, "policies", s.tr("Maintenance schedules"))
    _pick(page, "sc_task", s.tr("printer"))
    _pick(page, "sc_scope", s.tr("site"))
    page.locator(".st-key-sc_scope_id input").fill(site)
    every = page.locator(".st-key-sc_every input")
    every.fill("30")
    every.press("Tab")
    _pick(page, "sc_unit", s.tr("days"))
    page.get_by_role("button", name=s.tr("Save schedule")).click()
    s.flash("set maintenance schedule", page)
    stored = s.db("SELECT task_type, scope_type, scope_id, every_n, every_unit, updated_by "
                  "FROM maintenance_schedules")  # fmt: skip
    assert stored == [("printer", "site", site, 30, "days", ADMIN)]
    expect(page.locator(".st-key-sc_scope_id input")).to_have_value("", timeout=10_000)
    # A number box is set back too, not only forgotten: the browser would keep showing 30.
    expect(every).to_have_value("0", timeout=10_000)
    # Listed, in the viewer's language.
    cell(page, site).first.wait_for(state="attached", timeout=WAIT_MS)
    assert cell(page, site).count() == 1
    for word in ("printer", "site", "days"):
        assert (
            page.locator('[data-testid="stDataFrame"] td')
            .get_by_text(s.tr(word), exact=True)
            .count()
            == 1
        ), word
    s.shot("policies", page)


def overview(s: Shift) -> None:
    """Down counts from the fleet the test killed; PIN pads behind them unknown, not online."""
    s.go("", s.tr("Regions at a glance"))
    assert s.page.title() == s.tr("posfleet NOC")
    killed = set(s.store.killed)
    behind = sum(len(g.terminals) for g in s.store.model.gateways if g.gateway_id in killed)
    gateways = s.page.get_by_test_id("stMetric")
    assert gateways.count() >= 14  # gateways and terminals, a metric per status each
    assert metric(s.page, s.tr("down")) == str(len(killed))
    units = s.page.get_by_test_id("stMetric").filter(
        has=s.page.get_by_test_id("stMetricLabel").get_by_text(s.tr("unknown"), exact=True)
    )
    # The second "unknown": the terminals' row (no gateway is unknown here).
    assert units.nth(0).get_by_test_id("stMetricValue").inner_text().strip() == "0"
    assert units.nth(1).get_by_test_id("stMetricValue").inner_text().strip() == str(behind)
    s.shot("overview")


def acknowledge(s: Shift) -> None:
    total = active_alerts(s)
    assert total > PAGE_SIZE
    caption = s.tr(
        "{total} active alerts match; showing {shown} from #{first}",
        total=total,
        shown=PAGE_SIZE,
        first=1,
    )
    s.go("alerts", caption)
    note = {"zh-CN": "技术员已出发", "en": "technician on the way"}[s.lang]
    s.page.get_by_label(s.tr("Note (who is on it, what is known)")).fill(note)
    s.page.get_by_role("button", name=s.tr("Acknowledge"), exact=True).click()
    s.flash("acknowledge alert")
    expect(s.page.get_by_label(s.tr("Note (who is on it, what is known)"))).to_have_value(
        "", timeout=10_000
    )
    acked = s.db("SELECT id, acked_by, ack_note FROM alerts WHERE acked_at IS NOT NULL")
    assert [(r[1], r[2]) for r in acked if r[2] == note] == [(OPERATOR, note)]
    s.done["acked"] = next(r[0] for r in acked if r[2] == note)
    # The console: this one and the morning check's, by whom, with their notes.
    assert len(acked) == 3
    assert {r[1] for r in acked} == {OPERATOR}
    s.go("alerts?ack=acked", s.tr("{total} active alerts match; showing {shown} from #{first}",
                                  total=3, shown=3, first=1))  # fmt: skip
    cell(s.page, note, scroll_right=True).first.wait_for(state="attached", timeout=WAIT_MS)
    assert cell(s.page, note).count() == 1
    assert cell(s.page, OPERATOR).count() == 3
    s.shot("alerts-acknowledged")


def schedule_window(s: Shift) -> None:
    """Daily 02:00-04:00 store time for a Shanghai store, typed on the viewer's clock."""
    site = next(x for x in s.store.model.sites if x.tz == STORE_TZ)
    assert s.db("SELECT tz FROM sites WHERE site_id = ?", site.site_id) == [(STORE_TZ,)]
    s.go("maintenance", s.tr("Maintenance windows (active and upcoming)"))
    form = s.page.get_by_test_id("stForm").filter(
        has=s.page.get_by_role("button", name=s.tr("Schedule window"))
    )
    form.get_by_label(s.tr("Scope id"), exact=True).fill(site.site_id)
    time_box = form.get_by_label(s.tr("Start time ({zone})", zone=s.tz), exact=True)
    # A react-aria time field: one spin button per segment, typing moves to the next.
    time_box.get_by_role("spinbutton").first.click()
    s.page.keyboard.type("0200")
    form.get_by_label(s.tr("Recurrence (cron, optional)"), exact=True).fill("0 2 * * *")
    form.get_by_label(s.tr("Reason"), exact=True).fill("nightly restart")
    form.get_by_role("button", name=s.tr("Schedule window")).click()
    s.flash("create window")
    rows = s.db(
        "SELECT id, scope_type, scope_id, starts_at, ends_at, recurrence FROM maintenance_windows"
    )
    assert [r[1:3] + r[5:] for r in rows] == [("site", site.site_id, "0 2 * * *")]
    wid, starts = rows[0][0], from_db(rows[0][3])
    # The start typed at 02:00 on the viewer's clock, for two hours.
    assert starts.astimezone(ZoneInfo(s.tz)).strftime("%H:%M") == "02:00"
    assert from_db(rows[0][4]) - starts == timedelta(hours=2)
    s.done["window"] = (wid, site.site_id, starts)
    # The form is empty again, ready for the next window.
    expect(form.get_by_label(s.tr("Scope id"), exact=True)).to_have_value("", timeout=10_000)
    expect(form.get_by_label(s.tr("Reason"), exact=True)).to_have_value("", timeout=10_000)
    # The console says when it runs next: 02:00-04:00 in the store, on the viewer's clock.
    shanghai = ZoneInfo(STORE_TZ)
    local = max(datetime.now(UTC), starts).astimezone(shanghai)
    run = local.replace(hour=2, minute=0, second=0, microsecond=0)
    if local.hour >= 4:
        run += timedelta(days=1)
    shown = run.astimezone(ZoneInfo(s.tz)).strftime("%Y-%m-%d %H:%M")
    cell(s.page, "02:00-04:00", scroll_right=True).first.wait_for(state="attached", timeout=WAIT_MS)
    assert cell(s.page, STORE_TZ).count() == 1
    # The next run's cell; when the first run is still ahead (a shift between 00:00 and 02:00
    # in Shanghai) it is the window's start too, and the start's cell reads the same.
    first = starts.astimezone(ZoneInfo(s.tz)).strftime("%Y-%m-%d %H:%M")
    assert cell(s.page, shown).count() == (2 if shown == first else 1), (shown, first)
    s.shot("maintenance")
    _window_active_at_store_hours(s, wid, site.site_id, starts)


def _window_active_at_store_hours(s: Shift, wid: int, site_id: str, starts: datetime) -> None:
    """The collector's rule over the first two days, then the console at two instants."""
    shanghai = ZoneInfo(STORE_TZ)
    conn = store_db.connect(s.store.db)
    try:
        at = starts
        while at < starts + timedelta(days=2):
            windows = [w for w in load_windows(conn, at) if w.id == wid]
            local = at.astimezone(shanghai)
            expected = 2 <= local.hour < 4
            assert [w.active(at) for w in windows] == [expected], (to_db(at), local.isoformat())
            at += timedelta(minutes=30)
    finally:
        conn.close()

    # The console pinned at 02:30 and at 10:00 Shanghai, the first of each after the start:
    # the store's gateways are in maintenance at the first, back to their liveness after.
    # After the store was written too, so that what the page says happened is in its past.
    ref = max(starts, datetime.now(UTC))

    def first_after(hour: int, minute: int) -> datetime:
        local = ref.astimezone(shanghai).replace(hour=hour, minute=minute, second=0, microsecond=0)
        while local.astimezone(UTC) < ref:
            local += timedelta(days=1)
        return local.astimezone(UTC)

    gateway = next(g.gateway_id for g in s.store.model.gateways
                   if g.site_id == site_id and g.gateway_id not in s.store.killed)  # fmt: skip
    for at, expected in ((first_after(2, 30), "maintenance"), (first_after(10, 0), "online")):
        with console(s.store.db, tz=s.tz, now=at) as pinned:
            # A browser of its own: the shift's login cookie stays out of a console whose
            # clock is hours away (its 'last seen' would be moved into the future).
            page = s.browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
            page.set_default_timeout(WAIT_MS)
            lang = f"&lang={s.lang}" if s.lang != "en" else ""
            page.goto(f"{pinned}/detail?id={gateway}{lang}")
            settled(page, s.tr("Status timeline (30 days)"))
            assert metric(page, s.tr("Status")) == s.tr(expected), (to_db(at), expected)
            if expected == "maintenance":
                page.screenshot(
                    path=str(s.shots / f"shift-window-active.{s.lang}.png"), full_page=True
                )
            page.context.close()


def record_service(s: Shift) -> None:
    terminal = next(
        t.terminal_id
        for g in s.store.model.gateways
        if g.gateway_id not in s.store.killed
        for t in g.terminals
    )
    s.go(f"detail?id={terminal}", s.tr("Status timeline (30 days)"))
    form = s.page.get_by_test_id("stForm").filter(
        has=s.page.get_by_role("button", name=s.tr("Record service"))
    )
    # No fault category picked yet: said in the shift's language (not Streamlit's English).
    assert form.get_by_placeholder(s.tr("(not given)"), exact=True).count() == 1
    work = {"zh-CN": "更换打印头", "en": "printer head replaced"}[s.lang]
    form.get_by_label(s.tr("Work done"), exact=True).fill(work)
    form.get_by_role("button", name=s.tr("Record service")).click()
    s.flash("record service")
    expect(form.get_by_label(s.tr("Work done"), exact=True)).to_have_value("", timeout=10_000)
    assert s.db("SELECT subject_type, subject_id, performed_by, work FROM services") == [
        ("terminal", terminal, OPERATOR, work)
    ]
    cell(s.page, work).first.wait_for(state="attached", timeout=WAIT_MS)
    s.shot("detail")


def export_csv(s: Shift) -> None:
    """Every active alert, not the page of five the console shows."""
    total = active_alerts(s)
    caption = s.tr(
        "{total} active alerts match; showing {shown} from #{first}",
        total=total,
        shown=PAGE_SIZE,
        first=1,
    )
    s.go("alerts", caption)
    button = s.page.get_by_role("button", name=s.tr("Download all {name} (CSV)", name="alerts"))
    with s.page.expect_download(timeout=WAIT_MS) as got:
        button.click()
    path = got.value.path()
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert len(rows) == total > PAGE_SIZE
    ids = {int(r["id"]) for r in rows}
    store_ids = {r[0] for r in s.db("SELECT id FROM alerts WHERE state IN ('firing', 'pending')")}
    assert ids == store_ids


def reload_still_logged_in(s: Shift) -> None:
    s.page.reload()
    settled(s.page, s.tr("{total} active alerts match; showing {shown} from #{first}",
                         total=active_alerts(s), shown=PAGE_SIZE, first=1))  # fmt: skip
    s.sidebar().get_by_text(s.logged_in_text()).wait_for(timeout=WAIT_MS)
    assert s.sidebar().get_by_role("button", name=s.tr("Log in"), exact=True).count() == 0
    assert _login_rows(s) == 1  # one login for the whole shift, reloads included


STEPS: list[Callable[[Shift], None]] = [
    log_in,
    morning_check,
    bulk_ack,
    snooze,
    overview,
    acknowledge,
    schedule_window,
    firmware_policy,
    maintenance_schedule,
    record_service,
    export_csv,
    reload_still_logged_in,
]


def run_shift(store: FleetStore, browser: Any, lang: str, shots: Path) -> Shift:
    with console(store.db, tz=VIEWER_TZ[lang]) as url:
        s = Shift(store, browser, url, lang, shots)
        try:
            for step in STEPS:
                step(s)
        finally:
            for page in (s.page, s.lead):
                if page is not None:
                    page.context.close()
    return s


# ------------------------------------------------------------------ screenshots
def main(argv: list[str] | None = None) -> int:
    """Run the shift in both languages and keep its screenshots in ``--out``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="posfleet-shift-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(workdir=work / "mosquitto").start()
        try:
            store = build_store(work / "fleet", broker)
        finally:
            broker.close()
        with chromium() as browser:
            for lang in ("zh-CN", "en"):
                run_shift(store.copy(work / lang / "posfleet.sqlite"), browser, lang, args.out)
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
