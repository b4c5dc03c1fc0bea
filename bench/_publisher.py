"""Publish a burst of valid heartbeats as fast as the broker takes them (run as a subprocess).

usage: python bench/_publisher.py PORT GATEWAYS PER_GATEWAY
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry import Heartbeat, Kind, encode, topic_for


def main() -> None:
    port, gateways, per = (int(a) for a in sys.argv[1:4])
    ts = datetime.now(UTC).replace(microsecond=0)
    msgs = [
        (
            topic_for(f"gw-{g:05d}", Kind.HEARTBEAT),
            encode(Heartbeat(gw=f"gw-{g:05d}", ts=ts, session=1, seq=s, interval=60)),
        )
        for s in range(per)
        for g in range(gateways)
    ]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    # Payloads are built and the connection is up: the measured burst starts on "go".
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    last = None
    for topic, payload in msgs:
        info = c.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise SystemExit(f"publish failed rc={info.rc}")
        last = info
    assert last is not None
    last.wait_for_publish(120)
    print(f"published {len(msgs)} in {time.monotonic() - t0:.3f}s", flush=True)
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    main()
