"""Terminals behind the gateway: a plugin interface through Python entry points.

A terminal vendor ships a package declaring, in its pyproject::

    [project.entry-points."posfleet.terminal_probes"]
    acme_pinpad = "acme_posfleet:PinPadProbe"

The entry point is a zero-argument callable (usually a class) returning an object with
``name`` and ``collect() -> list[TerminalReading]``. Each reading becomes a message on
``posfleet/v1/{gw}/terminal/{terminal_id}/{kind}``; the agent fills ``gw``, ``ts`` and,
for heartbeats, ``session``/``seq``/``interval``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

GROUP = "posfleet.terminal_probes"
log = logging.getLogger(__name__)


@dataclass
class TerminalReading:
    terminal_id: str
    kind: str  # "heartbeat", "network", "firmware", "hardware" or "event"
    fields: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class TerminalProbe(Protocol):
    name: str

    def collect(self) -> list[TerminalReading]: ...


def load_plugins(group: str = GROUP) -> tuple[list[TerminalProbe], dict[str, str]]:
    """Instantiate every installed plugin; a broken plugin is an error entry, not a crash."""
    probes: list[TerminalProbe] = []
    errors: dict[str, str] = {}
    for ep in entry_points(group=group):
        try:
            probes.append(ep.load()())
        except Exception as exc:
            errors[f"plugin.{ep.name}"] = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("terminal probe plugin %s failed to load: %s", ep.name, exc)
    return probes, errors


def collect_all(probes: Iterable[TerminalProbe]) -> tuple[list[TerminalReading], dict[str, str]]:
    readings: list[TerminalReading] = []
    errors: dict[str, str] = {}
    for probe in probes:
        try:
            readings.extend(probe.collect())
        except Exception as exc:
            errors[f"plugin.{probe.name}"] = f"{type(exc).__name__}: {exc}"[:500]
    return readings, errors
