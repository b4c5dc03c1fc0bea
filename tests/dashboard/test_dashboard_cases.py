"""The shortfall cases page (少刷钱, issue #16) in both languages, on each engine: a case the
real reconciler opened from a settlement file against a batch the collector's writer stored;
the list most urgent first; the case page's evidence; a call logged, the cause set and the
case closed from the page, each audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest
from support.cases import gateway_of, open_case

from collector.store import db
from simulators.stack.seeded_store import NOW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


@pytest.fixture
def case_id(fleet: Any) -> int:
    """pp's batch of 5,000.00 CNY settled at 4,980.00: a 20.00 CNY mismatch."""
    terminal = fleet.terminal_ids[0]
    return open_case(
        fleet.path, gateway_of(fleet.path, terminal), terminal, "B77", 500_000, "4980.00", NOW
    )


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [s.value for s in at.subheader]
    parts += [str(m.value) for m in at.metric] + [str(m.label) for m in at.metric]
    for frame in at.dataframe:
        parts.append(frame.value.to_string())
    return "\n".join(parts)


def test_the_case_list_in_english_names_the_store_merchant_and_shortfall(
    open_page: Callable[..., AppTest], fleet: Any, case_id: int
) -> None:
    at = open_page("views/cases.py")
    text = _texts(at)
    assert at.title[0].value == "Shortfall cases"
    assert "settled amount differs from the terminal's batch" in text
    assert "20.00 CNY" in text
    assert fleet.terminal_ids[0] in text


def test_the_case_list_and_page_in_chinese(open_page: Callable[..., AppTest], case_id: int) -> None:
    at = open_page("views/cases.py", query={"lang": "zh-CN"})
    assert at.title[0].value == "少刷钱案件"
    assert "结算金额与终端批次不符" in _texts(at)
    at = open_page("views/cases.py", query={"lang": "zh-CN", "case": str(case_id)})
    text = _texts(at)
    assert f"案件 {case_id}：结算金额与终端批次不符" in text
    assert "证据" in text
    assert "5,000.00 CNY" in text
    assert "4,980.00 CNY" in text
    # The terminal's windows around the close: their bounds are a window's start and end
    # (not a status change's "from" and "to", 原状态 and 新状态, as they once read).
    windows = next(f for f in at.dataframe if "window_start" in f.value.columns)
    labels = json.loads(windows.proto.columns)
    assert (labels["window_start"]["label"], labels["window_end"]["label"]) == (
        "窗口开始",
        "窗口结束",
    )


def test_a_call_is_logged_the_cause_set_and_the_case_closed_from_its_page(
    open_page: Callable[..., AppTest], fleet: Any, case_id: int
) -> None:
    at = open_page("views/cases.py", query={"case": str(case_id)}, login="olga")
    at.text_area(key="call_note").input("acquirer says refund reversed twice")
    at.selectbox(key="call_party").set_value("acquirer")
    at.selectbox(key="call_outcome").set_value("promised_callback")
    next(b for b in at.button if b.label == "Log the call").click().run()
    assert not at.exception, at.exception
    at.selectbox(key="case_cause").set_value("duplicated_refund")
    next(b for b in at.button if b.label == "Set the cause").click().run()
    assert not at.exception, at.exception
    at.text_input(key="close_resolution").input("acquirer re-credited")
    at.text_input(key="close_recovered").input("20.00")
    next(b for b in at.button if b.label == "Close the case").click().run()
    assert [e.value for e in at.error] == ["Tick the box to confirm closing the case."]
    at.checkbox(key="close_sure").check()
    next(b for b in at.button if b.label == "Close the case").click().run()
    assert not at.exception, at.exception
    conn = db.connect(fleet.path)
    try:
        assert conn.execute(
            "SELECT status, cause, closed_by, recovered_amount FROM shortfall_cases"
        ).fetchall() == [("closed", "duplicated_refund", "olga", 2000)]
        assert conn.execute("SELECT caller, party, outcome, note FROM case_calls").fetchall() == [
            ("olga", "acquirer", "promised_callback", "acquirer says refund reversed twice")
        ]
        actions = [
            a
            for (a,) in conn.execute(
                "SELECT action FROM audit_log WHERE subject = ? ORDER BY id", (f"case:{case_id}",)
            )
        ]
        assert actions == ["case.call", "case.cause", "case.close"]
    finally:
        conn.close()


def test_a_percent_or_underscore_typed_in_a_search_is_a_character_not_a_wildcard(
    fleet: Any, case_id: int
) -> None:
    """'%' matched every case and every id (LIKE's wildcard); an id's own '_' stays findable."""
    from dashboard import queries, queries_cases

    conn = db.connect(fleet.path)
    try:
        terminal = fleet.terminal_ids[0]
        found = queries_cases.cases(conn, "", "", terminal, NOW, 50, 0)
        assert list(found[0]["id"]) == [case_id]  # the search works at all
        for typed in ("%", "_", "%%", terminal[:2] + "%"):
            frame, total, _ = queries_cases.cases(conn, "", "", typed, NOW, 50, 0)
            assert (len(frame), total) == (0, 0), typed
            hits, n = queries.search(conn, typed, NOW)
            assert (len(hits), n) == (0, 0), typed
        # An id holding '_' is found by what precedes and includes it, and '_' does not
        # stand for another character: the same prefix with '_' swapped for 'x' finds none.
        with conn:
            conn.execute(
                "INSERT INTO sites (site_id, name, merchant_name) VALUES ('s_lit_1', 'x', 'x')"
            )
        hits, n = queries.search(conn, "s_lit", NOW)
        assert list(hits["id"]) == ["s_lit_1"]
        assert n == 1
        assert queries.search(conn, "sxlit", NOW)[1] == 0
        with conn:
            conn.execute(
                "INSERT INTO sites (site_id, name, merchant_name) VALUES ('sxlit_2', 'x', 'x')"
            )
        assert list(queries.search(conn, "s_lit", NOW)[0]["id"]) == ["s_lit_1"]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("lang", "differ"),
    [
        (
            "en",
            "The acquirer settled this batch in USD (700.00 USD), the terminal's batch is in CNY",
        ),
        ("zh-CN", "收单机构以 USD 结算该批次（700.00 USD），终端批次币种为 CNY"),
    ],
)
def test_a_batch_settled_in_another_currency_shows_the_settled_amount_in_its_own(
    open_page: Callable[..., AppTest], fleet: Any, lang: str, differ: str
) -> None:
    """The reconciler stores no settled amount for a case settled in another currency (700
    USD less 5,000 CNY is no difference): the evidence showed '—' where the acquirer's
    figure belongs. It shows 700.00 USD, and says the currencies differ."""
    terminal = fleet.terminal_ids[1]
    cid = open_case(
        fleet.path,
        gateway_of(fleet.path, terminal),
        terminal,
        "B-USD",
        500_000,
        "700.00",
        NOW,
        "USD",
    )
    at = open_page("views/cases.py", query={"lang": lang, "case": str(cid)})
    (evidence,) = [f.value for f in at.dataframe if "count" in f.value.columns]
    assert list(evidence["amount"]) == ["5,000.00 CNY", "700.00 USD"]
    assert [w.value for w in at.warning if differ in w.value], [w.value for w in at.warning]


@pytest.mark.parametrize(
    ("lang", "heading", "overdue_by"),
    [("en", "Shortfall follow-ups overdue", "1 d"), ("zh-CN", "少刷钱案件跟进逾期", "1天")],
)
def test_the_alerts_page_lists_the_shortfall_cases_whose_follow_up_is_overdue(
    open_page: Callable[..., AppTest],
    fleet: Any,
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
    heading: str,
    overdue_by: str,
) -> None:
    """PosfleetShortfallFollowUpOverdue paged in Prometheus only: the Alerts page, where the
    NOC looks, said nothing of a merchant nobody had called back. A case opened two days ago
    (its first follow-up due a day after) is listed with its merchant, terminal, amount, due
    time on the China clock and how overdue; one opened now (due tomorrow) is not."""
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    late, fresh = fleet.terminal_ids[0], fleet.terminal_ids[1]
    opened = NOW - timedelta(days=2)
    late_id = open_case(
        fleet.path, gateway_of(fleet.path, late), late, "B-LATE", 500_000, "4980.00", opened
    )
    open_case(fleet.path, gateway_of(fleet.path, fresh), fresh, "B-NOW", 300_000, "2990.00", NOW)
    at = open_page("views/alerts.py", query={"lang": lang})
    assert heading in [h.value for h in at.subheader]
    (listed,) = [f.value for f in at.dataframe if "overdue_by" in f.value.columns]
    due = (opened + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert listed.to_dict("records") == [
        {
            "case": f"/cases?case={late_id}",
            "merchant": listed["merchant"][0],  # the seeded store's, checked below
            "store": listed["store"][0],
            "terminal": late,
            "short": "20.00 CNY",
            "due": due.strftime("%Y-%m-%d %H:%M"),
            "overdue_by": overdue_by,
        }
    ]
    conn = db.connect(fleet.path)
    try:
        name, phone, store = conn.execute(
            "SELECT s.merchant_name, s.merchant_contact, s.name FROM shortfall_cases c "
            "JOIN sites s ON s.site_id = c.site_id WHERE c.id = ?",
            (late_id,),
        ).fetchone()
    finally:
        conn.close()
    assert listed["merchant"][0] == f"{name} {phone}".strip()
    assert listed["store"][0] == store
    counted = ("Shortfall cases past their follow-up", "跟进已逾期的少刷钱案件")
    assert [str(m.value) for m in at.metric if m.label in counted] == ["1"]
