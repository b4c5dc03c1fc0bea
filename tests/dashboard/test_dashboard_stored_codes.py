"""No stored code (an alert kind such as ``gateway_down``, an audit action such as
``user.set``) is shown to a person as it is stored: the English console says it in words, as
the Chinese one does. The seeded store (tests/dashboard/conftest.py) has gateway_down,
network_degraded, clock_skew and firmware_non_compliant alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from collector.actions import record_audit
from collector.store import db
from dashboard.auth import add_user, remove_user
from simulators.stack.seeded_store import NOW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")

IN_WORDS = {
    "gateway_down": "gateway down",
    "network_degraded": "network degraded",
    "clock_skew": "clock skew",
    "firmware_non_compliant": "firmware not compliant",
}


def test_the_english_alerts_page_names_each_kind_in_words(
    open_page: Callable[..., AppTest], fleet: Any
) -> None:
    at = open_page("views/alerts.py", query={"lang": "en"})
    (alerts,) = [f.value for f in at.dataframe if "kind" in f.value.columns]
    assert "gateway down" in set(alerts["kind"]), alerts["kind"]
    assert set(alerts["kind"]) <= set(IN_WORDS.values()), alerts["kind"]
    kinds = at.selectbox(key="qp_kind").options
    assert "gateway down" in kinds, kinds
    assert not [k for k in kinds if k in IN_WORDS], kinds


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        (
            "en",
            [
                "set a user's role and password",
                "remove a user",
                "added to the inventory automatically",
                "notification delivered",
                "notification not delivered",
            ],
        ),
        (
            "zh-CN",
            ["设置用户角色和密码", "删除用户", "自动加入设备清单", "通知已送达", "通知未送达"],
        ),
    ],
)
def test_the_audit_log_names_every_action_the_store_records(
    open_page: Callable[..., AppTest], fleet: Any, lang: str, said: list[str]
) -> None:
    """A user set and removed (dashboard.auth), a gateway added by auto-enrolment and two
    notifications (the rows collector.store and notify write) were shown as ``user.set``,
    ``enrolment.auto``, ``notify.failed``... in both languages."""
    conn = db.connect(fleet.path)
    try:
        add_user(conn, "temp", "viewer", "a long enough passphrase", NOW, by="ada")
        remove_user(conn, "temp", NOW, by="ada")
        record_audit(conn, "collector", "enrolment.auto", "gateway:gw-new", NOW, {})
        record_audit(conn, "notify", "notify.delivered", "notification:1", NOW, {})
        record_audit(conn, "notify", "notify.failed", "notification:2", NOW, {})
    finally:
        conn.close()
    at = open_page("views/audit.py", query={"lang": lang})
    (log,) = [f.value for f in at.dataframe if "what" in f.value.columns]
    assert list(log["what"])[:5] == list(reversed(said))


def test_every_stored_value_that_is_a_code_has_english_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new alert kind added to the catalog without English words would be shown raw."""
    from dashboard import i18n

    monkeypatch.setattr(i18n, "current_lang", lambda: "en")
    codes = sorted(v for v in i18n.VALUES if "_" in v)
    assert [c for c in codes if "_" in i18n.value(c)] == []
    assert i18n.value("terminal_silent, due_soon") == "terminal silent (no sales), due soon"
