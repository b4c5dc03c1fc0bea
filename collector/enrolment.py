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

The set of enrolled ids lives in memory; an id it does not hold is looked up in the store
once per message, so an inventory import made while the collector runs takes effect from
the id's next message.
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


ADMITTED = Admission()

Lookup = Callable[[SubjectType, str], bool]


class Enrolment:
    """The enrolled ids, in memory, with ``lookup`` (the store) asked about the others."""

    def __init__(self, lookup: Lookup, settings: EnrolmentSettings | None = None) -> None:
        self.settings = settings or EnrolmentSettings()
        self._lookup = lookup
        self._gateways: set[str] = set()
        self._terminals: set[str] = set()

    def load(self, gateways: Iterable[str], terminals: Iterable[str]) -> None:
        self._gateways.update(gateways)
        self._terminals.update(terminals)

    def __len__(self) -> int:
        return len(self._gateways) + len(self._terminals)

    def _known(self, subject_type: SubjectType, subject_id: str) -> bool:
        ids = self._gateways if subject_type is SubjectType.GATEWAY else self._terminals
        if subject_id in ids:
            return True
        # Imported while we run (posfleet-collector import-inventory, the console): from now on.
        if self._lookup(subject_type, subject_id):
            ids.add(subject_id)
            return True
        return False

    def admit(self, gateway_id: str, terminal_id: str | None) -> Admission:
        auto = self.settings.auto
        enrol: list[tuple[SubjectType, str]] = []
        if not self._known(SubjectType.GATEWAY, gateway_id):
            if auto is not AutoEnrol.ALL:
                return Admission(unknown=(SubjectType.GATEWAY, gateway_id))
            self._gateways.add(gateway_id)
            enrol.append((SubjectType.GATEWAY, gateway_id))
        if terminal_id is not None and not self._known(SubjectType.TERMINAL, terminal_id):
            if auto is AutoEnrol.OFF:
                return Admission(unknown=(SubjectType.TERMINAL, terminal_id))
            self._terminals.add(terminal_id)
            enrol.append((SubjectType.TERMINAL, terminal_id))
        return Admission(enrol=tuple(enrol)) if enrol else ADMITTED
