"""Extension points of the collector's processing loop.

The processing loop (collector core) owns MQTT, decoding, liveness and the store. Two
kinds of plug-ins hang off it and are passed in by ``collector.main``:

- a ``Listener`` (the alert engine) sees every accepted message, every liveness
  transition, and a periodic ``tick``; it runs on the processing thread, with the batch's
  single ``now``, and must be fast (no network I/O);
- a ``TelemetrySink`` (InfluxDB) receives accepted telemetry and must never block or
  raise into the loop: it buffers and reports its own health.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from collector.model import Transition
from collector.store import db
from telemetry.codec import Decoded


class Listener(Protocol):
    def on_messages(
        self, conn: db.Connection, messages: Sequence[tuple[Decoded, datetime]], now: datetime
    ) -> None:
        """Accepted messages of one batch with their receipt times, inside the batch transaction."""

    def on_transitions(
        self, conn: db.Connection, transitions: Sequence[Transition], now: datetime
    ) -> None:
        """Liveness transitions of one batch/tick, inside the same transaction as their rows."""

    def tick(self, conn: db.Connection, now: datetime) -> None:
        """Called about once a second: time-based rules (pending -> firing, escalation, windows)."""


@runtime_checkable
class BatchListener(Listener, Protocol):
    def begin(self, conn: db.Connection, now: datetime) -> None:
        """Several collectors only: once per batch transaction, before the batch's calls
        (the alert leader's election and inbox, collector/alerts/shared.py)."""


class TelemetrySink(Protocol):
    def submit(self, decoded: Decoded, received_at: datetime) -> None:
        """Hand one accepted message over; must return at once."""

    def health(self) -> Mapping[str, Any]:
        """A JSON-able summary for /healthz (``ok``, buffered points, last error...)."""

    def close(self, timeout: float = 5.0) -> None:
        """Flush what can be flushed within ``timeout`` and stop."""
