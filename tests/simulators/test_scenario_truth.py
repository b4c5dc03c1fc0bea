"""The scenario runner's ground truth against pages that come as fast as they can.

A hardware fault has no pending delay: the collector pages on the report's receipt. Under
load the collector can do that before the runner's own thread is scheduled again after
handing the report to the fleet, so the truth must date a fault from the hand-over, not
from the return (issue #13 item 9: false ``hardware_fault`` pages for printer-paper-out).
No broker and no load needed: the fleet double below "pages" at the very moment a report
is published and lets the runner go on only once the clock has moved past that page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.scenarios.plan import Mark, Step
from simulators.scenarios.run import _Truth, run_fleet_steps
from simulators.scorecard import Page, read_truth, score
from simulators.stack.wait import wait_for


class PagedOnReceipt(Fleet):
    """A fleet whose hardware reports are paged the instant they leave (the earliest a
    collector could): each becomes a ``hardware_fault`` page stamped then."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.pages: list[Page] = []

    def publish_hardware(self, gateway_id: str, terminal: str | None = None, **fields: Any) -> bool:
        if fields:  # the fault's report (the test's ends send an empty one)
            at = datetime.now(UTC)
            self.pages.append(Page("hardware_fault", "gateway", gateway_id, at))
            # The runner's thread gets the CPU back only after the page (load).
            wait_for(lambda: datetime.now(UTC) > at, timeout=5, what="the clock to move on")
        return True


def hardware_steps(gid: str, fault: str, on: tuple[tuple[str, Any], ...]) -> list[Step]:
    return [
        Step(0.0, "hardware", (gid,), on, (Mark(fault, "gateway", gid, "hardware_fault"),)),
        Step(20.0, "hardware", (gid,), (), (Mark(fault, "gateway", gid, end=True),)),
    ]


def test_a_hardware_fault_paged_on_receipt_is_detected_not_false(tmp_path: Path) -> None:
    model = generate(4, seed=1)
    gws = [g.gateway_id for g in model.gateways[:2]]
    paper = hardware_steps(gws[0], "printer_paper_out", (("printer", "paper_out"),))
    battery = hardware_steps(gws[1], "battery_drain", (("battery_pct", 10.0), ("charging", False)))
    fleet = PagedOnReceipt(model.gateways, "127.0.0.1", 1)
    runner = FleetRunner(fleet).start()
    truth = _Truth(tmp_path / "truth.jsonl")
    try:
        # As the timeline does: the steps of one moment in one batch, then the next moment.
        run_fleet_steps(runner, (paper[0], battery[0]), truth)
        before_ends = datetime.now(UTC)
        run_fleet_steps(runner, (paper[1], battery[1]), truth)
        after_ends = datetime.now(UTC)
    finally:
        truth.close()
        runner.stop()
    assert [p.subject_id for p in fleet.pages] == gws
    site_of = {g.gateway_id: g.site_id for g in model.gateways}
    card = score(
        read_truth(tmp_path / "truth.jsonl"),
        fleet.pages,
        site_of,
        until=datetime.now(UTC),
        min_duration={"hardware_fault": 0.0},
    )
    assert card.as_dict()["false_pages"] == []
    faults = read_truth(tmp_path / "truth.jsonl")
    # ... and a fault never ends before its last step was applied.
    assert all(f.end is not None and before_ends <= f.end <= after_ends for f in faults)
    for fault in ("printer_paper_out", "battery_drain"):
        s = card.by_fault[fault]
        assert (s.expected, s.detected, s.missed, s.duplicate) == (1, 1, 0, 0), fault
        assert s.delays[0] >= 0.0
