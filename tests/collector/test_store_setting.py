"""``--db`` / ``POSFLEET_DB``: an SQLite file path or a PostgreSQL URL, refused loudly when it
is neither, and a password in a URL is never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError, load_settings
from collector.main import main


def test_a_file_path_stays_a_path_and_a_postgresql_url_stays_a_url() -> None:
    assert load_settings(db="data/posfleet.sqlite").db == Path("data/posfleet.sqlite")
    url = "postgresql://posfleet@db.example:5432/posfleet"
    assert load_settings(db=url).db == url  # a Path would fold "//" into "/"


def test_the_environment_names_a_postgresql_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSFLEET_DB", "postgres://posfleet@10.0.0.5/fleet")
    assert load_settings().db == "postgres://posfleet@10.0.0.5/fleet"


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://posfleet:hunter2-pw@/fleet",  # no host
        "postgresql://posfleet:hunter2-pw@db.example:5432",  # no database
        "mysql://posfleet:hunter2-pw@db.example/fleet",  # another engine
    ],
)
def test_a_store_setting_that_is_neither_is_refused_naming_it_without_the_password(
    value: str,
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(db=value)
    text = str(refused.value)
    assert "POSFLEET_DB (--db)" in text
    assert "postgresql://USER@HOST:PORT/DB" in text
    assert "hunter2-pw" not in text


def test_the_command_line_refuses_it_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enrolment", "list", "--db", "postgresql://u:hunter2-pw@/x"]) == 2
    err = capsys.readouterr().err
    assert "POSFLEET_DB" in err
    assert "hunter2-pw" not in err
