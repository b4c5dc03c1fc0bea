"""The transactions kind's cellular data at the agent's defaults, from a realistic encoded
message: under 40 KB per terminal per day, and the figures docs/protocol.md states."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from agent.config import AgentSettings
from bench.agent_footprint import mqtt_publish_bytes, txn_budget

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = " ".join((ROOT / "docs" / "protocol.md").read_text().split())


def _default_interval() -> float:
    (f,) = [f for f in dataclasses.fields(AgentSettings) if f.name == "txn_interval"]
    return float(f.default)  # type: ignore[arg-type]


def test_an_mqtt_publish_is_counted_with_its_headers_and_puback() -> None:
    # 1 fixed header + 1 length + (2 + 5 topic + 2 packet id + 3 payload) + 4 PUBACK
    assert mqtt_publish_bytes("a/b/c", b"xyz") == 1 + 1 + 12 + 4
    assert mqtt_publish_bytes("t", b"x" * 200) == 1 + 2 + (2 + 1 + 2 + 200) + 4


def test_a_terminal_taking_money_all_day_stays_under_40_kb_at_the_defaults() -> None:
    budget = txn_budget(interval_s=_default_interval())
    assert budget["messages_per_day"] == 86400 / _default_interval()
    assert budget["bytes_per_day"] < 40_000
    assert budget["publish_bytes"] > 300, "a realistic window, not an empty one"


def test_the_protocol_doc_states_the_computed_figures() -> None:
    budget = txn_budget(interval_s=_default_interval())
    m = re.search(
        r"is (\d+) bytes as an MQTT PUBLISH with its PUBACK \((\d+) with a batch close\): "
        r"(\d+) windows a day, one of them closing the batch, is \*\*([\d,]+) bytes",
        PROTOCOL,
    )
    assert m, "docs/protocol.md no longer states the transactions data budget"
    assert int(m[1]) == budget["publish_bytes"]
    assert int(m[2]) == budget["publish_bytes_with_batch"]
    assert int(m[3]) == budget["messages_per_day"]
    assert int(m[4].replace(",", "")) == budget["bytes_per_day"]
    assert f"every `txn_interval` ({round(_default_interval() / 60)} min by default)" in PROTOCOL
