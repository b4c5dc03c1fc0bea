"""The transaction spool (agent/txnspool.py) on fixture files: what a payment app drops is
checked, merged per terminal, journalled, queued and only then forgotten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from agent_support import settings

from agent.contract import Body, SystemClock, encode
from agent.link import Link
from agent.queue import Outbox
from agent.runner import Agent, Probes, Schedule
from agent.session import SessionCounter
from agent.transport import broker_config
from agent.txnspool import TxnSpool, check_line, merge
from collector.process import free_port
from telemetry.codec import Decoded, decode

FIXTURES = Path(__file__).parent / "fixtures" / "txn"
NOW = 1795339260.0
PAN = "4111 1111 1111 1111"


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    root = tmp_path / "txn-spool"
    shutil.copytree(FIXTURES, root)
    return root


def _by_topic(messages: list[tuple[str, Body]]) -> dict[str, Body]:
    out = {t: b for t, b in messages}
    assert len(out) == len(messages), "one message per terminal"
    return out


def test_complete_files_are_merged_per_terminal_and_the_collector_accepts_every_message(
    spool_dir: Path,
) -> None:
    spool = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal")
    scan = spool.scan(NOW)
    got = _by_topic(scan.messages)
    pinpad2 = got["posfleet/v1/gw-0042/terminal/pinpad-2/transactions"]
    assert pinpad2 == {
        "v": 1,
        "gw": "gw-0042",
        "ts": 1795339260,
        "terminal": "pinpad-2",
        "since": 1795338000,
        "until": 1795339200,
        "outcomes": {"approved": 183, "declined": 12, "timed_out": 1},
        "responses": {
            "approved": 183,
            "cardholder_decline": 10,
            "issuer_unavailable": 2,
            "other": 1,
        },
        "approved_amount": 1234567,
        "refunded_amount": 25000,
        "currency": "CNY",
        "last_txn_at": 1795339187,
        "acquirer": "unionpay-sh",
        "batch": {
            "id": "000123",
            "count": 4120,
            "amount": 98765432,
            "currency": "CNY",
            "closed_at": 1795339195,
        },
    }
    gateway = got["posfleet/v1/gw-0042/transactions"]  # the gateway is the payment device
    assert "terminal" not in gateway
    assert (gateway["outcomes"], gateway["approved_amount"]) == ({"approved": 2}, 9900)
    pinpad4 = got["posfleet/v1/gw-0042/terminal/pinpad-4/transactions"]
    assert pinpad4["batch"]["id"] == "2026112200000017"  # 16 digits, not Luhn: an id
    assert set(got) == {
        "posfleet/v1/gw-0042/terminal/pinpad-2/transactions",
        "posfleet/v1/gw-0042/terminal/pinpad-3/transactions",
        "posfleet/v1/gw-0042/terminal/pinpad-4/transactions",
        "posfleet/v1/gw-0042/transactions",
    }
    for topic, body in scan.messages:
        assert isinstance(decode(topic, encode(body)), Decoded), topic


def test_bad_lines_are_set_aside_with_their_reason_and_card_data_is_kept_nowhere(
    spool_dir: Path,
) -> None:
    spool = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal")
    scan = spool.scan(NOW)
    assert dict(scan.rejected) == {"card_data": 1, "schema": 3, "malformed_json": 1}
    reasons = (spool_dir / "rejected" / "20261122T0931-bad.jsonl.reason").read_text()
    assert reasons.splitlines()[0] == "line 1: card_data: debug.last_pan: looks like a card number"
    assert [r.split(":")[0] for r in reasons.splitlines()] == [f"line {n}" for n in (1, 2, 3, 4, 5)]
    kept = (spool_dir / "rejected" / "20261122T0931-bad.jsonl").read_text()
    assert len(kept.splitlines()) == 4  # the four bad lines that are not card data
    everything = b"".join(p.read_bytes() for p in spool_dir.rglob("*") if p.is_file())
    assert b"4111" not in everything
    assert all(PAN not in json.dumps(b) for _, b in scan.messages)


def test_a_file_still_being_written_is_left_for_a_later_scan(spool_dir: Path) -> None:
    spool = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal")
    scan = spool.scan(NOW)
    assert not any("pinpad-5" in t for t, _ in scan.messages)
    spool.done(scan)
    assert sorted(p.name for p in spool_dir.iterdir()) == ["20261122T0932-0003.tmp", "rejected"]
    line = '{"terminal":"pinpad-5","since":1795338000,"until":1795339200}\n'
    (spool_dir / "20261122T0932-0003.tmp").write_text(line)
    (spool_dir / "20261122T0932-0003.tmp").rename(spool_dir / "20261122T0932-0003.jsonl")
    later = spool.scan(NOW + 1200)
    assert [t for t, _ in later.messages] == ["posfleet/v1/gw-0042/terminal/pinpad-5/transactions"]


def test_a_crash_after_merging_replays_the_same_messages_and_never_counts_a_line_twice(
    spool_dir: Path,
) -> None:
    first = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").scan(NOW)
    assert not list(spool_dir.glob("*.jsonl")), "sources are gone once the journal is written"
    # The agent died before queueing: the next process finds the journal.
    again = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").scan(NOW + 5)
    assert again.messages == first.messages
    assert not again.rejected  # rejected lines were counted once, in the first scan


def test_a_crash_between_journal_and_deleting_the_sources_does_not_double_count(
    spool_dir: Path,
) -> None:
    saved = {p.name: p.read_bytes() for p in spool_dir.glob("*.jsonl")}
    first = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").scan(NOW)
    for name, data in saved.items():  # as if the process died before the unlinks
        (spool_dir / name).write_bytes(data)
    again = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").scan(NOW + 5)
    assert again.messages == first.messages
    assert not list(spool_dir.glob("*.jsonl"))
    assert (
        TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").scan(NOW + 10).messages
        == first.messages
    )
    # ...until the agent says they are queued:
    TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").done(again)
    assert (
        TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal").scan(NOW + 15).messages == []
    )


class _NoProbe:
    name = "none"

    def read(self) -> Any:
        raise AssertionError("not used")


def test_the_agent_queues_the_spool_while_offline_and_deletes_it_only_after_queueing(
    spool_dir: Path, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_messages=100, max_age_s=86400 * 7)
    spool = TxnSpool(spool_dir, "gw-0042", spool_dir.parent / "journal")
    probes = Probes(_NoProbe(), _NoProbe(), _NoProbe(), _NoProbe())  # type: ignore[arg-type]
    # The real link, never connected: the broker is unreachable.
    s = settings(free_port(), tmp_path / "state", gateway_id="gw-0042")
    link = Link(
        "gw-0042",
        broker_config(s),
        sessions=SessionCounter(tmp_path / "session"),
        outbox=outbox,
        clock=SystemClock(),
    )
    agent = Agent("gw-0042", probes, link, SystemClock(), Schedule(), spool)
    agent.transactions(spool)
    rows = outbox.next_batch(100)
    topics = [r.topic for r in rows]
    assert topics.count("posfleet/v1/gw-0042/event") == 1  # the refused lines, counted
    event = json.loads(rows[topics.index("posfleet/v1/gw-0042/event")].payload)
    assert (event["type"], event["data"]) == (
        "txn_spool_rejected",
        {"card_data": 1, "schema": 3, "malformed_json": 1},
    )
    txn = [r for r in rows if r.topic.endswith("/transactions")]
    assert len(txn) == 4
    for r in txn:
        result = decode(r.topic, r.payload)
        assert isinstance(result, Decoded)
        assert result.message.historical
    assert sorted(p.name for p in spool_dir.iterdir()) == ["20261122T0932-0003.tmp", "rejected"]
    outbox.close()


def test_the_example_lines_in_the_vendor_doc_are_accepted() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "agent.md").read_text()
    section = doc.split("## Transaction aggregates from the payment app")[1].split("\n## ")[0]
    lines = [ln for ln in section.splitlines() if ln.startswith('{"terminal"')]
    assert len(lines) == 2
    messages = merge([check_line(ln.encode()) for ln in lines])
    assert len(messages) == 1
    assert messages[0]["batch"]["id"] == "000123"


def test_one_scan_reads_a_bounded_number_of_files_and_the_rest_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.txnspool as txnspool

    monkeypatch.setattr(txnspool, "MAX_FILES_PER_SCAN", 2)
    spool = TxnSpool(tmp_path / "s", "gw-0042", tmp_path / "journal")
    for i in range(3):
        line = {"terminal": f"t-{i}", "since": 1795338000, "until": 1795339200}
        (spool.root / f"{i}.jsonl").write_text(json.dumps(line) + "\n")
    first = spool.scan(NOW)
    spool.done(first)
    assert [b["terminal"] for _, b in first.messages] == ["t-0", "t-1"]
    second = spool.scan(NOW + 1200)
    assert [b["terminal"] for _, b in second.messages] == ["t-2"]


def test_the_rejected_folder_keeps_only_the_newest_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.txnspool as txnspool

    monkeypatch.setattr(txnspool, "MAX_REJECTED_FILES", 4)
    spool = TxnSpool(tmp_path / "s", "gw-0042", tmp_path / "journal")
    for i in range(5):
        (spool.root / f"{i}.jsonl").write_text("not json\n")
        spool.done(spool.scan(NOW + i))
    kept = sorted(p.name for p in spool.rejected_dir.iterdir())
    assert kept == ["3.jsonl", "3.jsonl.reason", "4.jsonl", "4.jsonl.reason"]


def test_a_spool_that_cannot_be_created_is_logged_on_every_scan_and_stops_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    spool = TxnSpool(
        blocker / "spool", "gw-0042", tmp_path / "journal"
    )  # a path under a file: never a directory
    caplog.clear()
    assert spool.scan(NOW).messages == []
    assert "transaction spool" in caplog.text
    assert "txn_spool_dir" in caplog.text
