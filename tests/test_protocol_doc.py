"""Every JSON example in docs/protocol.md goes through the real decoder, so the doc cannot rot."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.codec import Decoded, Rejected, decode
from telemetry.topics import Kind, parse_topic

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
BLOCK = re.compile(r"```json((?: \w+=\S+)+)\n(.*?)\n```", re.S)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def examples() -> list[tuple[dict[str, str], str]]:
    found = []
    for attrs, body in BLOCK.findall(DOC.read_text()):
        meta = dict(a.split("=", 1) for a in attrs.split())
        found.append((meta, body))
    return found


EXAMPLES = examples()


def test_every_json_block_in_the_doc_names_its_topic() -> None:
    assert DOC.read_text().count("```json") == len(EXAMPLES)
    assert all("topic" in meta for meta, _ in EXAMPLES)


@pytest.mark.parametrize(
    ("meta", "body"),
    [e for e in EXAMPLES if "reject" not in e[0]],
    ids=lambda v: v.get("topic", "") if isinstance(v, dict) else "",
)
def test_documented_example_is_accepted_by_the_decoder(meta: dict[str, str], body: str) -> None:
    result = decode(meta["topic"], body.encode(), now=NOW)
    assert isinstance(result, Decoded), result


@pytest.mark.parametrize(
    ("meta", "body"),
    [e for e in EXAMPLES if "reject" in e[0]],
    ids=lambda v: v.get("reject", "") if isinstance(v, dict) else "",
)
def test_documented_rejection_is_rejected_for_that_reason(meta: dict[str, str], body: str) -> None:
    result = decode(meta["topic"], body.encode(), now=NOW)
    assert isinstance(result, Rejected)
    assert result.reason.value == meta["reject"], result.detail


def test_every_message_kind_has_an_accepted_example_and_terminals_are_covered() -> None:
    kinds = set()
    terminal = False
    for meta, _ in EXAMPLES:
        if "reject" in meta:
            continue
        ref = parse_topic(meta["topic"])
        assert ref is not None
        kinds.add(ref.kind)
        terminal = terminal or ref.terminal_id is not None
    assert kinds == set(Kind)
    assert terminal


def test_every_offline_reason_and_status_state_is_documented() -> None:
    from telemetry.models import OfflineReason

    text = DOC.read_text()
    for reason in OfflineReason:
        assert f"`{reason.value}`" in text or f'"{reason.value}"' in text, reason


def test_every_rejection_reason_is_documented() -> None:
    from telemetry.codec import RejectReason

    text = DOC.read_text()
    for reason in RejectReason:
        assert f"`{reason.value}`" in text, reason
