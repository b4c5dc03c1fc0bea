"""Who is behind whom: gateway -> site/region/model, terminal -> gateway, site membership.

Kept in memory (a few hundred bytes per gateway) and filled from the store by the
listener; the engine derives site state from it.
"""

from __future__ import annotations

from collector.alerts.model import Place
from collector.model import Liveness, SubjectType


class Topology:
    def __init__(self) -> None:
        self.gateways: dict[str, Place] = {}
        self.terminals: dict[str, Place] = {}
        self.status: dict[str, Liveness] = {}  # gateway liveness, as last seen by the engine
        self.decommissioned: set[str] = set()  # gateway ids and terminal ids
        self.site_gateways: dict[str, set[str]] = {}

    def set_gateway(
        self,
        gateway_id: str,
        *,
        site_id: str = "",
        region_id: str = "",
        model: str = "",
        status: Liveness | None = None,
        decommissioned: bool = False,
    ) -> None:
        old = self.gateways.get(gateway_id)
        if old is not None and old.site_id != site_id:
            self.site_gateways.get(old.site_id, set()).discard(gateway_id)
        self.gateways[gateway_id] = Place(
            region_id=region_id, site_id=site_id, gateway_id=gateway_id, model=model
        )
        if site_id:
            self.site_gateways.setdefault(site_id, set()).add(gateway_id)
        if status is not None:
            self.status[gateway_id] = status
        if decommissioned:
            self.decommissioned.add(gateway_id)
        else:
            self.decommissioned.discard(gateway_id)

    def set_terminal(
        self,
        terminal_id: str,
        *,
        gateway_id: str,
        site_id: str = "",
        region_id: str = "",
        model: str = "",
        decommissioned: bool = False,
    ) -> None:
        gw = self.gateways.get(gateway_id)
        self.terminals[terminal_id] = Place(
            region_id=region_id or (gw.region_id if gw else ""),
            site_id=site_id or (gw.site_id if gw else ""),
            gateway_id=gateway_id,
            terminal_id=terminal_id,
            model=model,
        )
        if decommissioned:
            self.decommissioned.add(terminal_id)
        else:
            self.decommissioned.discard(terminal_id)

    def place(self, subject_type: SubjectType, subject_id: str, gateway_id: str = "") -> Place:
        if subject_type is SubjectType.GATEWAY:
            return self.gateways.get(subject_id) or Place(gateway_id=subject_id)
        if subject_type is SubjectType.TERMINAL:
            found = self.terminals.get(subject_id)
            if found is not None:
                return found
            gw = self.gateways.get(gateway_id, Place(gateway_id=gateway_id))
            return Place(gw.region_id, gw.site_id, gateway_id, subject_id, "")
        for gw_id in self.site_gateways.get(subject_id, ()):
            return Place(region_id=self.gateways[gw_id].region_id, site_id=subject_id)
        return Place(site_id=subject_id)

    def live_members(self, site_id: str) -> list[str]:
        return [g for g in self.site_gateways.get(site_id, ()) if g not in self.decommissioned]

    def site_is_down(self, site_id: str) -> bool:
        """Every (non-decommissioned) gateway of the site is down."""
        members = self.live_members(site_id)
        return bool(members) and all(self.status.get(g) is Liveness.DOWN for g in members)
