"""posfleet wire contract: topic layout, versioned message models, clock. No I/O."""

from telemetry.clock import Clock, FakeClock, SystemClock
from telemetry.codec import MAX_PAYLOAD_BYTES, Decoded, Rejected, RejectReason, decode, encode
from telemetry.models import (
    Event,
    Firmware,
    Hardware,
    Heartbeat,
    Message,
    Network,
    Status,
    Transactions,
)
from telemetry.topics import ROOT, Kind, TopicRef, parse_topic, topic_for

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "ROOT",
    "Clock",
    "Decoded",
    "Event",
    "FakeClock",
    "Firmware",
    "Hardware",
    "Heartbeat",
    "Kind",
    "Message",
    "Network",
    "RejectReason",
    "Rejected",
    "Status",
    "SystemClock",
    "TopicRef",
    "Transactions",
    "decode",
    "encode",
    "parse_topic",
    "topic_for",
]
