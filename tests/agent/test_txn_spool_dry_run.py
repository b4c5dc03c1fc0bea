"""``posfleet-agent run --once --dry-run`` shows the transaction windows the spool would give,
as it shows every other message, and leaves the spool (and the state directory) as they were:
a payment-app vendor checks an integration without losing the files it dropped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from agent.txnspool import TxnSpool

FIXTURES = Path(__file__).parent / "fixtures" / "txn"
REPO = Path(__file__).resolve().parents[2]
CARD_NAMED = "4111111111111111.jsonl"


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root``: its mode and, for a file, its bytes."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in [root, *root.rglob("*")]:
        st = os.lstat(path)
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        out[str(path.relative_to(root))] = (st.st_mode, content)
    return out


def _without_ts(line: str) -> tuple[str, dict[str, object]]:
    topic, payload = line.split(" ", 1)
    body = json.loads(payload)
    body.pop("ts")
    return topic, body


def test_dry_run_prints_the_spools_windows_and_leaves_every_file_as_it_was(
    tmp_path: Path,
) -> None:
    state, spool = tmp_path / "state", tmp_path / "spool"
    # A crash after the journal was written: its window goes first in a real run too.
    journalled = spool / "0001-before-crash.jsonl"
    spool.mkdir()
    journalled.write_text(
        '{"terminal":"pinpad-9","since":1795336800,"until":1795337400,'
        '"outcomes":{"approved":4},"approved_amount":800,"currency":"CNY"}\n'
    )
    assert TxnSpool(spool, "gw-1", state / "txn-journal").scan(1795337460.0).journal is not None
    shutil.copytree(FIXTURES, spool, dirs_exist_ok=True)
    (spool / CARD_NAMED).write_text(
        '{"terminal":"pinpad-7","since":1795338000,"until":1795339200}\n'
    )
    before = _tree(tmp_path)

    env = {
        **os.environ,
        "POSFLEET_AGENT_GATEWAY_ID": "gw-1",
        "POSFLEET_AGENT_STATE_DIR": str(state),
        "POSFLEET_AGENT_TXN_SPOOL_DIR": str(spool),
        "POSFLEET_AGENT_TERMINAL_PLUGINS": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent.main", "run", "--once", "--dry-run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert _tree(tmp_path) == before  # nothing renamed, set aside, journalled or deleted
    lines = done.stdout.splitlines()
    assert f"# transaction spool {spool}: read, left as it is (files stay for the run)" in lines
    txn = [_without_ts(x) for x in lines if "/transactions " in x]
    assert txn[0] == (
        "posfleet/v1/gw-1/terminal/pinpad-9/transactions",
        {
            "v": 1,
            "gw": "gw-1",
            "terminal": "pinpad-9",
            "since": 1795336800,
            "until": 1795337400,
            "outcomes": {"approved": 4},
            "approved_amount": 800,
            "currency": "CNY",
        },
    )
    by_topic = dict(txn[1:])
    assert len(by_topic) == len(txn) - 1, "one message per terminal"
    assert set(by_topic) == {
        "posfleet/v1/gw-1/terminal/pinpad-2/transactions",
        "posfleet/v1/gw-1/terminal/pinpad-3/transactions",
        "posfleet/v1/gw-1/terminal/pinpad-4/transactions",
        "posfleet/v1/gw-1/terminal/pinpad-7/transactions",
        "posfleet/v1/gw-1/transactions",
    }
    assert by_topic["posfleet/v1/gw-1/terminal/pinpad-3/transactions"] == {
        "v": 1,
        "gw": "gw-1",
        "terminal": "pinpad-3",
        "since": 1795338000,
        "until": 1795339200,
        "outcomes": {"approved": 7},
        "responses": {"approved": 7},
        "approved_amount": 51000,
        "currency": "CNY",
        "last_txn_at": 1795339100,
        "acquirer": "unionpay-sh",
    }
    rejected = [_without_ts(x) for x in lines if '"type":"txn_spool_rejected"' in x]
    assert [body["data"] for _, body in rejected] == [
        {"card_data": 1, "schema": 3, "malformed_json": 1}
    ]
    assert "4111" not in done.stdout + done.stderr  # neither the card-named file nor the line


def test_dry_run_after_a_crash_shows_a_journalled_window_once(tmp_path: Path) -> None:
    """A crash between the journal's write and its sources' deletion leaves both: the run
    replays the journal and deletes the sources (merged already), so it sends the window
    once; the dry run showed it a second time from the sources, as a window one second
    longer (the sent-windows record made it distinct)."""
    state, spool = tmp_path / "state", tmp_path / "spool"
    spool.mkdir()
    line = (
        '{"terminal":"pinpad-9","since":1795336800,"until":1795337400,'
        '"outcomes":{"approved":4},"approved_amount":800,"currency":"CNY"}\n'
    )
    source = spool / "0001-before-crash.jsonl"
    source.write_text(line)
    assert TxnSpool(spool, "gw-1", state / "txn-journal").scan(1795337460.0).journal is not None
    source.write_text(line)  # the crash: the journal is written, the source still there

    dry = TxnSpool(spool, "gw-1", state / "txn-journal", read_only=True).scan(1795337520.0)

    assert [(topic, body["until"]) for topic, body in dry.messages] == [
        ("posfleet/v1/gw-1/terminal/pinpad-9/transactions", 1795337400)
    ]
    assert source.read_text() == line
