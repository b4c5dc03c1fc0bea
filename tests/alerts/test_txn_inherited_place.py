"""A terminal listed without a store of its own (terminals.csv naming only the terminal and
its gateway, as most estates list PIN pads) is where its gateway is: its silence is judged in
that store's hours and paged to that store's region, and its failures count in that store's
spikes. The store keeps '' (not NULL) for the columns the file leaves out, so SQL that took
``COALESCE(terminal's, gateway's)`` never reached the gateway's: the silent PIN pad's alert
named no store or region (routed to nobody's region) and an issuer outage at the store was
never a spike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from collector.inventory import upsert_rows
from tests.alerts import test_silence, test_spikes


def _list_without_a_place(store: object, terminal: str) -> None:
    conn = store.conn  # type: ignore[attr-defined]
    # What an import of "terminal_id,gateway_id" stores for the columns it does not name.
    upsert_rows(conn, "terminals", [{"terminal_id": "pp-new", "gateway_id": "gw-1"}])
    assert conn.execute(
        "SELECT site_id, region_id FROM terminals WHERE terminal_id = 'pp-new'"
    ).fetchone() == ("", "")
    conn.execute("DELETE FROM terminals WHERE terminal_id = 'pp-new'")
    conn.execute(
        "UPDATE terminals SET site_id = '', region_id = '' WHERE terminal_id = ?", (terminal,)
    )
    conn.commit()


@contextmanager
def _pp1_without_a_place(store: Any) -> Iterator[None]:
    """A rig's ``store`` with PIN pad pp-1 listed without a store of its own, closed after."""
    try:
        _list_without_a_place(store, "pp-1")
        yield
    finally:
        store.close()


@pytest.fixture
def silence_rig(store_url: str) -> Iterator[test_silence.Rig]:
    rig = test_silence.Rig(store_url, test_silence._sh("2026-11-30T10:00"))
    with _pp1_without_a_place(rig.store):
        rig.history(14)
        yield rig


def test_a_silent_pin_pad_is_judged_in_its_gateways_store_and_paged_to_its_region(
    silence_rig: test_silence.Rig,
) -> None:
    rig, sh = silence_rig, test_silence._sh
    rig.stuck["pp-1"] = sh("2026-11-30T10:00")
    rig.live(sh("2026-11-30T10:42"))
    assert rig.silent() == [("terminal", "pp-1", "firing")]
    region, site, summary = rig.store.conn.execute(
        "SELECT region_id, site_id, summary FROM alerts WHERE kind = 'terminal_silent'"
    ).fetchone()
    assert (region, site) == ("east", "s-sh")
    assert "Terminal pp-1 at site s-sh" in summary
    assert "since 2026-11-30 09:58 store time" in summary  # Shanghai time, not UTC


def test_a_closed_shops_pin_pad_is_not_silent_at_night(store_url: str) -> None:
    # Its history was counted in the store's hours: at 03:00 Shanghai the shop is closed.
    rig = test_silence.Rig(store_url, test_silence._sh("2026-11-30T02:00"))
    with _pp1_without_a_place(rig.store):
        rig.history(14)
        rig.live(test_silence._sh("2026-11-30T06:00"))
        assert rig.silent() == []


@pytest.fixture
def spike_rig(store_url: str) -> Iterator[test_spikes.Rig]:
    now = test_spikes._sh("2026-11-29T19:00")  # a Sunday
    rig = test_spikes.Rig(store_url, now)
    with _pp1_without_a_place(rig.store):
        rig.windows(now - timedelta(days=14), now, test_spikes.normal)
        yield rig


def test_an_issuer_outage_at_the_store_counts_its_pin_pads_that_name_no_store(
    spike_rig: test_spikes.Rig,
) -> None:
    rig, sh = spike_rig, test_spikes._sh
    rig.live(sh("2026-11-29T20:00"), test_spikes.normal)
    assert rig.spikes() == []
    rig.live(sh("2026-11-29T20:00") + timedelta(minutes=40), test_spikes.issuer_down)
    assert [(site, state) for site, state, _ in rig.spikes()] == [("s-sh", "firing")]
    region = rig.store.conn.execute(
        "SELECT region_id FROM alerts WHERE kind = 'txn_failure_spike'"
    ).fetchone()[0]
    assert region == "east"
