"""bench/ingest.py's message mixes (issue #16): the transaction mix is what a payment fleet
sends at the agent's defaults, every message one the collector's codec accepts, and a
collector round stores every window it was sent."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import AgentSettings
from bench._publisher import build
from bench.ingest import Databases, Expected, run_group
from simulators.broker import MosquittoProcess
from telemetry.codec import Decoded, decode
from telemetry.models import Heartbeat, Transactions

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _default(name: str) -> float:
    (f,) = [f for f in dataclasses.fields(AgentSettings) if f.name == name]
    return float(f.default)  # type: ignore[arg-type]


def _decoded(mix: str, gateways: int, per: int) -> list[Decoded]:
    out = []
    for topic, payload in build(mix, gateways, per, NOW):
        got = decode(topic, payload, now=NOW)
        assert isinstance(got, Decoded), (topic, payload, got)
        out.append(got)
    return out


def test_the_heartbeat_mix_is_todays_backlog() -> None:
    msgs = _decoded("heartbeats", 30, 4)
    assert len(msgs) == 120
    assert all(isinstance(d.message, Heartbeat) for d in msgs)
    assert Counter(d.ref.gateway_id for d in msgs) == {f"gw-{g:05d}": 4 for g in range(30)}


def test_the_transaction_mix_follows_the_agents_defaults_and_the_codec_accepts_it() -> None:
    hb_s, txn_s, terminals = _default("heartbeat_interval"), _default("txn_interval"), 4
    # One cycle is one transaction window of a gateway: its heartbeats and one window per
    # terminal. A whole number of cycles' worth of gateways makes the proportion exact.
    cycle = int(txn_s / hb_s) + terminals
    gateways, per = 3 * cycle, 25
    msgs = _decoded("transactions", gateways, per)
    assert len(msgs) == gateways * per
    assert Counter(d.ref.gateway_id for d in msgs) == {f"gw-{g:05d}": per for g in range(gateways)}
    windows = [d for d in msgs if isinstance(d.message, Transactions)]
    beats = [d for d in msgs if isinstance(d.message, Heartbeat)]
    assert len(windows) + len(beats) == len(msgs)
    # Per gateway-hour: 3600/hb_s heartbeats, terminals * 3600/txn_s windows.
    assert len(windows) * (3600 / hb_s) == len(beats) * (terminals * 3600 / txn_s)
    assert all(d.message.interval == hb_s for d in beats if isinstance(d.message, Heartbeat))

    seen = set()
    closes: Counter[str] = Counter()
    for d in windows:
        m = d.message
        assert isinstance(m, Transactions)
        assert d.ref.terminal_id is not None
        assert d.ref.terminal_id.startswith("pp-")
        assert m.terminal == d.ref.terminal_id
        assert (m.until - m.since).total_seconds() == txn_s
        assert m.until <= NOW
        assert m.outcomes.approved > 0
        assert m.approved_amount > 0
        assert m.currency == "CNY"
        assert m.acquirer
        seen.add((d.ref.terminal_id, m.since))
        if m.batch is not None:
            closes[d.ref.terminal_id] += 1
    assert len(seen) == len(windows), "every window is a window of its own"
    # One batch close a day per terminal: one window in 86400/txn_s, never two in a terminal.
    per_day = 86400 / txn_s
    assert sum(closes.values()) == -(-len(windows) // per_day)
    assert max(closes.values()) == 1


def test_an_unknown_mix_is_refused() -> None:
    with pytest.raises(ValueError, match="mix"):
        build("events", 1, 1, NOW)


def test_a_collector_round_of_the_transaction_mix_stores_every_window(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    gateways, per = 20, 25
    expected = Expected.of("transactions", gateways, per)
    assert expected.by_kind["transactions"] > 0
    assert expected.batches > 0
    with Databases("sqlite", tmp_path) as dbs:
        got = run_group(
            "collector",
            1,
            mosquitto.port,
            gateways,
            per,
            tmp_path,
            dbs,
            "t",
            "transactions",
            expected,
            places=True,
        )
    assert got["accepted_counter"] == gateways * per
    assert not got["rejected"]
    assert got["stored"]["txn_aggregates_rows"] == expected.by_kind["transactions"]
    assert got["stored"]["txn_batches_rows"] == expected.batches
    assert got["stored"]["all_stored"] is True
    # The round's windows are folded too, and counted in the collector's CPU: every window
    # into its terminal's hours, and, the fleet being in stores, into its store's.
    assert got["folds"]["windows"] == expected.by_kind["transactions"]
    assert got["folds"]["cpu_s"] > 0
    assert got["stored"]["txn_baseline_rows"] > 0
    assert got["stored"]["txn_site_baseline_rows"] > 0
