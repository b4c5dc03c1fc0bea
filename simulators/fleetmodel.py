"""A seeded fleet: regions, sites, gateways, terminals; exported as inventory CSVs."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

from collector.inventory import INVENTORY_COLUMNS

REGIONS = (
    ("north", "North", "Europe/Oslo", 59.9, 10.7),
    ("south", "South", "Europe/Madrid", 40.4, -3.7),
    ("east", "East", "Europe/Warsaw", 52.2, 21.0),
    ("west", "West", "Europe/London", 51.5, -0.1),
)
MODELS = (
    ("AP-300", "android-pos", ("3.2.1", "3.2.0", "3.1.9")),
    ("RT-20", "store-router", ("2.4.0", "2.3.7")),
    ("AP-500", "android-pos", ("5.0.2", "5.0.1")),
)
PIN_PAD_MODELS = ("PP-10", "PP-12")
MERCHANTS = ("Corner Grocer", "Café Lumen", "Bike & Bolt", "Petrol 24", "Book Nook", "Pharma+")


@dataclass(frozen=True, slots=True)
class TerminalSpec:
    terminal_id: str
    model: str
    serial: str


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    gateway_id: str
    site_id: str
    region_id: str
    model: str
    serial: str
    firmware: str
    terminals: tuple[TerminalSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteSpec:
    site_id: str
    region_id: str
    name: str
    lat: float
    lon: float
    tz: str
    merchant: str
    merchant_contact: str  # the owner's mobile: the NOC calls it about a shortfall


@dataclass(slots=True)
class Fleet:
    seed: int
    sites: list[SiteSpec] = field(default_factory=list)
    gateways: list[GatewaySpec] = field(default_factory=list)

    def gateways_of_site(self, site_id: str) -> list[GatewaySpec]:
        return [g for g in self.gateways if g.site_id == site_id]

    def export_inventory(self, directory: Path) -> None:
        """Write regions/sites/gateways/terminals CSVs in collector.inventory's format."""
        directory.mkdir(parents=True, exist_ok=True)
        rows: dict[str, list[dict[str, object]]] = {
            "regions": [
                {
                    "region_id": rid,
                    "name": name,
                    "oncall_name": f"{name} on-call",
                    "oncall_contact": f"139 0000 01{i:02d}",
                    "supervisor_contact": f"139 0000 09{i:02d}",
                    "contact_verified_at": "2026-10-01",
                }
                for i, (rid, name, *_rest) in enumerate(REGIONS)
            ],
            "sites": [
                {
                    "site_id": s.site_id,
                    "region_id": s.region_id,
                    "name": s.name,
                    "address": f"{s.name} street 1",
                    "lat": s.lat,
                    "lon": s.lon,
                    "tz": s.tz,
                    "merchant_name": s.merchant,
                    "merchant_contact": s.merchant_contact,
                }
                for s in self.sites
            ],
            "gateways": [
                {
                    "gateway_id": g.gateway_id,
                    "site_id": g.site_id,
                    "region_id": g.region_id,
                    "model": g.model,
                    "serial": g.serial,
                    "install_date": "2024-03-01",
                    "warranty_end": "2027-03-01",
                }
                for g in self.gateways
            ],
            "terminals": [
                {
                    "terminal_id": t.terminal_id,
                    "gateway_id": g.gateway_id,
                    "site_id": g.site_id,
                    "region_id": g.region_id,
                    "model": t.model,
                    "serial": t.serial,
                    "install_date": "2024-03-01",
                    "warranty_end": "2027-03-01",
                }
                for g in self.gateways
                for t in g.terminals
            ],
        }
        for table, items in rows.items():
            with (directory / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=list(INVENTORY_COLUMNS[table]))
                w.writeheader()
                w.writerows(items)


def generate(gateways: int, seed: int = 1, tz: str | None = None) -> Fleet:
    """``gateways`` gateways over sites of 1-4 (deterministic for a seed); ``tz``: every
    store in that zone instead of its region's (the demo's stores keep Shanghai hours)."""
    rng = random.Random(seed)
    fleet = Fleet(seed)
    n = 0
    site_no = 0
    while n < gateways:
        site_no += 1
        rid, _name, region_tz, lat, lon = REGIONS[rng.randrange(len(REGIONS))]
        chain = rng.choice(MERCHANTS)  # the store is one of the chain's: its merchant
        site = SiteSpec(
            f"s-{site_no:05d}",
            rid,
            f"{chain} #{site_no}",
            round(lat + rng.uniform(-1.5, 1.5), 4),
            round(lon + rng.uniform(-2.5, 2.5), 4),
            tz or region_tz,
            chain,
            f"138 {site_no // 10_000:04d} {site_no % 10_000:04d}",
        )
        # Drawn as before (it was once another merchant): seeded fleets keep their shape.
        rng.choice(MERCHANTS)
        fleet.sites.append(site)
        for _ in range(min(rng.choice((1, 1, 2, 2, 3, 4)), gateways - n)):
            n += 1
            model, kind, versions = MODELS[rng.randrange(len(MODELS))]
            gid = f"gw-{n:05d}"
            terms: tuple[TerminalSpec, ...] = ()
            if kind == "store-router":
                terms = tuple(
                    TerminalSpec(f"pp-{n:05d}-{k}", rng.choice(PIN_PAD_MODELS), f"PP{n:05d}{k}")
                    for k in range(1, rng.randint(1, 4) + 1)
                )
            fleet.gateways.append(
                GatewaySpec(
                    gid, site.site_id, rid, model, f"SN{n:07d}", rng.choice(versions), terms
                )
            )
    return fleet
