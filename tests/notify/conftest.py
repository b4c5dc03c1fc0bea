"""Fixtures for posfleet-notify: an in-process relay on a shared fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from notify_fakes import SharedClock, write_config
from prometheus_client import CollectorRegistry

from notify.config import load
from notify.server import Relay


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture
def make_relay(tmp_path: Path, clock: SharedClock) -> Iterator[Callable[..., Relay]]:
    """``make_relay(channels, routes=None, **relay_settings)``: started HTTP side, sender
    driven by hand with ``relay.sender.pump()`` on the fake clock."""
    relays: list[Relay] = []

    def make(
        channels: dict[str, dict[str, Any]],
        routes: dict[str, list[str]] | None = None,
        **relay: Any,
    ) -> Relay:
        cfg = load(write_config(tmp_path / f"relay{len(relays)}", channels, routes, **relay))
        r = Relay(cfg, CollectorRegistry(), clock=clock).start(sender=False)
        relays.append(r)
        return r

    yield make
    for r in relays:
        r.stop()
