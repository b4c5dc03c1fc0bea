"""Fleet metrics read from a real store: bounded cardinality, firmware and maintenance counts."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collector.http import HttpServer
from collector.inventory import import_dir
from collector.metrics import FleetCollector
from collector.store.store import Store, connect
from simulators.fleetmodel import generate

STATUSES = ("online", "late", "down", "unknown")


def _store(tmp_path: Path, gateways: int, target: str | None = None) -> str:
    """A generated fleet in the store ``target`` (default: an SQLite file in ``tmp_path``).

    Row i (in id order) gets status STATUSES[i % 4] and, for terminals, the i % 3'th
    service date: every (status, region, model) combination occurs at any fleet size."""
    db = target or str(tmp_path / f"fleet-{gateways}.sqlite")
    inv = tmp_path / f"inv-{gateways}"
    generate(gateways, seed=3).export_inventory(inv)
    store = Store(db)
    import_dir(store.conn, inv)
    with store.conn as conn:
        ids = [r[0] for r in conn.execute("SELECT gateway_id FROM gateways ORDER BY gateway_id")]
        conn.executemany(
            "UPDATE gateways SET status = ?, firmware_version = ? WHERE gateway_id = ?",
            [(STATUSES[i % 4], ("3.2.1", "3.1.0")[i % 2], g) for i, g in enumerate(ids)],
        )
        now = datetime.now(UTC)
        ok, overdue, soon = (
            (now - timedelta(days=d)).isoformat() for d in (10, 400, 350)
        )  # interval 365 days, "due soon" within 30
        tids = [
            r[0] for r in conn.execute("SELECT terminal_id FROM terminals ORDER BY terminal_id")
        ]
        conn.executemany(
            "UPDATE terminals SET status = ?, firmware_version = '1.0', last_service_at = ? "
            "WHERE terminal_id = ?",
            [
                (("online", "down")[i % 2], (ok, overdue, soon)[i % 3], t)
                for i, t in enumerate(tids)
            ],
        )
        conn.execute("INSERT INTO firmware_policy (model, min_version) VALUES ('AP-300', '3.2.0')")
        for model in ("PP-10", "PP-12"):
            conn.execute(
                "INSERT INTO maintenance_policy (model, service_interval_days, due_soon_days) "
                "VALUES (?, 365, 30)",
                (model,),
            )
    store.close()
    return db


def _series(db: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry()
    fleet = FleetCollector(db)
    registry.register(fleet)
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    fleet.close()
    return out


def _fire(db: str, n: int) -> None:
    conn = connect(db)
    now = datetime.now(UTC).isoformat()
    with conn:
        for i in range(n):
            conn.execute(
                "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, region_id, "
                "site_id, gateway_id, started_at, fired_at, summary) VALUES ('gateway_down', "
                "'gateway', ?, 'critical', 'firing', 'north', 's-1', ?, ?, ?, 'down')",
                (f"gw-{i:05d}", f"gw-{i:05d}", now, now),
            )
        # Inhibited and pending alerts never become series of their own.
        conn.execute(
            "INSERT INTO alerts (kind, subject_type, subject_id, state, started_at, inhibited_by) "
            "VALUES ('terminal_down', 'terminal', 't-x', 'suppressed', ?, 1)",
            (now,),
        )
        conn.execute(
            "INSERT INTO alerts (kind, subject_type, subject_id, state, started_at) "
            "VALUES ('gateway_down', 'gateway', 'gw-pending', 'pending', ?)",
            (now,),
        )
    conn.close()


@pytest.mark.slow
def test_series_count_does_not_grow_with_the_fleet_only_with_firing_alerts(tmp_path: Path) -> None:
    small, large = _store(tmp_path, 1_000), _store(tmp_path, 10_000)
    count_small = {k: len(v) for k, v in _series(small).items()}
    count_large = {k: len(v) for k, v in _series(large).items()}
    assert count_small == count_large
    assert sum(count_large.values()) < 200
    gateways = sum(v for _, v in _series(large)["posfleet_gateways"])
    assert gateways == 10_000
    _fire(large, 7)
    after = _series(large)
    assert len(after["posfleet_alert_firing"]) == 7
    labels = after["posfleet_alert_firing"][0][0]
    assert set(labels) == {
        "alertname", "severity", "region", "site", "gateway", "terminal", "escalation",
        "summary", "since", "acquirer",
    }  # fmt: skip
    assert {k: len(v) for k, v in after.items() if k != "posfleet_alert_firing"} == {
        k: n for k, n in count_large.items() if k != "posfleet_alert_firing"
    } | {"posfleet_alerts": count_large.get("posfleet_alerts", 0) + 3}


def test_firmware_and_maintenance_counts_follow_the_policies(
    tmp_path: Path, store_url: str
) -> None:
    db = _store(tmp_path, 200, store_url)
    series = _series(db)
    firmware = {(s["model"], s["compliance"]): v for s, v in series["posfleet_firmware"]}
    conn = connect(db)
    ap300 = conn.execute("SELECT count(*) FROM gateways WHERE model='AP-300'").fetchone()[0]
    ap300_old = conn.execute(
        "SELECT count(*) FROM gateways WHERE model='AP-300' AND firmware_version='3.1.0'"
    ).fetchone()[0]
    terminals = conn.execute("SELECT count(*) FROM terminals").fetchone()[0]
    conn.close()
    assert firmware[("AP-300", "non_compliant")] == ap300_old
    assert firmware[("AP-300", "compliant")] == ap300 - ap300_old
    assert ("RT-20", "compliant") not in firmware  # no policy: unknown, never compliant
    due = {}
    for labels, value in series["posfleet_maintenance_due"]:
        due[labels["state"]] = due.get(labels["state"], 0) + value
    assert sum(due.values()) == terminals
    by_third = [len(range(k, int(terminals), 3)) for k in range(3)]  # as _store assigned
    assert (due["ok"], due["overdue"], due["due_soon"]) == tuple(by_third)


def test_subjects_inside_an_active_maintenance_window_count_as_maintenance(
    tmp_path: Path, store_url: str
) -> None:
    db = _store(tmp_path, 200, store_url)
    conn = connect(db)
    site = conn.execute("SELECT site_id FROM gateways WHERE status='online' LIMIT 1").fetchone()[0]
    in_site = conn.execute(
        "SELECT count(*) FROM gateways WHERE site_id=? AND suspended=0", (site,)
    ).fetchone()[0]
    now = datetime.now(UTC)
    with conn:
        conn.execute(
            "INSERT INTO maintenance_windows (scope_type, scope_id, starts_at, ends_at, "
            "created_by, created_at) VALUES ('site', ?, ?, ?, 'noc', ?)",
            (site, (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat(),
             now.isoformat()),
        )  # fmt: skip
        # An expired window covers nothing.
        conn.execute(
            "INSERT INTO maintenance_windows (scope_type, scope_id, starts_at, ends_at, "
            "created_by, created_at) VALUES ('region', 'north', ?, ?, 'noc', ?)",
            ((now - timedelta(hours=3)).isoformat(), (now - timedelta(hours=2)).isoformat(),
             now.isoformat()),
        )  # fmt: skip
    conn.close()
    series = _series(db)
    maintenance = sum(v for s, v in series["posfleet_gateways"] if s["status"] == "maintenance")
    assert maintenance == in_site
    assert sum(v for _, v in series["posfleet_gateways"]) == 200


def test_a_store_that_cannot_be_read_fails_the_scrape_instead_of_dropping_the_alerts(
    tmp_path: Path, store_url: str
) -> None:
    # A 200 without posfleet_alert_firing would resolve every fleet alert in Prometheus (and
    # page them again once the store reads); a failed scrape makes up == 0 and the rules hold.
    db = _store(tmp_path, 10, store_url)
    _fire(db, 2)
    registry = CollectorRegistry()
    fleet = FleetCollector(db)
    registry.register(fleet)
    http = HttpServer("127.0.0.1", 0, registry, lambda: (True, {})).start()
    url = f"http://127.0.0.1:{http.port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.read().decode().count("posfleet_alert_firing{") == 2
        conn = connect(db)
        with conn:
            conn.execute("ALTER TABLE alerts RENAME TO alerts_away")  # a read error
        conn.close()
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(url, timeout=5)
        assert failed.value.code == 503
        assert "could not read the store" in failed.value.read().decode()
    finally:
        http.stop()
        fleet.close()
