"""Scorecard matching on hand-made truth and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulators.scorecard import Page, pair_truth, score

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SITES = {"gw-1": "s-1", "gw-2": "s-2", "gw-3": "s-2", "pp-1": "s-1"}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def ts(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def truth(*rows: tuple[str, str, str, float, float | None, str | None]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for fault, st, sid, start, end, expect in rows:
        out.append({"fault": fault, "subject_type": st, "subject_id": sid, "start": at(start),
                    "end": None, "expect_alert": expect})  # fmt: skip
        if end is not None:
            out.append({"fault": f"{fault}_end", "subject_type": st, "subject_id": sid,
                        "start": at(end), "end": at(end), "expect_alert": None})  # fmt: skip
    return out


def test_a_long_outage_paged_once_is_detected_with_its_delay() -> None:
    faults = pair_truth(truth(("gateway_kill", "gateway", "gw-1", 0, 300, "gateway_down")))
    card = score(faults, [Page("gateway_down", "gateway", "gw-1", ts(75))], SITES, until=ts(400))
    s = card.by_fault["gateway_kill"]
    assert (s.expected, s.detected, s.missed, s.duplicate, s.delays) == (1, 1, 0, 0, [75.0])
    assert card.ok


def test_a_long_outage_that_never_paged_is_missed() -> None:
    faults = pair_truth(truth(("gateway_hang", "gateway", "gw-1", 0, 300, "gateway_down")))
    card = score(faults, [], SITES, until=ts(400))
    assert card.by_fault["gateway_hang"].missed == 1
    assert not card.ok


def test_an_outage_shorter_than_the_pending_delay_is_not_expected_to_page() -> None:
    faults = pair_truth(truth(("gateway_kill", "gateway", "gw-1", 0, 40, "gateway_down")))
    card = score(faults, [], SITES, until=ts(400))
    assert (card.by_fault["gateway_kill"].expected, card.ok) == (0, True)


def test_two_pages_for_one_outage_count_a_duplicate() -> None:
    faults = pair_truth(truth(("gateway_kill", "gateway", "gw-1", 0, 300, "gateway_down")))
    pages = [Page("gateway_down", "gateway", "gw-1", ts(70)),
             Page("gateway_down", "gateway", "gw-1", ts(200))]  # fmt: skip
    card = score(faults, pages, SITES, until=ts(400))
    assert card.by_fault["gateway_kill"].duplicate == 1
    assert not card.ok


def test_a_page_with_no_fault_behind_it_is_false() -> None:
    faults = pair_truth(truth(("quick_reconnect", "gateway", "gw-1", 0, 0, None)))
    pages = [Page("gateway_down", "gateway", "gw-2", ts(90))]
    card = score(faults, pages, SITES, until=ts(400))
    assert [p.subject_id for p in card.false_pages] == ["gw-2"]
    assert not card.ok


def test_a_store_outage_is_detected_by_its_site_page_not_by_one_per_gateway() -> None:
    faults = pair_truth(truth(("site_outage", "site", "s-2", 0, 300, "site_down")))
    card = score(faults, [Page("site_down", "site", "s-2", ts(40))], SITES, until=ts(400))
    assert card.by_fault["site_outage"].detected == 1
    assert card.ok
    # A gateway of that store paging as well is a duplicate page for the same outage.
    card2 = score(
        faults,
        [Page("site_down", "site", "s-2", ts(40)), Page("gateway_down", "gateway", "gw-3", ts(70))],
        SITES,
        until=ts(400),
    )
    assert card2.by_fault["site_outage"].duplicate == 1


def test_a_pin_pad_fault_is_not_detected_by_its_stores_site_page() -> None:
    faults = pair_truth(truth(("pin_pad_unplugged", "terminal", "pp-1", 0, 400, "terminal_down")))
    card = score(faults, [Page("site_down", "site", "s-1", ts(30))], SITES, until=ts(500))
    assert card.by_fault["pin_pad_unplugged"].missed == 1
    assert len(card.false_pages) == 1


def test_a_page_during_a_planned_reboot_of_the_same_gateway_is_false() -> None:
    faults = pair_truth(truth(("upgrade_reboot", "gateway", "gw-1", 0, 60, None)))
    pages = [Page("gateway_down", "gateway", "gw-1", ts(30))]
    card = score(faults, pages, SITES, until=ts(400))
    assert [p.subject_id for p in card.false_pages] == ["gw-1"]


def test_a_page_of_another_kind_on_a_faulty_subject_is_false_not_a_duplicate() -> None:
    faults = pair_truth(truth(("printer_paper_out", "gateway", "gw-1", 0, 300, "hardware_fault")))
    pages = [Page("hardware_fault", "gateway", "gw-1", ts(1)),
             Page("clock_skew", "gateway", "gw-1", ts(5))]  # fmt: skip
    card = score(faults, pages, SITES, until=ts(400))
    s = card.by_fault["printer_paper_out"]
    assert (s.detected, s.duplicate) == (1, 0)
    assert [p.kind for p in card.false_pages] == ["clock_skew"]


def test_delay_quantiles_never_exceed_the_maximum() -> None:
    faults = pair_truth(
        truth(*(("gateway_kill", "gateway", f"gw-{i}", 0, 300, "gateway_down") for i in (1, 2, 3)))
    )
    pages = [Page("gateway_down", "gateway", f"gw-{i}", ts(60 + i)) for i in (1, 2, 3)]
    summary = score(faults, pages, SITES, until=ts(400)).by_fault["gateway_kill"].summary()
    assert summary["delay_p50_s"] == 62.0
    assert summary["delay_p99_s"] <= summary["delay_max_s"] == 63.0  # type: ignore[operator]
