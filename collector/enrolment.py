"""Who is enrolled, and what happens to ids that are not (DESIGN.md "Bad input").

The inventory (``gateways`` / ``terminals`` rows, imported from CSV) is the list of what the
fleet is. A message from an id that is not in it is neither tracked nor stored nor alerted
on: it is rejected (``unregistered``) and *listed for enrolment* (the ``enrolment`` table,
bounded, least recently seen dropped first), so an operator can see it and import it.

- A gateway not in the inventory: its whole traffic, terminals included, is listed under
  the gateway id.
- A terminal not in the inventory behind an enrolled gateway (a PIN pad swapped in the
  store): listed as a terminal, with the gateway that reported it. An unknown PIN pad is
  something a NOC wants to see (a swapped pad is also how skimmers get in), not a device
  to page a technician about before anyone has said where it belongs.

Auto-enrolment is an explicit opt-in (``POSFLEET_AUTO_ENROL``): ``terminals`` enrols
unknown terminals behind enrolled gateways (they inherit the gateway's site and region, so
their pages are routed); ``all`` also enrols unknown gateways, into the region named by
``POSFLEET_AUTO_ENROL_REGION`` (default ``unassigned``, which Alertmanager's default route
sends to the NOC desk) with no site.

A terminal speaks only through the gateway the inventory puts it behind (``terminals.
gateway_id``): a message about it on another gateway's topics is rejected (``wrong_gateway``),
so gateway B can neither keep gateway A's dead PIN pad alive nor put transaction windows on
it. Moving a pad is an inventory change (import it with its new gateway, or auto-enrolment
under the first gateway that reports it, never a re-parenting by traffic).

The enrolled ids (and each terminal's gateway) live in memory: the per-message check is a
dict lookup. An id it does not hold, or a terminal reported by another gateway than the one
it holds, is looked up in the store (once per such message), so an inventory import made
while the collector runs takes effect from the id's next message. A move must also stop the
*old* gateway, whose messages match what is held: an import that moves terminals bumps a
counter in the store and stamps the moved rows with it (collector/inventory.py), and
``refresh`` (once per batch: one primary-key read) takes the rows moved since the counter
it last saw, and hands them to the processor, which re-parents them in the liveness tracker
in the same batch (``LivenessTracker.move``): the old gateway's outage no longer holds them. Re-reading every terminal's row instead would stall the processing thread,
about a second for 100,000 terminals, measured under load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from collector.model import SubjectType


class AutoEnrol(StrEnum):
    OFF = "off"
    TERMINALS = "terminals"  # terminals behind enrolled gateways
    ALL = "all"  # terminals and gateways


@dataclass(frozen=True, slots=True)
class EnrolmentSettings:
    auto: AutoEnrol = AutoEnrol.OFF
    auto_region: str = "unassigned"
    max_listed: int = 1000  # rows of the enrolment table; least recently seen dropped first


@dataclass(slots=True)
class Sighting:
    """An id not in the inventory, as seen in one batch (folded into ``enrolment`` rows)."""

    subject_type: SubjectType
    subject_id: str
    gateway_id: str  # terminals: the gateway that reported it ('' for a gateway)
    first_seen_at: datetime
    last_seen_at: datetime
    messages: int
    last_kind: str


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one message's ids."""

    unknown: tuple[SubjectType, str] | None = None  # listed for enrolment, message rejected
    enrol: tuple[tuple[SubjectType, str], ...] = ()  # auto-enrolled by this message
    # The terminal is enrolled behind this other gateway: rejected, not listed.
    owner: str | None = None


ADMITTED = Admission()

# None: not enrolled; else the gateway a terminal is enrolled behind ('' for a gateway).
Lookup = Callable[[SubjectType, str], str | None]
# Given the move counter held: the store's counter, and (terminal, its gateway now) for every
# terminal moved since (collector.store.store.Store.terminal_moves).
Moves = Callable[[int], tuple[int, list[tuple[str, str]]]]


class Enrolment:
    """The enrolled ids, in memory, with ``lookup`` (the store) asked about the others."""

    def __init__(
        self,
        lookup: Lookup,
        settings: EnrolmentSettings | None = None,
        moves: Moves | None = None,
    ) -> None:
        self.settings = settings or EnrolmentSettings()
        self._lookup = lookup
        self._moves = moves
        self._moves_seen = 0  # the store's move counter as last read (0: read them all)
        self._gateways: set[str] = set()
        self._terminals: dict[str, str] = {}  # terminal id -> the gateway it is behind

    def refresh(self) -> list[tuple[str, str]]:
        """Take the inventory's moves since the last call: a moved terminal's old gateway
        is refused from now on. Call before judging a batch's messages (received before
        the call), so a message received after the import never finds the old owner.
        Returns the moves read, (terminal id, its gateway now): the liveness tracker
        re-parents them at the same moment (collector/processor.py)."""
        if self._moves is None:
            return []
        mark, moved = self._moves(self._moves_seen)
        for terminal_id, gateway_id in moved:
            if terminal_id in self._terminals:
                self._terminals[terminal_id] = gateway_id
        self._moves_seen = mark
        return moved

    def load(self, gateways: Iterable[str], terminals: Iterable[tuple[str, str]]) -> None:
        """Add enrolled gateway ids and (terminal id, its gateway id) pairs."""
        self._gateways.update(gateways)
        self._terminals.update(terminals)

    def __len__(self) -> int:
        return len(self._gateways) + len(self._terminals)

    def _known_gateway(self, gateway_id: str) -> bool:
        if gateway_id in self._gateways:
            return True
        # Imported while we run (posfleet-collector import-inventory, the console): from now on.
        if self._lookup(SubjectType.GATEWAY, gateway_id) is not None:
            self._gateways.add(gateway_id)
            return True
        return False

    def _terminal_owner(self, terminal_id: str, gateway_id: str) -> str | None:
        """The gateway the terminal is enrolled behind (None: not enrolled)."""
        owner = self._terminals.get(terminal_id)
        if owner == gateway_id:  # the hot path: one dict lookup
            return owner
        # Not held, or held behind another gateway: imported or moved while we run?
        owner = self._lookup(SubjectType.TERMINAL, terminal_id)
        if owner is not None:
            self._terminals[terminal_id] = owner
        return owner

    def admit(self, gateway_id: str, terminal_id: str | None) -> Admission:
        auto = self.settings.auto
        enrol: list[tuple[SubjectType, str]] = []
        if not self._known_gateway(gateway_id):
            if auto is not AutoEnrol.ALL:
                return Admission(unknown=(SubjectType.GATEWAY, gateway_id))
            self._gateways.add(gateway_id)
            enrol.append((SubjectType.GATEWAY, gateway_id))
        if terminal_id is not None:
            owner = self._terminal_owner(terminal_id, gateway_id)
            if owner is None:
                if auto is AutoEnrol.OFF:
                    return Admission(unknown=(SubjectType.TERMINAL, terminal_id))
                self._terminals[terminal_id] = gateway_id
                enrol.append((SubjectType.TERMINAL, terminal_id))
            elif owner != gateway_id:
                # Another gateway's terminal: never auto-moved, whatever POSFLEET_AUTO_ENROL.
                return Admission(owner=owner)
        return Admission(enrol=tuple(enrol)) if enrol else ADMITTED
