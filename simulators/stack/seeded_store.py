"""A seeded store for dashboard tests and the render benchmark.

The simulator's fleet generator did not exist when the console was written, so this builds
one: inventory CSVs imported through ``collector.inventory`` (the real import path), then
liveness columns, a month of state changes, incidents, alerts, telemetry and policies as the
collector and the alert engine would have written them. The store is either engine: an
SQLite file path or a ``postgresql://`` URL (an empty database), as ``--db`` takes them.
"""

from __future__ import annotations

import csv
import json
import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.inventory import import_dir
from collector.store import db
from collector.store.migrate import ensure_schema
from collector.store.times import to_db

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
MODELS = {"A920": ["1.4.2", "1.5.0", "1.5.1"], "V240m": ["2.0.9", "2.1.0"], "S920": ["3.3.0"]}
GW_STATUS = ["online"] * 90 + ["down"] * 5 + ["late"] * 3 + ["unknown"] * 2


@dataclass(frozen=True)
class Fleet:
    path: Path | str  # the store: an SQLite file, or a postgresql:// URL
    gateway_ids: list[str]
    terminal_ids: list[str]
    down_gateway: str  # a gateway that is down with a firing, unacknowledged alert
    alert_id: int  # that alert
    incident_id: int  # its open incident
    serial_of_first_terminal: str
    merchant_of_first_site: str


def apply_schema(conn: db.Connection) -> None:
    ensure_schema(conn)


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def build_store(
    path: Path | str,
    *,
    terminals: int = 120,
    per_gateway: int = 3,
    days: int = 30,
    telemetry_gateways: int = 10,
    telemetry_step_h: int = 2,
    seed: int = 7,
    now: datetime = NOW,
) -> Fleet:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="posfleet-inventory-") as tmp:
        return _build(path, Path(tmp), rnd, terminals, per_gateway, days, telemetry_gateways,
                      telemetry_step_h, now)  # fmt: skip


def _build(
    path: Path | str,
    inv: Path,
    rnd: random.Random,
    terminals: int,
    per_gateway: int,
    days: int,
    telemetry_gateways: int,
    telemetry_step_h: int,
    now: datetime,
) -> Fleet:
    n_gw = max(1, terminals // per_gateway)
    n_sites = max(1, n_gw // 2)
    n_regions = 4 if terminals < 1000 else 12
    regions = [f"R{r:02d}" for r in range(1, n_regions + 1)]
    _write_csv(
        inv / "regions.csv",
        ["region_id", "name", "oncall_name", "oncall_contact", "contact_verified_at"],
        [
            [
                r,
                f"Region {r}",
                f"Tech {r}",
                f"+351 900 000 {i:03d}",
                to_db(now - timedelta(days=i * 40)),
            ]
            for i, r in enumerate(regions)
        ],
    )
    site_rows = []
    for s in range(n_sites):
        region = regions[s % n_regions]
        site_rows.append(
            [
                f"S{s:06d}",
                region,
                f"Store {s}",
                f"Rua {s}, Lisboa",
                round(37.0 + rnd.random() * 5.0, 5),
                round(-9.0 + rnd.random() * 2.5, 5),
                "Europe/Lisbon",
                f"Merchant {s} Cafe",
                f"merchant{s}@example.test",
            ]
        )
    _write_csv(
        inv / "sites.csv",
        [
            "site_id",
            "region_id",
            "name",
            "address",
            "lat",
            "lon",
            "tz",
            "merchant_name",
            "merchant_contact",
        ],
        site_rows,
    )
    models = list(MODELS)
    gw_rows, term_rows = [], []
    for g in range(n_gw):
        site = site_rows[g % n_sites]
        model = models[g % len(models)]
        gw_rows.append(
            [
                f"GW{g:06d}",
                site[0],
                site[1],
                model,
                f"SNG{g:07d}",
                to_db(now - timedelta(days=400 + g % 300)),
                to_db(now + timedelta(days=300)),
            ]
        )
    for t in range(n_gw * per_gateway):
        gw = gw_rows[t // per_gateway]
        last = to_db(now - timedelta(days=rnd.randint(1, 420))) if t % 5 else ""
        term_rows.append(
            [
                f"T{t:07d}",
                gw[0],
                gw[1],
                gw[2],
                gw[3],
                f"SNT{t:08d}",
                to_db(now - timedelta(days=500)),
                to_db(now + timedelta(days=200)),
                last,
            ]
        )
    _write_csv(
        inv / "gateways.csv",
        ["gateway_id", "site_id", "region_id", "model", "serial", "install_date", "warranty_end"],
        gw_rows,
    )
    _write_csv(
        inv / "terminals.csv",
        [
            "terminal_id",
            "gateway_id",
            "site_id",
            "region_id",
            "model",
            "serial",
            "install_date",
            "warranty_end",
            "last_service_at",
        ],
        term_rows,
    )

    conn = db.connect(path)
    try:
        apply_schema(conn)
        import_dir(conn, inv)
        with conn:
            _fill_state(conn, rnd, gw_rows, per_gateway, days, now)
            ids = _fill_alerts(conn, rnd, gw_rows, now)
            _fill_telemetry(conn, rnd, gw_rows[:telemetry_gateways], days, telemetry_step_h, now)
            _fill_policies(conn, now)
    finally:
        conn.close()
    return Fleet(
        path=path,
        gateway_ids=[str(r[0]) for r in gw_rows],
        terminal_ids=[str(r[0]) for r in term_rows],
        down_gateway=ids[0],
        alert_id=ids[1],
        incident_id=ids[2],
        serial_of_first_terminal=str(term_rows[0][5]),
        merchant_of_first_site=str(site_rows[0][7]),
    )


def _fill_state(
    conn: db.Connection,
    rnd: random.Random,
    gw_rows: list[list[object]],
    per_gateway: int,
    days: int,
    now: datetime,
) -> None:
    gw_updates: list[tuple[object, ...]] = []
    term_updates: list[tuple[object, ...]] = []
    changes: list[tuple[object, ...]] = []
    incidents: list[tuple[object, ...]] = []
    for g, row in enumerate(gw_rows):
        gid, site, region, model = row[0], row[1], row[2], str(row[3])
        # GW000000 is always down: tests act on it.
        status = "down" if g == 0 else GW_STATUS[rnd.randrange(len(GW_STATUS))]
        since = now - timedelta(minutes=rnd.randint(5, 3000))
        fw = rnd.choice(MODELS[model])
        seen = None if status == "unknown" else to_db(since if status != "online" else now)
        gw_updates.append((status, to_db(since), seen, fw, 1 if g % 97 == 5 else 0, gid))
        if status != "unknown":
            # The collector's first sighting (the first birth): figures count from it.
            first = now - timedelta(days=days + 1)
            changes.append(("gateway", gid, "unknown", "online", to_db(first), "birth"))
        for k in range(per_gateway):
            tid = f"T{g * per_gateway + k:07d}"
            term_updates.append(
                (
                    status,
                    to_db(since),
                    seen,
                    fw,
                    rnd.randint(0, 60_000),
                    rnd.uniform(55, 100),
                    rnd.randint(0, 120),
                    tid,
                )
            )
        # A month of history: a few outages per gateway, mostly short.
        for _ in range(rnd.randint(0, 3)):
            start = now - timedelta(days=days * rnd.random())
            end = start + timedelta(minutes=rnd.randint(2, 240))
            if end >= now:
                continue
            planned = rnd.random() < 0.2
            changes.append(
                (
                    "gateway",
                    gid,
                    "online",
                    "down",
                    to_db(start),
                    "graceful:upgrade" if planned else "will",
                )
            )
            changes.append(("gateway", gid, "down", "online", to_db(end), "birth"))
            incidents.append(
                (
                    "gateway",
                    gid,
                    site,
                    region,
                    model,
                    to_db(start),
                    to_db(end),
                    "planned" if planned else "fault",
                    rnd.choice(["network", "power", "hardware", "unknown"]),
                    "graceful" if planned else "will",
                )
            )
        if status == "down":
            changes.append(("gateway", gid, "online", "down", to_db(since), "will"))
            incidents.append(
                (
                    "gateway",
                    gid,
                    site,
                    region,
                    model,
                    to_db(since),
                    None,
                    "fault",
                    "unknown",
                    "will",
                )
            )
    conn.executemany(
        "UPDATE gateways SET status=?, status_since=?, last_seen_at=?, firmware_version=?, "
        "suspended=?, heartbeat_interval=60 WHERE gateway_id=?",
        gw_updates,
    )
    conn.executemany(
        "UPDATE terminals SET status=?, status_since=?, last_seen_at=?, firmware_version=?, "
        "receipts_printed=?, battery_health_pct=?, error_count=? WHERE terminal_id=?",
        term_updates,
    )
    conn.executemany(
        "INSERT INTO state_changes (subject_type, subject_id, from_status, to_status, at, reason)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        changes,
    )
    conn.executemany(
        "INSERT INTO incidents (subject_type, subject_id, site_id, region_id, model, started_at,"
        " ended_at, class, fault_category, detected_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
        incidents,
    )
    # Two gateways that report but are not in the inventory: listed for enrolment.
    conn.executemany(
        "INSERT INTO enrolment (subject_type, subject_id, first_seen_at, last_seen_at, messages, "
        "last_kind) VALUES ('gateway', ?, ?, ?, ?, 'heartbeat')",
        [("GWX-ROGUE1", to_db(now), to_db(now), 12), ("GWX-ROGUE2", to_db(now), to_db(now), 3)],
    )


def _fill_alerts(
    conn: db.Connection, rnd: random.Random, gw_rows: list[list[object]], now: datetime
) -> tuple[str, int, int]:
    down = conn.execute(
        "SELECT g.gateway_id, g.site_id, g.region_id, g.status_since, i.id FROM gateways g "
        "JOIN incidents i ON i.subject_id = g.gateway_id AND i.ended_at IS NULL "
        "WHERE g.status = 'down' ORDER BY g.gateway_id"
    ).fetchall()
    rows = []
    for n, (gid, site, region, since, inc) in enumerate(down):
        acked = n % 3 == 2
        rows.append(
            (
                "gateway_down",
                "gateway",
                gid,
                "critical",
                "firing",
                region,
                site,
                gid,
                f"Gateway {gid} down (will)",
                since,
                since,
                "noc1" if acked else None,
                to_db(now) if acked else None,
                "on it" if acked else None,
                n % 3,
                inc,
            )
        )
    for n, row in enumerate(gw_rows[1::7]):
        kind = rnd.choice(["network_degraded", "firmware_non_compliant", "clock_skew"])
        state = "resolved" if n % 4 == 0 else "firing"
        start = to_db(now - timedelta(hours=rnd.randint(1, 600)))
        rows.append(
            (
                kind,
                "gateway",
                row[0],
                "warning",
                state,
                row[2],
                row[1],
                row[0],
                f"{kind.replace('_', ' ')} on {row[0]}",
                start,
                start,
                None,
                None,
                None,
                0,
                None,
            )
        )
    conn.executemany(
        "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, region_id, site_id,"
        " gateway_id, summary, started_at, fired_at, acked_by, acked_at, ack_note, escalation,"
        " incident_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute(
        "UPDATE alerts SET resolved_at = started_at WHERE state = 'resolved'"
    )  # keeps the row consistent
    first = conn.execute(
        "SELECT id, incident_id FROM alerts WHERE subject_id = 'GW000000' AND kind='gateway_down'"
    ).fetchone()
    return "GW000000", int(first[0]), int(first[1])


def _fill_telemetry(
    conn: db.Connection,
    rnd: random.Random,
    gw_rows: list[list[object]],
    days: int,
    step_h: int,
    now: datetime,
) -> None:
    rows = []
    for row in gw_rows:
        gid = str(row[0])
        for h in range(0, days * 24, step_h):
            at = to_db(now - timedelta(hours=h))
            net = {
                "v": 1,
                "gw": gid,
                "ts": at,
                "rssi_dbm": round(rnd.uniform(-100, -50), 1),
                "latency_ms": round(rnd.uniform(20, 400), 1),
                "loss_pct": round(rnd.uniform(0, 5), 2),
            }
            hw = {
                "v": 1,
                "gw": gid,
                "ts": at,
                "battery_pct": round(rnd.uniform(20, 100), 1),
                "temperature_c": round(rnd.uniform(20, 60), 1),
            }
            rows.append((gid, "", "network", at, at, json.dumps(net)))
            rows.append((gid, "", "hardware", at, at, json.dumps(hw)))
    conn.executemany(
        "INSERT INTO telemetry (gateway_id, terminal_id, kind, received_at, device_ts, payload)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def _fill_policies(conn: db.Connection, now: datetime) -> None:
    conn.executemany(
        "INSERT INTO firmware_policy (model, min_version, approved_versions, end_of_support)"
        " VALUES (?, ?, ?, ?)",
        [
            ("A920", "1.5.0", json.dumps(["1.5.0", "1.5.1"]), None),
            ("V240m", "2.1.0", "[]", None),
            ("S920", "3.0.0", "[]", to_db(now + timedelta(days=20))),
        ],
    )
    conn.executemany(
        "INSERT INTO maintenance_policy (model, service_interval_days, max_receipts,"
        " min_battery_health_pct, max_error_count, due_soon_days) VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("A920", 180, 50_000, 70.0, 100, 30),
            ("V240m", 365, None, 65.0, None, 30),
            ("S920", 270, 40_000, None, 80, 14),
        ],
    )
    conn.execute(
        "INSERT INTO maintenance_windows (scope_type, scope_id, starts_at, ends_at, reason,"
        " created_by, created_at) VALUES ('site', 'S000001', ?, ?, 'router swap', 'noc1', ?)",
        (
            to_db(now - timedelta(hours=1)),
            to_db(now + timedelta(hours=2)),
            to_db(now - timedelta(days=1)),
        ),
    )
