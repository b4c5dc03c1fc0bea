"""Probes: small units that read one aspect of the gateway from injectable roots/commands.

A probe returns a dict of message fields. A probe that fails raises; :func:`run_probes`
turns that into an entry of the message's ``errors`` field so the others still report.
Sub-readings inside a probe (the modem, the printer) do the same with ``partial``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Fields = dict[str, Any]
Runner = Callable[[Sequence[str]], str]


class ProbeError(Exception):
    """A reading could not be taken; the message goes into ``errors``."""


@dataclass
class Reading:
    fields: Fields = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Reading) -> None:
        self.fields.update(other.fields)
        self.errors.update(other.errors)


class Probe(Protocol):
    name: str

    def read(self) -> Reading: ...


def run_command(argv: Sequence[str], timeout: float = 5.0) -> str:
    """The default command runner: stdout of ``argv``, or :class:`ProbeError`."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise ProbeError(f"{argv[0]}: not installed") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProbeError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        raise ProbeError(f"{argv[0]} exited {done.returncode}: {err[0] if err else ''}"[:300])
    return done.stdout


def run_probes(probes: Iterable[Probe]) -> Reading:
    """Read every probe; one probe's failure is recorded and never stops the others."""
    total = Reading()
    for probe in probes:
        try:
            total.merge(probe.read())
        except Exception as exc:  # a probe bug must not silence the agent
            total.errors[probe.name] = f"{type(exc).__name__}: {exc}"[:500]
    return total


def partial(reading: Reading, name: str, fn: Callable[[], Fields]) -> None:
    """Run one sub-reading into ``reading``; its failure is recorded under ``name``."""
    try:
        reading.fields.update(fn())
    except Exception as exc:
        reading.errors[name] = str(exc)[:500] or type(exc).__name__
