"""Messages -> line protocol: measurements, tags, float fields, device time in ms."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import points as p
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from collector.sinks.schema import to_lines
from telemetry.codec import Decoded, decode

TS = datetime(2026, 11, 22, 9, 0, 0, 250_000, tzinfo=UTC)
MS = 1_795_338_000_250


def _parse(line: str) -> tuple[str, dict[str, str], dict[str, float], int]:
    head, fields, stamp = line.rsplit(" ", 2)
    measurement, *tags = head.split(",")
    return (
        measurement,
        dict(t.split("=", 1) for t in tags),
        {k: float(v) for k, v in (f.split("=", 1) for f in fields.split(","))},
        int(stamp),
    )


def test_heartbeat_becomes_one_point_with_gateway_and_terminal_tags_and_float_fields() -> None:
    [line] = to_lines(p.heartbeat("gw-1", 7, TS, terminal="t-9"))
    measurement, tags, fields, stamp = _parse(line)
    assert measurement == "heartbeat"
    assert tags == {"gateway": "gw-1", "terminal": "t-9"}
    assert fields == {"interval": 1.0, "load1": 0.07, "mem_used_pct": 42.5, "seq": 7.0}
    assert stamp == MS


def test_integers_and_booleans_are_written_as_floats_so_field_types_never_conflict() -> None:
    [line] = to_lines(p.hardware("gw-1", TS, "t-1"))
    assert "battery_cycles=311.0" in line
    assert "charging=0.0" in line
    assert " 311i" not in line
    assert "=311i" not in line


def test_enums_and_versions_are_tags_and_free_text_never_is() -> None:
    _, net_tags, net_fields, _ = _parse(to_lines(p.network("gw-1", TS))[0])
    assert net_tags["link"] == "cellular"
    assert net_fields["dns_ok"] == 1.0
    [ev] = to_lines(p.event("gw-1", TS))
    _, ev_tags, ev_fields, _ = _parse(ev)
    assert ev_tags == {"gateway": "gw-1", "type": "card_reader_error", "severity": "error"}
    assert ev_fields == {"count": 1.0, "data_code": 17.0, "data_retries": 2.0}
    assert "free text" not in ev


def test_status_records_up_as_a_number_and_the_offline_reason_as_a_tag() -> None:
    _, tags, fields, _ = _parse(to_lines(p.status("gw-1", TS, online=False))[0])
    assert tags == {"gateway": "gw-1", "state": "offline", "reason": "connection_lost"}
    assert fields == {"up": 0.0}


def test_inventory_tags_are_added_but_cannot_replace_the_gateway() -> None:
    [line] = to_lines(p.network("gw-1", TS), {"site": "Lyon", "gateway": "evil", "region": ""})
    _, tags, _, _ = _parse(line)
    assert tags == {"gateway": "gw-1", "link": "cellular", "site": "Lyon"}


def test_escaping_matches_influxdb_client_point_for_spaces_commas_and_equals() -> None:
    [line] = to_lines(p.firmware("gw-1", TS), {"site": "Gare, Hall 2"})
    expected = (
        Point("firmware")
        .tag("gateway", "gw-1")
        .tag("model", "A920 Pro")
        .tag("os", "Android 10")
        .tag("payment_app", "pay=2.1")
        .tag("site", "Gare, Hall 2")
        .field("reported", 1.0)
        .time(TS, WritePrecision.MS)
        .to_line_protocol()
    )
    # Point prints 1.0 as "1" and truncates the float timestamp; the series key must match.
    assert line.split(" reported=")[0] == expected.split(" reported=")[0]


def test_a_message_with_no_numeric_value_produces_no_point() -> None:
    from telemetry.codec import Decoded
    from telemetry.models import Network
    from telemetry.topics import Kind, TopicRef

    bare = Decoded(TopicRef("gw-1", Kind.NETWORK), Network(gw="gw-1", ts=TS))
    assert to_lines(bare) == []


def test_an_offline_reason_this_version_does_not_know_is_one_bounded_tag_value() -> None:
    from telemetry.codec import Decoded, decode

    lines = []
    for reason in ("power_cut", "brownout", "upgrade"):
        body = (
            '{"v":1,"gw":"gw-1","ts":1795338000.25,"state":"offline","session":2,'
            f'"reason":"{reason}"}}'
        )
        decoded = decode("posfleet/v1/gw-1/status", body.encode())
        assert isinstance(decoded, Decoded), decoded
        [line] = to_lines(decoded)
        lines.append(_parse(line)[1]["reason"])
    assert lines == ["other", "other", "upgrade"]


def test_transaction_aggregates_become_one_point_of_counts_and_amounts() -> None:
    body = {
        "v": 1,
        "gw": "gw-1",
        "terminal": "t-1",
        "ts": TS.isoformat(),
        "since": "2026-11-22T08:40:00+00:00",
        "until": "2026-11-22T09:00:00+00:00",
        "outcomes": {"approved": 12, "declined": 1},
        "responses": {"approved": 12, "issuer_unavailable": 1},
        "approved_amount": 45600,
        "currency": "CNY",
        "acquirer": "unionpay-sh",
    }
    decoded = decode("posfleet/v1/gw-1/terminal/t-1/transactions", json.dumps(body).encode())
    assert isinstance(decoded, Decoded)
    [line] = to_lines(decoded)
    measurement, tags, fields, stamp = _parse(line)
    assert measurement == "transactions"
    assert tags == {
        "gateway": "gw-1",
        "terminal": "t-1",
        "currency": "CNY",
        "acquirer": "unionpay-sh",
    }
    assert fields["outcome_approved"] == 12.0
    assert fields["outcome_timed_out"] == 0.0
    assert fields["class_issuer_unavailable"] == 1.0
    assert (fields["approved_amount"], fields["refunded_amount"]) == (45600.0, 0.0)
    assert fields["window_s"] == 1200.0
    assert stamp == MS
