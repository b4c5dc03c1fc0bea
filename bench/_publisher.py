"""Publish a burst of valid messages as fast as the broker takes them (run as a subprocess);
the message mixes bench/ingest.py measures.

usage: python bench/_publisher.py PORT GATEWAYS PER_GATEWAY [MIX]

MIX ``heartbeats`` (the default): PER_GATEWAY heartbeats from each gateway. MIX
``transactions``: what a payment fleet sends at the agent's defaults (agent/config.py): a
heartbeat every ``heartbeat_interval`` per gateway and, per terminal behind it, a
``transactions`` window every ``txn_interval`` (outcomes, response classes, amounts, acquirer;
one window a day also closes the terminal's batch), PER_GATEWAY messages per gateway.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry import Heartbeat, Kind, encode, topic_for
from telemetry.models import BatchClose, Outcomes, Responses, Transactions

MIXES = ("heartbeats", "transactions")
TERMINALS_PER_GATEWAY = 4  # a store router with four PIN pads (docs/DESIGN "Parts")
ACQUIRERS = ("unionpay-sh", "unionpay-bj", "lakala")


def gateway_id(g: int) -> str:
    return f"gw-{g:05d}"


def terminal_id(g: int, j: int) -> str:
    return f"pp-{g:05d}-{j}"


def _agent_default(name: str) -> float:
    from agent.config import AgentSettings

    (f,) = [f for f in dataclasses.fields(AgentSettings) if f.name == name]
    return float(f.default)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Mix:
    """The transaction mix's proportions: one cycle of a gateway's traffic is one
    ``txn_window_s``, with its heartbeats and one window per terminal (staggered)."""

    heartbeat_s: float
    txn_window_s: float
    terminals_per_gateway: int = TERMINALS_PER_GATEWAY

    @classmethod
    def agent_defaults(cls, terminals_per_gateway: int = TERMINALS_PER_GATEWAY) -> Mix:
        return cls(
            _agent_default("heartbeat_interval"),
            _agent_default("txn_interval"),
            terminals_per_gateway,
        )

    @property
    def heartbeats_per_cycle(self) -> int:
        n = self.txn_window_s / self.heartbeat_s
        if not n.is_integer():
            raise ValueError("the transaction window must be a whole number of heartbeats")
        return int(n)

    @property
    def windows_per_day(self) -> int:
        return round(86_400 / self.txn_window_s)  # one of them closes the batch

    def cycle(self) -> list[tuple[float, int | None]]:
        """One cycle in time order: (offset s, None for a heartbeat or the terminal)."""
        beats = [(k * self.heartbeat_s, None) for k in range(self.heartbeats_per_cycle)]
        step = self.txn_window_s / self.terminals_per_gateway
        windows: list[tuple[float, int | None]] = [
            ((j + 1) * step, j) for j in range(self.terminals_per_gateway)
        ]
        return sorted(beats + windows, key=lambda e: (e[0], e[1] is not None))

    def describe(self) -> dict[str, object]:
        hb_h = 3600 / self.heartbeat_s
        win_h = 3600 / self.txn_window_s * self.terminals_per_gateway
        return {
            "heartbeat_interval_s": self.heartbeat_s,
            "txn_interval_s": self.txn_window_s,
            "terminals_per_gateway": self.terminals_per_gateway,
            "per_gateway_hour": {"heartbeats": hb_h, "transactions_windows": win_h},
            "transactions_share": round(win_h / (hb_h + win_h), 4),
            "batch_close": f"one window in {self.windows_per_day} per terminal (one a day)",
        }


def heartbeats(gateways: int, per: int, ts: datetime) -> list[tuple[str, bytes]]:
    """Today's backlog: ``per`` heartbeats per gateway (interval 60 s), gateways interleaved."""
    return [
        (
            topic_for(gateway_id(g), Kind.HEARTBEAT),
            encode(Heartbeat(gw=gateway_id(g), ts=ts, session=1, seq=s, interval=60)),
        )
        for s in range(per)
        for g in range(gateways)
    ]


def _window(
    mix: Mix, g: int, j: int, n: int, until: datetime, ts: datetime, closes: bool
) -> Transactions:
    """Terminal ``j`` of gateway ``g``: its ``n``-th window, a busy lane's counts; ``closes``:
    it also closes the terminal's batch."""
    rnd = random.Random(g * 1009 + j * 101 + n)
    approved = rnd.randint(20, 200)
    declined, reversed_, timed_out = rnd.randint(0, 12), rnd.randint(0, 2), rnd.randint(0, 1)
    cardholder = rnd.randint(0, declined)
    t = g * mix.terminals_per_gateway + j
    batch = None
    if closes:
        batch = BatchClose(
            id=f"B{g:05d}-{j}-{n:04d}",  # letters: never taken for a card number
            count=approved * mix.windows_per_day,
            amount=approved * mix.windows_per_day * rnd.randint(3000, 9000),
            currency="CNY",
            closed_at=until - timedelta(seconds=30),
        )
    return Transactions(
        gw=gateway_id(g),
        terminal=terminal_id(g, j),
        ts=ts,
        since=until - timedelta(seconds=mix.txn_window_s),
        until=until,
        outcomes=Outcomes(
            approved=approved, declined=declined, reversed=reversed_, timed_out=timed_out
        ),
        responses=Responses(
            approved=approved,
            cardholder_decline=cardholder,
            issuer_unavailable=declined - cardholder + timed_out,
        ),
        approved_amount=approved * rnd.randint(3000, 9000),
        refunded_amount=rnd.choice((0, 0, 0, 2500)),
        currency="CNY",
        last_txn_at=until - timedelta(seconds=rnd.randint(1, 60)),
        acquirer=ACQUIRERS[t % len(ACQUIRERS)],
        batch=batch,
    )


def transactions(gateways: int, per: int, ts: datetime, mix: Mix) -> list[tuple[str, bytes]]:
    """``per`` messages per gateway from its timeline at ``mix``'s rates, each gateway starting
    at its own place in the cycle (so across a fleet the kinds come in ``mix``'s proportion),
    gateways interleaved as in ``heartbeats``. Windows end in the past; every message is sent
    now (``ts``), as a backlog delivered at once."""
    cycle = mix.cycle()
    size = len(cycle)
    span = (per // size + 2) * mix.txn_window_s  # every window ends before ts
    streams: list[list[tuple[str, bytes]]] = []
    windows = 0
    for g in range(gateways):
        gw = gateway_id(g)
        stream = []
        for i in range(g % size, g % size + per):
            c, at = divmod(i, size)
            offset, j = cycle[at]
            if j is None:
                seq = c * mix.heartbeats_per_cycle + int(offset // mix.heartbeat_s)
                hb = Heartbeat(gw=gw, ts=ts, session=1, seq=seq, interval=mix.heartbeat_s)
                stream.append((topic_for(gw, Kind.HEARTBEAT), encode(hb)))
            else:
                until = ts - timedelta(seconds=span - c * mix.txn_window_s - offset)
                # Every windows_per_day-th window of the fleet closes a batch: one a day per
                # terminal, each terminal at its own hour (one per terminal at most here).
                closes = windows % mix.windows_per_day == 0
                windows += 1
                win = _window(mix, g, j, c, until, ts, closes)
                stream.append((topic_for(gw, Kind.TRANSACTIONS, terminal_id(g, j)), encode(win)))
        streams.append(stream)
    return [streams[g][s] for s in range(per) for g in range(gateways)]


def build(mix: str, gateways: int, per: int, ts: datetime | None = None) -> list[tuple[str, bytes]]:
    """The backlog of ``mix``: (topic, payload) in publishing order."""
    ts = ts or datetime.now(UTC).replace(microsecond=0)
    if mix == "heartbeats":
        return heartbeats(gateways, per, ts)
    if mix == "transactions":
        return transactions(gateways, per, ts, Mix.agent_defaults())
    raise ValueError(f"mix: one of {', '.join(MIXES)}, not {mix!r}")


def main() -> None:
    port, gateways, per = (int(a) for a in sys.argv[1:4])
    msgs = build(sys.argv[4] if len(sys.argv) > 4 else "heartbeats", gateways, per)
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
