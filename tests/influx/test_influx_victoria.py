"""The sink against a real server speaking InfluxDB's v2 write API (victoria-metrics).

VictoriaMetrics stores each field as a series ``<measurement>_<field>`` with the point's
tags as labels, so what we read back through /api/v1/export is compared with the line
protocol the sink produced for the same messages.
"""

from __future__ import annotations

import re
import socket
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import points as p
import pytest
from prometheus_client import CollectorRegistry

from collector.sinks.influx import InfluxSink, build_influx_sink
from collector.sinks.schema import to_lines
from collector.sinks.settings import InfluxSettings
from simulators.stack.victoria import VictoriaMetrics
from simulators.stack.wait import wait_for
from telemetry.codec import Decoded

pytestmark = pytest.mark.integration

Sample = tuple[str, frozenset[tuple[str, str]], int, float]


def _unescape(text: str) -> str:
    return re.sub(r"\\([ ,=])", r"\1", text)


def expected_samples(decoded: list[Decoded]) -> Counter[Sample]:
    """What VictoriaMetrics should store for these messages, parsed from line protocol."""
    out: Counter[Sample] = Counter()
    for d in decoded:
        for line in to_lines(d):
            head, fields, stamp = line.rsplit(" ", 2)
            measurement, *tags = re.split(r"(?<!\\),", head)
            pairs = (re.split(r"(?<!\\)=", t, maxsplit=1) for t in tags)
            labels = frozenset((_unescape(k), _unescape(v)) for k, v in pairs)
            for field in fields.split(","):
                name, value = field.split("=", 1)
                out[(f"{measurement}_{name}", labels, int(stamp), float(value))] += 1
    return out


def stored_samples(vm: VictoriaMetrics, match: str) -> Counter[Sample]:
    out: Counter[Sample] = Counter()
    for labels, stamp, value in vm.samples(match):
        labels = dict(labels)  # samples of one series share their label dict
        name = labels.pop("__name__")
        out[(name, frozenset(labels.items()), stamp, value)] += 1
    return out


def settings_for(url: str, tmp_path: Path, **kw: object) -> InfluxSettings:
    values: dict[str, object] = {
        "enabled": True,
        "url": url,
        "org": "posfleet",
        "bucket": "telemetry",
        "token": "unused-by-victoria-metrics",
        "buffer_path": tmp_path / "influx-buffer.sqlite",
        "batch_size": 100,
        "flush_interval_s": 0.05,
        "retry_initial_s": 0.1,
        "retry_max_s": 0.5,
        "timeout_s": 2.0,
    }
    values.update(kw)
    return InfluxSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sink(
    victoria: VictoriaMetrics, tmp_path: Path, registry: CollectorRegistry
) -> Iterator[InfluxSink]:
    built = build_influx_sink(settings_for(victoria.url, tmp_path), registry)
    assert built is not None
    yield built
    built.close(timeout=2.0)


def _count(registry: CollectorRegistry, result: str) -> float:
    return registry.get_sample_value("posfleet_influx_points_total", {"result": result}) or 0.0


def test_every_message_kind_is_stored_with_its_tags_values_and_device_time(
    victoria: VictoriaMetrics, sink: InfluxSink, registry: CollectorRegistry
) -> None:
    ts = p.recent()
    messages = [
        p.heartbeat("gw-1", 5, ts, terminal="t-1"),
        p.network("gw-1", ts),
        p.hardware("gw-1", ts, "t-1"),
        p.status("gw-1", ts, online=False),
        p.firmware("gw-1", ts),
        p.event("gw-1", ts),
    ]
    for m in messages:
        sink.submit(m, ts)
    want = expected_samples(messages)
    assert sum(want.values()) == 15  # 4 + 3 + 3 + 1 + 1 + 3 numeric fields
    got = wait_for(
        lambda: (s := stored_samples(victoria, '{gateway="gw-1"}')) == want and s,
        10,
        what="every sample readable from victoria-metrics",
    )
    assert (
        got[
            (
                "hardware_battery_pct",
                frozenset({("gateway", "gw-1"), ("terminal", "t-1"), ("printer", "paper_low")}),
                int(ts.timestamp() * 1000),
                64.0,
            )
        ]
        == 1
    )
    assert _count(registry, "written") == 6
    assert sink.health()["ok"] is True


def test_outage_drill_every_point_arrives_once_and_submit_never_waits(
    victoria: VictoriaMetrics, sink: InfluxSink, registry: CollectorRegistry
) -> None:
    base = p.recent(seconds_ago=3600)
    sent: list[Decoded] = []
    latencies: list[float] = []

    def ingest(n: int) -> None:
        for _ in range(n):
            seq = len(sent)
            d = p.heartbeat(f"gw-{seq % 5}", seq, base + timedelta(seconds=seq))
            started = time.monotonic()
            sink.submit(d, base)
            latencies.append(time.monotonic() - started)
            sent.append(d)

    ingest(100)
    wait_for(lambda: _count(registry, "written") == 100, 10, what="first 100 points written")

    victoria.stop()
    during_outage = len(latencies)
    ingest(300)
    wait_for(lambda: sink.health()["buffered_points"] > 0, 10, what="points buffered on disk")
    outage_latencies = latencies[during_outage:]
    health = sink.health()
    assert health["ok"] is False
    assert health["last_error"]

    victoria.start()
    ingest(100)
    wait_for(lambda: _count(registry, "written") == 500, 20, what="all 500 points written")
    wait_for(lambda: sink.health()["buffered_points"] == 0, 10, what="buffer drained")

    want = expected_samples(sent)
    got = wait_for(
        lambda: (s := stored_samples(victoria, '{__name__=~"heartbeat_.*"}')) == want and s,
        15,
        what="every point stored exactly once",
    )
    assert max(got.values()) == 1
    assert _count(registry, "buffered") >= 300
    assert _count(registry, "dropped") == 0
    # The processing loop's cost per message stays sub-millisecond while InfluxDB is down.
    assert statistics.median(outage_latencies) < 0.001
    assert max(outage_latencies) < 0.05


def test_a_server_that_accepts_connections_but_never_answers_does_not_slow_submit(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    # A listening socket nobody accepts from: TCP connects, the HTTP answer never comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        sink = build_influx_sink(settings_for(url, tmp_path, timeout_s=0.3), registry)
        assert sink is not None
        ts = p.recent()
        started = time.monotonic()
        for seq in range(200):
            sink.submit(p.heartbeat("gw-1", seq, ts + timedelta(seconds=seq)), ts)
        assert time.monotonic() - started < 0.2
        wait_for(lambda: sink.health()["buffered_points"] == 200, 10, what="points buffered")
        assert "timeout" in str(sink.health()["last_error"]).lower()
        sink.close(timeout=0.5)
    assert _count(registry, "dropped") == 0
