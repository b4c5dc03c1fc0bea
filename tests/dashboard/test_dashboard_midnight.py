"""The Overview in the first minute of the viewer's day (and month): today has no whole minute
yet, so its availability is n/a; the page used to raise ``empty period`` from 00:00 to 00:01."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from collector.store.times import to_db
from simulators.stack.seeded_store import NOW, Fleet

NOW_KEY = "POSFLEET_DASHBOARD_NOW"


def _midnight_after(when: datetime) -> datetime:
    return (when + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("into_s", [0.5, 30, 59])
def test_the_overview_in_the_first_minute_of_a_day_shows_today_as_n_a(
    fleet: Fleet,
    open_page: Callable[..., AppTest],
    monkeypatch: pytest.MonkeyPatch,
    into_s: float,
) -> None:
    now = _midnight_after(NOW) + timedelta(seconds=into_s)
    monkeypatch.setenv(NOW_KEY, to_db(now))
    at = open_page("views/overview.py")
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Availability today"] == "n/a"
    # A minute later today has one whole minute and a figure again.
    monkeypatch.setenv(NOW_KEY, to_db(now + timedelta(seconds=61)))
    at = open_page("views/overview.py")
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Availability today"] != "n/a"
