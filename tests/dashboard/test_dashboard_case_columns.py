"""The two tables of shortfall cases, the case list and the Alerts page's overdue follow-ups,
configure the columns they share in one place (dashboard/case_text.py): both show them under
the same headers, in each language, and each keeps its own columns and their order."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from support.cases import gateway_of, open_case

from simulators.stack.seeded_store import NOW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")

# The case column: a link to the case's page, showing the case's number.
LINK = {"width": "small", "type_config": {"type": "link", "display_text": r"case=(\d+)$"}}
HEADERS = {
    "en": {
        "case": "case",
        "merchant": "merchant and phone",
        "store": "store",
        "terminal": "terminal",
        "short": "difference (terminal - settled)",
        "status": "status",
        "what": "what",
        "business_date": "business day",
        "cause": "cause",
        "follow_up": "next follow-up (Asia/Shanghai)",
        "due": "follow-up due (Asia/Shanghai)",
        "overdue_by": "overdue by",
    },
    "zh-CN": {
        "case": "案件",
        "merchant": "商户及电话",
        "store": "门店",
        "terminal": "终端",
        "short": "差额（终端 - 结算）",  # noqa: RUF001 (the catalog's full-width brackets)
        "status": "状态",
        "what": "情况",
        "business_date": "营业日",
        "cause": "原因",
        "follow_up": "下次跟进（Asia/Shanghai）",  # noqa: RUF001
        "due": "应跟进时间（Asia/Shanghai）",  # noqa: RUF001
        "overdue_by": "已逾期",
    },
}


def _columns(frame: Any) -> list[tuple[str, dict[str, Any]]]:
    """The table's columns in the order shown, each with the configuration sent to the browser."""
    config = json.loads(frame.proto.columns)
    return [(str(name), config[name]) for name in frame.value.columns]


def _header(lang: str, column: str, **more: Any) -> dict[str, Any]:
    return {"label": HEADERS[lang][column], **more}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_case_list_and_the_overdue_follow_ups_show_the_shared_columns_alike(
    open_page: Callable[..., AppTest],
    fleet: Any,
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
) -> None:
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    terminal = fleet.terminal_ids[0]
    # Opened two days ago: its first follow-up, due a day after, is overdue.
    opened = NOW - timedelta(days=2)
    open_case(
        fleet.path, gateway_of(fleet.path, terminal), terminal, "B77", 500_000, "4980.00", opened
    )
    link = _header(lang, "case", **LINK)

    (listed,) = open_page("views/cases.py", query={"lang": lang}).dataframe
    assert _columns(listed) == [
        ("case", link),
        ("status", _header(lang, "status", width="small", type_config={"type": "text"})),
        ("what", _header(lang, "what")),
        ("business_date", _header(lang, "business_date")),
        ("store", _header(lang, "store")),
        ("merchant", _header(lang, "merchant")),
        ("terminal", _header(lang, "terminal")),
        ("short", _header(lang, "short")),
        ("cause", _header(lang, "cause")),
        ("follow_up", _header(lang, "follow_up")),
    ]

    at = open_page("views/alerts.py", query={"lang": lang})
    (overdue,) = [f for f in at.dataframe if "overdue_by" in f.value.columns]
    assert _columns(overdue) == [
        ("case", link),
        ("merchant", _header(lang, "merchant")),
        ("store", _header(lang, "store")),
        ("terminal", _header(lang, "terminal")),
        ("short", _header(lang, "short")),
        ("due", _header(lang, "due")),
        ("overdue_by", _header(lang, "overdue_by")),
    ]
