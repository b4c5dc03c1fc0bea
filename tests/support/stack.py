"""The real path for end-to-end tests: simulated fleet -> Mosquitto -> collector -> store
(an SQLite file or a PostgreSQL database)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector.config import load_config
from collector.inventory import upsert_rows
from collector.service import Collector
from collector.store import db as store_db
from collector.store.store import open_store
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import Fleet as FleetModel
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.stack.wait import wait_for


def query(db: Path | str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """One read on a fresh connection (the collector writes from its own)."""
    conn = store_db.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def enrol(target: Path | str, *gateways: str) -> None:
    """An inventory import, as ``posfleet-collector import-inventory`` does it: ``gateways``
    registered at store S1 (imported with them) in region north."""
    store = open_store(target)
    try:
        with store.conn:
            upsert_rows(store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
            upsert_rows(
                store.conn,
                "gateways",
                [{"gateway_id": g, "site_id": "S1", "region_id": "north"} for g in gateways],
            )
    finally:
        store.close()


@contextmanager
def fleet_stack(
    model: FleetModel,
    broker: MosquittoProcess,
    db: Path | str,
    workdir: Path,
    *,
    interval: float,
    keepalive: int = 5,
    online_timeout: float = 60.0,
    reconnect_max_s: float | None = None,
    **settings: object,
) -> Iterator[tuple[FleetRunner, Collector]]:
    """Inventory imported, collector started, every gateway connected and seen online.
    ``reconnect_max_s``: the fleet's reconnect backoff cap, told to the collector too."""
    inventory = workdir / "inventory"
    model.export_inventory(inventory)
    collector = Collector(
        load_config(
            db=db,
            broker_port=broker.port,
            metrics_host="127.0.0.1",
            metrics_port=0,
            inventory=inventory,
            agent_reconnect_max_s=reconnect_max_s,  # None: the default (the agent's)
            **settings,
        )
    ).start()
    # Subscribed before the fleet is born: births the collector first reads as the broker's
    # retained memory, on its first connection (no session yet, as after a broker restart),
    # would hold the gateways' wills for the restart hold instead of the test's timeouts.
    wait_for(lambda: collector.processor.connected, 60, what="collector connected")
    backoff = {} if reconnect_max_s is None else {"reconnect_max_s": reconnect_max_s}
    runner = FleetRunner(
        Fleet(
            model.gateways,
            "127.0.0.1",
            broker.port,
            interval=interval,
            keepalive=keepalive,
            **backoff,
        )
    ).start()
    try:
        runner.call(lambda f: f.connect_all(), timeout=120)
        n = len(model.gateways)
        wait_for(
            lambda: query(db, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)],
            online_timeout,
            interval=0.2,
            what=f"{n} gateways online",
        )
        yield runner, collector
    finally:
        runner.stop()
        collector.stop()
