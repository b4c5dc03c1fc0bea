"""The sink against a real InfluxDB 2, for users who have one.

Runs only when INFLUXDB_URL, INFLUXDB_TOKEN and INFLUXDB_ORG are set (INFLUXDB_BUCKET
optional, default ``posfleet``); this is the one documented skip (docs/influx.md):
no InfluxDB 2 server can be installed on the project's CI machines.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import points as p
import pytest
from prometheus_client import CollectorRegistry

from collector.sinks.influx import build_influx_sink
from collector.sinks.settings import InfluxSettings
from simulators.stack.wait import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not all(os.environ.get(k) for k in ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_ORG")),
        reason="set INFLUXDB_URL, INFLUXDB_TOKEN, INFLUXDB_ORG to test against InfluxDB 2",
    ),
]


def test_points_written_through_the_sink_are_read_back_with_flux(tmp_path: Path) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient

    url, token, org = (os.environ[k] for k in ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_ORG"))
    bucket = os.environ.get("INFLUXDB_BUCKET", "posfleet")
    gateway = f"test-{uuid.uuid4().hex[:12]}"  # this run's series only
    settings = InfluxSettings(
        enabled=True,
        url=url,
        org=org,
        bucket=bucket,
        token=token,
        buffer_path=tmp_path / "buffer.sqlite",
        flush_interval_s=0.1,
    )
    registry = CollectorRegistry()
    sink = build_influx_sink(settings, registry)
    assert sink is not None
    ts = p.recent()
    sink.submit(p.heartbeat(gateway, 7, ts), ts)
    sink.submit(p.firmware(gateway, ts), ts)
    wait_for(
        lambda: (
            registry.get_sample_value("posfleet_influx_points_total", {"result": "written"}) == 2
        ),
        15,
        what="2 points acknowledged by InfluxDB",
    )
    sink.close()
    flux = (
        f'from(bucket: "{bucket}") |> range(start: -1d)'
        f' |> filter(fn: (r) => r.gateway == "{gateway}")'
    )
    with InfluxDBClient(url=url, token=token, org=org) as client:
        rows = {
            (r.get_measurement(), r.get_field()): (r.get_value(), r.values.get("model"))
            for table in client.query_api().query(flux)
            for r in table.records
        }
    assert rows[("heartbeat", "seq")] == (7.0, None)
    assert rows[("heartbeat", "load1")] == (0.07, None)
    assert rows[("firmware", "reported")] == (1.0, "A920 Pro")
