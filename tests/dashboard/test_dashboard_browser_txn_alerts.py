"""Transaction health on the Alerts page in Chromium, in zh-CN and English: a silent terminal
raised by the collector's own processor and alert listener (tests/alerts/test_silence.py's
rig: two weeks of a Shanghai store's windows, then a PIN pad that stops taking money) is
said in the viewer's language, on the viewer's clock, not as the stored English summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alerts.test_silence import Rig, _sh
from playwright.sync_api import expect
from support import shift

from dashboard.alert_text import compose
from dashboard.i18n import translate

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def silent_store(tmp_path: Path) -> tuple[Path, Rig]:
    path = tmp_path / "silent.sqlite"
    rig = Rig(str(path), _sh("2026-11-30T10:00"))
    try:
        rig.history(14)
        rig.stuck["pp-1"] = _sh("2026-11-30T10:00")  # its last sale 09:58 Shanghai time
        rig.live(_sh("2026-11-30T10:42"))
        assert rig.silent() == [("terminal", "pp-1", "firing")]
    finally:
        rig.store.close()
    return path, rig


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_silent_terminal_is_said_in_the_viewers_language_and_clock(
    browser: Any, silent_store: tuple[Path, Rig], lang: str
) -> None:
    path, rig = silent_store
    tz = shift.VIEWER_TZ[lang]
    (summary, details) = shift.query(
        path, "SELECT summary, details FROM alerts WHERE kind = 'terminal_silent'"
    )[0]
    facts = json.loads(details)
    last = _sh("2026-11-30T09:58").astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    said = translate(
        "{subject} {id} ({place}) is online but has taken no transaction since {last} "
        "({expected} expected since, usually {usual} an hour now)",
        lang,
        subject=translate("terminal", lang),
        id="pp-1",
        place=translate("store {store}, {region}", lang, store="s-sh", region="east"),
        last=last,
        expected=f"{facts['expected']:.0f}",
        usual=f"{facts['usual_per_hour']:.0f}",
    )
    with shift.console(path, tz=tz, now=rig.clock.now()) as url:
        page = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
        page.goto(f"{url}/alerts?lang={lang}")
        shift.settled(page, translate("Alerts", lang))
        cells = page.locator('[data-testid="stDataFrame"] table td')
        expect(cells.first).to_be_attached(timeout=shift.WAIT_MS)
        texts = [str(x) for x in cells.all_inner_texts()]
        assert said in texts, (said, texts)
        assert summary not in texts, texts  # the stored English text, on the store's clock


def test_a_stores_failure_spike_names_its_categories_on_the_viewers_clock() -> None:
    """Outside a Streamlit session the console speaks English (the default)."""
    alert = {
        "kind": "txn_failure_spike",
        "subject_type": "site",
        "subject_id": "s-sh",
        "site_id": "s-sh",
        "region_id": "east",
        "started_at": "2026-11-30T02:40:00.000000+00:00",
        "details": json.dumps(
            {
                "category": "issuer_unavailable",
                "categories": ["issuer_unavailable", "timed_out"],
                "attempted": 40,
            }
        ),
        "summary": "Site s-sh: sales failing in the last 20 min: ...",
    }
    assert compose(alert, ZoneInfo("Asia/Shanghai")) == (
        "store s-sh, east: sales failing since 2026-11-30 10:40: issuer or network declines, "
        "time-outs (40 attempts in the window)"
    )
