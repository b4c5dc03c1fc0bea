"""``posfleet-collector migrate --db TARGET`` as an operator runs it: a real process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from collector.store.schema import HEAD

RELEASE_0 = Path(__file__).with_name("fixtures") / "schema_release_0.sql"


def migrate(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.main", "migrate", "--db", target],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_upgrades_a_release_0_store_then_has_nothing_to_do(tmp_path: Path) -> None:
    path = tmp_path / "posfleet.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(RELEASE_0.read_text())
    conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-1')")
    conn.commit()
    conn.close()

    first = migrate(str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{path}: schema revision none -> {HEAD}"
    again = migrate(str(path))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{path}: at schema revision {HEAD}, nothing to do"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT gateway_id FROM gateways").fetchall() == [("gw-1",)]
    conn.close()


def test_migrate_creates_a_postgresql_store_and_hides_the_password(pg_url: str) -> None:
    url = pg_url.replace("postgresql://posfleet@", "postgresql://posfleet:not-checked@")
    done = migrate(url)
    assert done.returncode == 0, done.stderr
    assert "not-checked" not in done.stdout
    assert done.stdout.strip().endswith(f": schema revision none -> {HEAD}")


def test_migrate_refuses_a_newer_store_with_the_fix(tmp_path: Path) -> None:
    version = "0999"
    path = tmp_path / "posfleet.sqlite"
    assert migrate(str(path)).returncode == 0
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = ?", (version,))
    conn.commit()
    conn.close()
    done = migrate(str(path))
    assert done.returncode == 2
    assert f"schema revision {version}, newer than this posfleet" in done.stderr
    assert "Upgrade posfleet" in done.stderr
    assert "Traceback" not in done.stderr
