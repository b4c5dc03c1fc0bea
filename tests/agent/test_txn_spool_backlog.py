"""The transaction spool under a backlog (agent/txnspool.py): a payment app that fell behind,
or a gateway offline for days, leaves tens of thousands of files. Each scan still takes the
oldest files first, in name order, and costs the same memory as a scan of 500 files."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

import agent.txnspool as txnspool
from agent.txnspool import MAX_FILES_PER_SCAN, TxnSpool

NOW = 1795339260.0
PAN = "4111111111111111"


def write(root: Path, name: str, terminal: str) -> None:
    line = {"terminal": terminal, "since": 1795338000, "until": 1795339200}
    (root / name).write_text(json.dumps(line) + "\n")


def backlog(root: Path, count: int, seed: int = 7) -> list[str]:
    """``count`` files named as docs/agent.md advises (time order), written in random order;
    each one's line names its own file (``t-<n>``, n its place in name order)."""
    names = [f"20261122T{i // 60:04d}{i % 60:02d}-{i:06d}.jsonl" for i in range(count)]
    ordered = sorted(names)
    rank = {n: i for i, n in enumerate(ordered)}
    random.Random(seed).shuffle(names)
    root.mkdir(parents=True, exist_ok=True)
    for n in names:
        write(root, n, f"t-{rank[n]}")
    return ordered


def peak_of_one_scan(root: Path, journal: Path) -> int:
    spool = TxnSpool(root, "gw-0042", journal)
    tracemalloc.start()
    try:
        scan = spool.scan(NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(scan.messages) == MAX_FILES_PER_SCAN  # the same work in both
    return peak


def test_a_large_backlog_is_taken_oldest_first_in_name_order_one_bounded_scan_at_a_time(
    tmp_path: Path,
) -> None:
    root = tmp_path / "spool"
    count = 6 * MAX_FILES_PER_SCAN + 123
    backlog(root, count)
    # A file named with a card number is taken in its name's place too (renamed, then read).
    write(root, f"20261121_{PAN}.jsonl", "t-pan")  # a day earlier: before every other name
    spool = TxnSpool(root, "gw-0042", tmp_path / "journal")
    taken: list[str] = []
    for i in range(8):
        scan = spool.scan(NOW + i * 1200)
        assert len(scan.messages) <= MAX_FILES_PER_SCAN
        taken += [str(b["terminal"]) for _, b in scan.messages]
        spool.done(scan)
    assert taken == ["t-pan"] + [f"t-{n}" for n in range(count)]
    assert not list(root.glob("*.jsonl"))
    names = "\n".join(str(p) for p in tmp_path.rglob("*"))
    assert PAN not in names


def test_a_scan_of_a_50000_file_backlog_needs_no_more_memory_than_a_scan_of_500(
    tmp_path: Path,
) -> None:
    small = tmp_path / "small"
    big = tmp_path / "big"
    backlog(small, MAX_FILES_PER_SCAN)
    backlog(big, 50_000)
    base = peak_of_one_scan(small, tmp_path / "journal-small")
    peak = peak_of_one_scan(big, tmp_path / "journal-big")
    # The whole listing of 50,000 names is ~4 MB as Python strings (twice that sorted); the
    # 500 names a scan keeps, and scandir's buffer, are the same in both.
    assert peak - base < 256 * 1024, f"peak {peak} B with 50,000 files, {base} B with 500"


def test_a_scan_checks_only_the_names_it_reads_for_card_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "spool"
    backlog(root, 10 * MAX_FILES_PER_SCAN)
    checked: list[str] = []
    real = txnspool.looks_like_pan

    def counting(text: str) -> bool:
        checked.append(text)
        return real(text)

    monkeypatch.setattr(txnspool, "looks_like_pan", counting)
    scan = TxnSpool(root, "gw-0042", tmp_path / "journal").scan(NOW)
    assert len(scan.messages) == MAX_FILES_PER_SCAN
    # Each check of a name is a regex and a Luhn sum (~20 µs): over a 100,000-file backlog,
    # on every scan, that was 2 s of the gateway's CPU for 500 files read.
    assert len(checked) == MAX_FILES_PER_SCAN
