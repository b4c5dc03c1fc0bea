"""What the collector's fleet gauges say about a store, read by the real FleetCollector."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from collector.metrics import FleetCollector


def firing_labels(url: str) -> list[dict[str, str]]:
    """The labels of every ``posfleet_alert_firing`` sample the store's alerts give."""
    registry = CollectorRegistry()
    fleet = FleetCollector(url)
    registry.register(fleet)
    try:
        return [
            s.labels
            for family in registry.collect()
            for s in family.samples
            if s.name == "posfleet_alert_firing"
        ]
    finally:
        fleet.close()
