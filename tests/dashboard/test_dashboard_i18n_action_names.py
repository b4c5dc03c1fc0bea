"""An operator action has one name: the confirmation after it and the Audit log say the same
(dashboard/action_text.py is the one table of names)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import collector.actions
from dashboard import action_text

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


@pytest.mark.parametrize(
    ("lang", "buttons", "names", "done"),
    [
        (
            "en",
            ("Suspend", "Unsuspend"),
            ("suspend", "unsuspend"),
            "{}: done, recorded in the audit log.",
        ),
        ("zh-CN", ("停用", "恢复"), ("停用", "恢复启用"), "{}：已完成，已记入审计日志。"),
    ],
)
def test_suspend_and_unsuspend_are_confirmed_by_the_names_the_audit_log_gives_them(
    open_page: Callable[..., AppTest],
    fleet: Any,
    lang: str,
    buttons: tuple[str, str],
    names: tuple[str, str],
    done: str,
) -> None:
    """The confirmation said "set suspended: done" (停用/恢复) for a suspend and for an
    unsuspend alike, while the Audit log named them "suspend" and "unsuspend"."""
    gw = fleet.gateway_ids[2]
    at = open_page("views/detail.py", {"id": gw, "lang": lang}, login="olga")
    at.text_input(key="sus_reason").input("unpaid fees")
    next(b for b in at.button if b.label == buttons[0]).click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [done.format(names[0])]
    next(b for b in at.button if b.label == buttons[1]).click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [done.format(names[1])]
    at.switch_page("views/audit.py").run()
    (log,) = [f.value for f in at.dataframe if "what" in f.value.columns]
    assert list(log["what"])[:2] == [names[1], names[0]]


def test_every_console_action_is_named_by_the_one_table() -> None:
    """An action function missing from the table would be confirmed by its code name."""
    named = set(action_text.ACTION_NAMES.values()) | set(action_text.SEVERAL_STEPS.values())
    actions = [
        name
        for name in collector.actions.__all__
        if inspect.isfunction(getattr(collector.actions, name))
        and list(inspect.signature(getattr(collector.actions, name)).parameters)[:2]
        == ["conn", "actor"]
    ]
    assert "set_suspended" in actions
    unnamed = [n for n in actions if action_text.done_name(n, {"suspended": True}) not in named]
    assert unnamed == []
