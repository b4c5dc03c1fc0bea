"""Topic parsing, the first check every message meets (pure logic)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent import contract
from telemetry.topics import Kind, TopicRef, parse_topic, topic_for, valid_id


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("posfleet/v1/gw-1/heartbeat", TopicRef("gw-1", Kind.HEARTBEAT)),
        ("posfleet/v1/gw.a_b-2/status", TopicRef("gw.a_b-2", Kind.STATUS)),
        (
            "posfleet/v1/gw-1/terminal/T-9/hardware",
            TopicRef("gw-1", Kind.HARDWARE, "T-9"),
        ),
    ],
)
def test_our_topics_parse(topic: str, expected: TopicRef) -> None:
    ref = parse_topic(topic)
    assert ref == expected
    assert ref is not None
    assert type(ref.kind) is Kind
    assert topic_for(ref.gateway_id, ref.kind, ref.terminal_id) == topic


@pytest.mark.parametrize(
    "topic",
    [
        "posfleet/v2/gw-1/heartbeat",  # another version
        "posfleet/v1x/gw-1/heartbeat",
        "other/v1/gw-1/heartbeat",
        "posfleet/v1/gw-1",  # no kind
        "posfleet/v1/gw-1/beat",  # unknown kind
        "posfleet/v1/gw-1/HEARTBEAT",
        "posfleet/v1/-gw/heartbeat",  # id must start with a letter or digit
        "posfleet/v1/gw-1\n/heartbeat",  # a trailing newline is not part of an id
        "posfleet/v1/gw 1/heartbeat",
        "posfleet/v1//heartbeat",
        "posfleet/v1/" + "g" * 65 + "/heartbeat",  # ids are at most 64 characters
        "posfleet/v1/gw-1/terminal/T-9",  # terminal without kind
        "posfleet/v1/gw-1/termnal/T-9/hardware",
        "posfleet/v1/gw-1/terminal/T-9\n/hardware",
        "posfleet/v1/gw-1/terminal/T-9/hardware/extra",
        "posfleet/v1/gw-1/heartbeat/extra",
        "",
    ],
)
def test_other_topics_are_not_ours(topic: str) -> None:
    assert parse_topic(topic) is None


@pytest.mark.parametrize("check", [valid_id, contract.valid_id])
def test_ids_refuse_a_trailing_newline_in_the_collector_and_the_agent(
    check: Callable[[str], bool],
) -> None:
    assert check("gw-1")
    assert not check("gw-1\n")
    assert not check("")
    assert check("g" * 64)
    assert not check("g" * 65)
