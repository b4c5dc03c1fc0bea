"""Shortfall cases (少刷钱) worked in Chromium, in zh-CN and English, on a store the real
collector wrote (tests/support/shift.py), with cases the real reconciler opened from a
settlement file against batches the collector's own transaction writer stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from support import shift
from support.cases import open_case

from collector.actions import Actor, Role, set_case_cause
from collector.store import db

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


FULL_WIDTH = "\uff11\uff12\uff13"  # 123 typed with a Chinese input method


@dataclass(frozen=True)
class Case:
    id: int
    terminal: str
    site: str
    short: int  # minor units: terminal - settled


@pytest.fixture
def cases(fleet_store: shift.FleetStore, tmp_path: Path) -> tuple[shift.FleetStore, list[Case]]:
    store = fleet_store.copy(tmp_path / "posfleet.sqlite")
    now = datetime.now(UTC)
    out = []
    gws = [g for g in store.model.gateways if g.terminals and g.gateway_id not in store.killed]
    # One opened two days ago (its first follow-up overdue), one today, larger; one in between,
    # smallest, not overdue yet.
    for g, batch, amount, settled, at in (
        (gws[0], "B-OLD", 500_000, "4980.00", now - timedelta(days=2)),
        (gws[1], "B-NEW", 1_234_567, "12000.00", now - timedelta(minutes=30)),
        (gws[2], "B-MID", 100_500, "1000.00", now - timedelta(hours=20)),
    ):
        t = g.terminals[0].terminal_id
        cid = open_case(store.db, g.gateway_id, t, batch, amount, settled, at)
        short = amount - int(settled.replace(".", ""))
        out.append(Case(cid, t, g.site_id, short))
    return store, out


LANGS = ["zh-CN", "en"]
RAW = ("open", "closed", "approved", "declined", "reversed", "timed_out", "duplicated_refund",
       "system_fault", "operator_error", "settlement_pending", "promised_callback", "no_answer",
       "case.call", "case.cause", "case.close")  # fmt: skip


@contextmanager
def shift_on(store: shift.FleetStore, browser: Any, lang: str, tmp: Path) -> Iterator[shift.Shift]:
    """The operator logged in on a console serving ``store`` (Shanghai time in zh-CN)."""
    with shift.console(store.db, tz=shift.VIEWER_TZ[lang]) as url:
        s = shift.Shift(store, browser, url, lang, tmp / "shots")
        shift.log_in(s)
        yield s


def grid_text(page: Any) -> list[str]:
    """Every header and cell the page's tables draw. glide-data-grid keeps the cells of a
    grid on screen in a hidden table: each grid is scrolled into view and read once drawn."""
    grids = page.get_by_test_id("stDataFrame")
    expect(grids.first).to_be_visible(timeout=shift.WAIT_MS)
    texts: list[str] = []
    for i in range(grids.count()):
        grid = grids.nth(i)
        grid.scroll_into_view_if_needed()
        expect(grid.locator("table tbody tr").first).to_be_attached(timeout=shift.WAIT_MS)
        texts += [str(x).strip() for x in grid.locator("table th, table td").all_inner_texts()]
    return texts


def no_raw_values(s: shift.Shift, texts: list[str]) -> None:
    """No stored value shown as it is stored (zh-CN: no English id either)."""
    leaks = [x for x in texts if any(r in x for r in RAW[5:])]
    if s.lang == "zh-CN":
        leaks += [x for x in texts if x in RAW[:5]]
    assert not leaks, (leaks, texts)


def form(page: Any, button: str) -> Any:
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name=button))


@pytest.mark.parametrize("lang", LANGS)
def test_a_case_is_read_and_worked_in_the_viewers_language(
    browser: Any, cases: Any, tmp_path: Path, lang: str
) -> None:
    store, made = cases
    case = made[0]
    with shift_on(store, browser, lang, tmp_path) as s:
        s.go("cases", s.tr("Shortfall cases"))
        texts = grid_text(s.page)
        no_raw_values(s, texts)
        assert s.tr("in progress") in texts, texts
        zone = shift.VIEWER_TZ[lang]
        # Times say their zone (the last column: the grid scrolled right, as a person would).
        shift.cell(s.page, "", scroll_right=True)
        header = s.page.locator('[data-testid="stDataFrame"] table th')
        expect(header.filter(has_text=s.tr("next follow-up ({zone})", zone=zone))).to_have_count(
            1, timeout=shift.WAIT_MS
        )
        s.go(f"cases?case={case.id}", s.tr("Evidence"))
        assert shift.metric(s.page, s.tr("Status")) == s.tr("in progress")
        texts = grid_text(s.page)
        no_raw_values(s, texts)
        # The batch closed on the store's clock (Shanghai), said so with its zone.
        (closed,) = s.db("SELECT closed_at_terminal FROM shortfall_cases WHERE id = ?", case.id)[0]
        store_clock = shift.from_db(closed).astimezone(ZoneInfo(shift.STORE_TZ))
        assert (
            store_clock.strftime("%Y-%m-%d %H:%M ")
            + s.tr("store time ({zone})", zone=shift.STORE_TZ)
            in texts
        ), texts
        (due,) = s.db("SELECT follow_up_due FROM shortfall_cases WHERE id = ?", case.id)[0]
        due_at = shift.from_db(due).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
        expect(s.page.get_by_test_id("stAlertContentWarning")).to_contain_text(f"{due_at} {zone}")
        for word in ("approved", "declined", "reversed", "timed out", "error"):
            assert s.tr(word) in texts, (word, texts)
        # The follow-up is typed on the viewer's clock, and says which.
        call = form(s.page, s.tr("Log the call"))
        expect(call.get_by_text(s.tr("Next follow-up, day ({zone})", zone=zone))).to_be_visible()
        # A call logged, the cause set: each confirmed in the viewer's language.
        call.get_by_label(s.tr("What was said")).fill(
            "商户说退款重复" if lang == "zh-CN" else "two refunds"
        )
        call.get_by_role("button", name=s.tr("Log the call")).click()
        s.flash("log a call")
        assert s.db("SELECT caller FROM case_calls") == [(shift.OPERATOR,)]
        shift._pick(s.page, "case_cause", s.tr("duplicated refund"))
        s.page.get_by_role("button", name=s.tr("Set the cause")).click()
        s.flash("set the cause of a case")
        assert s.db("SELECT cause FROM shortfall_cases WHERE id = ?", case.id) == [
            ("duplicated_refund",)
        ]
        assert shift.metric(s.page, s.tr("Cause")) == s.tr("duplicated refund")
        texts = grid_text(s.page)
        no_raw_values(s, texts)
        # The audit trail: who did what and when (the viewer's clock, the zone in the header).
        assert s.tr("when ({zone})", zone=zone) in texts, texts
        call_at, cause_at = (
            shift.from_db(at).astimezone(ZoneInfo(s.tz)).strftime("%Y-%m-%d %H:%M")
            for (at,) in s.db("SELECT at FROM audit_log WHERE subject = ? ORDER BY id",
                              f"case:{case.id}")
        )  # fmt: skip
        (follow,) = s.db("SELECT follow_up_due FROM shortfall_cases WHERE id = ?", case.id)[0]
        follow_at = shift.from_db(follow).astimezone(ZoneInfo(s.tz)).strftime("%Y-%m-%d %H:%M")
        expected = [
            [s.tr("opened from the settlement file {name}", name="settle-B-OLD.csv")],
            [call_at, shift.OPERATOR, s.tr(
                "{text}; next follow-up {at}", at=follow_at, text=s.tr(
                    "logged a call: {caller} called the {party}, {outcome}", caller=shift.OPERATOR,
                    party=s.tr("merchant"), outcome=s.tr("reached")))],
            [cause_at, shift.OPERATOR, s.tr("set the cause: {cause}", cause=s.tr("duplicated refund"))],
        ]  # fmt: skip
        for row in expected:
            assert all(x in texts for x in row), (row, texts)


def _fill_day(page: Any, form_box: Any, label: str, day: datetime) -> None:
    """A date field typed as a person would (react-aria: one spin button per segment)."""
    field = form_box.get_by_label(label, exact=True)
    field.get_by_role("spinbutton").first.click()
    page.keyboard.type(day.strftime("%Y%m%d"))
    segments = field.get_by_role("spinbutton")
    expect(segments.nth(2)).to_have_attribute("aria-valuenow", str(day.day))


def _stored_time(s: shift.Shift, column: str, case: Case) -> str:
    """A case's stored UTC time on the viewer's clock, to the minute."""
    (at,) = s.db(f"SELECT {column} FROM shortfall_cases WHERE id = ?", case.id)[0]
    return shift.from_db(at).astimezone(ZoneInfo(s.tz)).strftime("%Y-%m-%d %H:%M")


def _refused(s: shift.Shift, message: str) -> None:
    expect(s.page.get_by_test_id("stAlertContentError").filter(has_text=message)).to_be_visible(
        timeout=shift.WAIT_MS
    )


def _nothing_done(s: shift.Shift, case: Case) -> None:
    assert s.db("SELECT status, recovered_amount FROM shortfall_cases WHERE id = ?", case.id) == [
        ("open", None)
    ]
    assert s.db("SELECT COUNT(*) FROM case_calls") == [(0,)]
    assert s.db("SELECT COUNT(*) FROM audit_log WHERE subject = ?", f"case:{case.id}") == [(0,)]


@pytest.mark.parametrize("lang", LANGS)
def test_bad_input_in_the_case_forms_is_refused_in_the_viewers_language(
    browser: Any, cases: Any, tmp_path: Path, lang: str
) -> None:
    store, made = cases
    case = made[0]  # 20.00 CNY short
    with shift_on(store, browser, lang, tmp_path) as s:
        s.go(f"cases?case={case.id}", s.tr("Evidence"))
        close = form(s.page, s.tr("Close the case"))
        close.get_by_label(s.tr("How it was resolved")).fill("收单机构已补款")
        close.get_by_text(s.tr("Yes, close this case")).click()
        box = close.get_by_label(s.tr("Amount recovered ({currency}, e.g. 123.45)", currency="CNY"))
        for typed, message in (
            ("-5", s.tr("The amount recovered cannot be negative.")),
            ("20.01", s.tr("The amount recovered ({amount}) is more than the case's difference "
                           "({limit}).", amount="20.01 CNY", limit="20.00 CNY")),
            ("12,34", s.tr("Use a point for the decimals and no thousands separator (1234.56): "
                           "not {text}.", text="12,34")),
            (FULL_WIDTH, s.tr("Type the amount with half-width digits, as 123.45: {text} has "
                          "full-width ones.", text=FULL_WIDTH)),
            ("1.234", s.tr("{currency} has {n} decimals: {text} has more.", currency="CNY", n=2,
                           text="1.234")),
        ):  # fmt: skip
            box.fill(typed)
            close.get_by_role("button", name=s.tr("Close the case")).click()
            _refused(s, message)
            _nothing_done(s, case)
        call = form(s.page, s.tr("Log the call"))
        call.get_by_label(s.tr("Who called")).fill("")
        call.get_by_role("button", name=s.tr("Log the call")).click()
        _refused(s, s.tr("Say who called."))
        _nothing_done(s, case)
        call.get_by_label(s.tr("Who called")).fill("陈丽")
        yesterday = datetime.now(ZoneInfo(s.tz)) - timedelta(days=1)
        _fill_day(s.page, call, s.tr("Next follow-up, day ({zone})", zone=s.tz), yesterday)
        call.get_by_role("button", name=s.tr("Log the call")).click()
        past = yesterday.strftime("%Y-%m-%d") + " 10:00"
        _refused(s, s.tr("The next follow-up {time} is in the past: pick a later time.", time=past))
        _nothing_done(s, case)
        # Typed right: stored in fen, shown in yuan with the currency.
        box.fill("20.00")
        close.get_by_role("button", name=s.tr("Close the case")).click()
        s.flash("close a case")
        assert s.db(
            "SELECT status, closed_by, recovered_amount FROM shortfall_cases WHERE id = ?", case.id
        ) == [("closed", shift.OPERATOR, 2000)]
        assert shift.metric(s.page, s.tr("Status")) == s.tr("closed")
        done = s.tr("Closed by {who} at {at} {zone}: {how}; recovered {amount}.",
                    who=shift.OPERATOR, at=_stored_time(s, "closed_at", case), zone=s.tz,
                    how="收单机构已补款", amount="20.00 CNY")  # fmt: skip
        expect(s.page.get_by_test_id("stAlertContentSuccess").filter(has_text=done)).to_be_visible()
        closed = s.tr("closed the case: {how}; recovered {amount}", how="收单机构已补款",
                      amount="20.00 CNY")  # fmt: skip
        assert closed in grid_text(s.page)


def test_a_case_closed_or_changed_by_another_operator_is_not_overwritten(
    browser: Any, cases: Any, tmp_path: Path
) -> None:
    store, made = cases
    case = made[0]
    with shift_on(store, browser, "zh-CN", tmp_path) as s:
        path = f"cases?case={case.id}"
        s.go(path, s.tr("Evidence"))
        lead = shift._lead(s, path, s.tr("Evidence"))  # a second operator (ada), same case
        shift._pick(s.page, "case_cause", s.tr("operator error"))
        s.page.get_by_role("button", name=s.tr("Set the cause")).click()
        s.flash("set the cause of a case")
        # ada's page was drawn before olga's change: hers is refused, olga's stands.
        shift._pick(lead, "case_cause", s.tr("system fault"))
        lead.get_by_role("button", name=s.tr("Set the cause")).click()
        changed = s.tr(
            "Case {id} was changed by {who} at {at} after you opened it: check it below, "
            "then try again.", id=case.id, who=shift.OPERATOR, at=_stored_time(s, "updated_at", case),
        )  # fmt: skip
        expect(lead.get_by_test_id("stAlertContentError").filter(has_text=changed)).to_be_visible(
            timeout=shift.WAIT_MS
        )
        assert s.db("SELECT cause FROM shortfall_cases WHERE id = ?", case.id) == [
            ("operator_error",)
        ]
        close = form(s.page, s.tr("Close the case"))
        close.get_by_label(s.tr("How it was resolved")).fill("操作员重复退款\uff0c已追回")
        close.get_by_label(s.tr("Amount recovered ({currency}, e.g. 123.45)", currency="CNY")).fill(
            "20"
        )
        close.get_by_text(s.tr("Yes, close this case")).click()
        close.get_by_role("button", name=s.tr("Close the case")).click()
        s.flash("close a case")
        # ada closes it too, from her page: told who closed it, nothing written twice.
        other = form(lead, s.tr("Close the case"))
        other.get_by_label(s.tr("How it was resolved")).fill("已处理")
        other.get_by_label(s.tr("Amount recovered ({currency}, e.g. 123.45)", currency="CNY")).fill(
            "0"
        )
        other.get_by_text(s.tr("Yes, close this case")).click()
        other.get_by_role("button", name=s.tr("Close the case")).click()
        closed = s.tr("Case {id} was closed by {who} at {at}: nothing more to do on it.",
                      id=case.id, who=shift.OPERATOR, at=_stored_time(s, "closed_at", case))  # fmt: skip
        # (her form goes with the open case: the page says why, and who closed it)
        expect(lead.get_by_test_id("stAlertContentWarning").filter(has_text=closed)).to_be_visible(
            timeout=shift.WAIT_MS
        )
        assert s.db(
            "SELECT actor, action FROM audit_log WHERE subject = ? ORDER BY id", f"case:{case.id}"
        ) == [(shift.OPERATOR, "case.cause"), (shift.OPERATOR, "case.close")]
        assert s.db("SELECT closed_by, recovered_amount FROM shortfall_cases WHERE id = ?",
                    case.id) == [(shift.OPERATOR, 2000)]  # fmt: skip
        # The Audit log page says the same in words: the amount in yuan, not the stored fen.
        s.go("audit", s.tr("Audit log"))
        texts = grid_text(s.page)
        for said in (
            s.tr("closed the case: {how}; recovered {amount}", how="操作员重复退款\uff0c已追回",
                 amount="20.00 CNY"),
            s.tr("set the cause: {cause}", cause=s.tr("operator error")),
            s.tr("Log in"),
        ):  # fmt: skip
            assert said in texts, (said, texts)


def _ids(page: Any, expected: list[int]) -> None:
    """The case list's rows, top first, are these cases (the hidden table holds the links)."""
    first = page.locator('[data-testid="stDataFrame"] table tbody tr td:first-child')
    expect(first).to_have_text([f"/cases?case={i}" for i in expected], timeout=shift.WAIT_MS)


@pytest.mark.parametrize("lang", LANGS)
def test_the_case_list_filters_sorts_and_finds_overdue_follow_ups_first(
    browser: Any, cases: Any, tmp_path: Path, lang: str
) -> None:
    store, made = cases
    overdue, big, small = made  # 20.00 overdue; 345.67 newest; 5.00 in between
    conn = db.connect(store.db)
    try:
        set_case_cause(conn, Actor("chen.li", Role.OPERATOR), big.id, "system_fault",
                       datetime.now(UTC))  # fmt: skip
    finally:
        conn.close()
    with shift_on(store, browser, lang, tmp_path) as s:
        s.go("cases", s.tr("Shortfall cases"))
        _ids(s.page, [overdue.id, big.id, small.id])  # overdue first, then the largest
        assert shift.metric(s.page, s.tr("Follow-up overdue")) == "1"
        for order, ids in (
            ("largest amount first", [big.id, overdue.id, small.id]),
            ("oldest first", [overdue.id, small.id, big.id]),
            ("newest first", [big.id, small.id, overdue.id]),
        ):
            shift._pick(s.page, "qp_sort", s.tr(order))
            _ids(s.page, ids)
        shift._pick(s.page, "qp_sort", s.tr("overdue follow-ups first, then the largest"))
        s.page.get_by_text(s.tr("Only overdue follow-ups")).click()
        _ids(s.page, [overdue.id])
        assert "overdue=1" in s.page.url  # a link reproduces the view
        s.page.get_by_text(s.tr("Only overdue follow-ups")).click()
        _ids(s.page, [overdue.id, big.id, small.id])
        shift._pick(s.page, "qp_cause", s.tr("system fault"))
        _ids(s.page, [big.id])
        shift._pick(s.page, "qp_cause", s.tr("not known yet"))
        _ids(s.page, [overdue.id, small.id])
        shift._pick(s.page, "qp_cause", s.tr("all"))
        box = s.page.get_by_label(s.tr("Search case number, terminal, batch, merchant or store"))
        for typed, ids in ((f"#{small.id}", [small.id]), (overdue.terminal, [overdue.id])):
            box.fill(typed)
            box.press("Enter")
            _ids(s.page, ids)
        box.fill("no-such-thing")
        box.press("Enter")
        expect(s.page.get_by_text(s.tr("No shortfall case matches."))).to_be_visible(
            timeout=shift.WAIT_MS
        )
