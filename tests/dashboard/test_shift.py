"""A NOC shift in Chromium, in zh-CN and in English, on a store the real collector wrote
from a simulated fleet over a real Mosquitto (issue #15, "Done when"). The steps are in
tests/support/shift.py (``STEPS``, one function each); ``scripts/screenshots`` runs the same
shift to refresh docs/screenshots/. This test writes its screenshots to a temporary
directory: a test run leaves the tree clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import shift

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

SHOTS = ("morning", "morning-acted", "overview", "alerts-acknowledged", "maintenance",
         "window-active", "firmware", "policies", "detail")  # fmt: skip


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_shift_on_a_store_the_collector_wrote(
    fleet_store: shift.FleetStore, browser: object, lang: str, tmp_path: Path
) -> None:
    store = fleet_store.copy(tmp_path / "posfleet.sqlite")  # each language its own shift
    done = shift.run_shift(store, browser, lang, tmp_path / "shots")
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == sorted(
        f"shift-{name}.{lang}.png" for name in SHOTS
    )
    assert set(done.done) == {"morning", "snoozed", "acked", "window"}  # every step ran to its end
