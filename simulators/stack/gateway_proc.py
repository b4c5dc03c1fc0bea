"""A process holding a few raw paho gateways (tests/bench): kill it to kill them all.

SIGKILL closes every socket at once, so the broker publishes each gateway's Last Will
immediately, like a store router losing power takes its lanes with it.

    python gateway_proc.py --port P --session N --interval S gw-1 gw-2 ...

Prints ``ready`` once every gateway is connected and its birth is acknowledged.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.topics import Kind, topic_for


def _now() -> str:
    return datetime.now(UTC).isoformat()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session", type=int, required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("gateways", nargs="+")
    args = parser.parse_args()

    born = threading.Semaphore(0)
    clients: list[mqtt.Client] = []
    for gw in args.gateways:
        status = topic_for(gw, Kind.STATUS)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw)
        client.username_pw_set(gw)
        will = {"v": 1, "gw": gw, "ts": _now(), "state": "offline", "session": args.session}
        will["reason"] = "connection_lost"
        client.will_set(status, json.dumps(will), qos=1, retain=True)

        def on_connect(
            c: mqtt.Client,
            _u: object,
            _f: object,
            rc: object,
            _p: object,
            gw: str = gw,
            status: str = status,
        ) -> None:
            birth = {"v": 1, "gw": gw, "ts": _now(), "state": "online", "session": args.session}
            info = c.publish(status, json.dumps(birth), qos=1, retain=True)

            def confirm() -> None:
                info.wait_for_publish(10)
                born.release()

            threading.Thread(target=confirm).start()

        client.on_connect = on_connect
        client.connect(args.host, args.port, keepalive=5)
        client.loop_start()
        clients.append(client)
    for _ in clients:
        if not born.acquire(timeout=20):
            print("birth not acknowledged", flush=True)
            return 1
    print("ready", flush=True)

    seq = 0
    stop = threading.Event()
    while not stop.wait(args.interval):
        seq += 1
        for client, gw in zip(clients, args.gateways, strict=True):
            beat = {
                "v": 1,
                "gw": gw,
                "ts": _now(),
                "session": args.session,
                "seq": seq,
                "interval": args.interval,
            }
            client.publish(topic_for(gw, Kind.HEARTBEAT), json.dumps(beat), qos=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
