"""Send malformed and spoofed messages at a broker, from a process of its own.

    python -m simulators.scenarios.inject --port 1883 --target gw-00001 --spoofed gw-00002 \\
        --session 3 --count 5 [--kinds malformed_json,schema,...]

Used by the scenario runner's ``bad_input`` step. Exit status 1 when the broker did not
acknowledge every message (QoS 1) or dropped the connection.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.scenarios.spec import BAD_INPUTS
from telemetry import Heartbeat, Kind, Status, encode, topic_for
from telemetry.models import LinkState, OfflineReason


def bad_messages(a: str, b: str, session: int, kind: str) -> tuple[str, bytes]:
    """One message of a bad-input kind, aimed at gateway ``a`` (``b``: the spoofed id)."""
    now = datetime.now(UTC)
    hb_topic = topic_for(a, Kind.HEARTBEAT)
    if kind == "malformed_json":
        return hb_topic, b'{"v": 1, "gw": "' + a.encode() + b'", "ts": '
    if kind == "schema":
        return hb_topic, json.dumps({"v": 1, "gw": a, "ts": now.isoformat(), "seq": "x"}).encode()
    if kind == "oversized":
        return hb_topic, json.dumps({"v": 1, "gw": a, "pad": "x" * 64_000}).encode()
    if kind == "unknown_topic":
        return f"posfleet/v1/{a}/bogus", b"{}"
    if kind == "gateway_mismatch":  # a spoofed "offline" for b, sent on a's topic
        spoof = Status(
            gw=b,
            ts=now,
            state=LinkState.OFFLINE,
            session=10**6,
            reason=OfflineReason.CONNECTION_LOST,
        )
        return topic_for(a, Kind.STATUS), encode(spoof)
    if kind == "non_finite":
        body = f'{{"v": 1, "gw": "{a}", "ts": "{now.isoformat()}", "link": "ethernet", '
        return topic_for(a, Kind.NETWORK), (body + '"latency_ms": NaN}').encode()
    if kind == "future_timestamp":
        hb = Heartbeat(
            gw=a, ts=now + timedelta(days=1), session=session, seq=0, interval=5, historical=True
        )
        return hb_topic, encode(hb)
    if kind == "stale_session":  # a replayed will of an older connection
        old = Status(
            gw=a,
            ts=now,
            state=LinkState.OFFLINE,
            session=max(0, session - 1),
            reason=OfflineReason.CONNECTION_LOST,
        )
        return topic_for(a, Kind.STATUS), encode(old)
    raise ValueError(kind)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m simulators.scenarios.inject")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target", required=True, help="the gateway whose topics are used")
    ap.add_argument("--spoofed", required=True, help="the gateway a spoofed message names")
    ap.add_argument("--session", type=int, default=1, help="the target's current session")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(BAD_INPUTS))
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"posfleet-inject-{time.time_ns()}")
    lost: list[str] = []
    c.on_disconnect = lambda _c, _u, _f, rc, _p: lost.append(str(rc))
    c.connect(args.host, args.port)
    c.loop_start()
    deadline = time.monotonic() + 60
    while not c.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    infos = [
        c.publish(*bad_messages(args.target, args.spoofed, args.session, kind), qos=1)
        for kind in kinds
        for _ in range(args.count)
    ]
    while not all(i.is_published() for i in infos) and time.monotonic() < deadline and not lost:
        time.sleep(0.05)
    acked = sum(1 for i in infos if i.is_published())
    dropped = list(lost)  # what the broker did, not our own goodbye below
    c.disconnect()
    c.loop_stop()
    print(json.dumps({"sent": len(infos), "acked": acked, "dropped": dropped}))
    if acked < len(infos) or dropped:
        print(f"{acked} of {len(infos)} acknowledged; dropped: {dropped}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
