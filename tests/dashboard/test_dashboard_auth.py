"""Console users: salted hashes, login, and the add-user command."""

from __future__ import annotations

import io

import pytest

from collector.actions import InvalidAction, Role
from collector.store import db
from dashboard import main as cli
from dashboard.auth import add_user, authenticate, hash_password, verify_password
from simulators.stack.seeded_store import NOW, apply_schema


@pytest.fixture
def conn(store_url):
    c = db.connect(store_url)
    apply_schema(c)
    try:
        yield c
    finally:
        c.close()


def test_same_password_hashes_differently_and_verifies() -> None:
    a, b = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert a != b
    assert verify_password("s3cret-pass", a)
    assert not verify_password("s3cret-pasS", a)
    assert not verify_password("s3cret-pass", "garbage")


def test_login_returns_the_role_and_refuses_a_wrong_password(conn) -> None:
    add_user(conn, "olga", "operator", "long enough pw", NOW)
    actor = authenticate(conn, "olga", "long enough pw")
    assert actor is not None
    assert (actor.name, actor.role) == ("olga", Role.OPERATOR)
    assert authenticate(conn, "olga", "wrong password") is None
    assert authenticate(conn, "nobody", "long enough pw") is None
    stored = conn.execute("SELECT password_hash FROM users").fetchone()[0]
    assert "long enough pw" not in stored


def test_short_password_and_unknown_role_are_refused(conn) -> None:
    with pytest.raises(InvalidAction, match="too short"):
        add_user(conn, "x", "admin", "short", NOW)
    with pytest.raises(InvalidAction, match="unknown role"):
        add_user(conn, "x", "root", "long enough pw", NOW)


def test_add_user_command_reads_the_password_from_stdin(conn, store_url, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin pw\n"))
    assert cli.main(["add-user", "ada", "--role", "admin", "--db", store_url]) == 0
    actor = authenticate(conn, "ada", "from stdin pw")
    assert actor is not None
    assert actor.role is Role.ADMIN
    audit = conn.execute("SELECT actor, action, subject FROM audit_log").fetchall()
    assert audit == [("cli", "user.set", "user:ada")]


def test_add_user_command_reads_a_password_file(conn, store_url, tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from a file pw\n")
    args = ["add-user", "vic", "--role", "viewer", "--db", store_url]
    assert cli.main([*args, "--password-file", str(secret)]) == 0
    assert authenticate(conn, "vic", "from a file pw") is not None


def test_launcher_refuses_a_missing_store_naming_the_flag(tmp_path) -> None:
    with pytest.raises(SystemExit, match=r"--db .* does not exist"):
        cli.main(["--db", str(tmp_path / "nope.sqlite")])


def test_launcher_runs_streamlit_headless_on_the_port_with_the_db(tmp_path) -> None:
    cmd = cli.streamlit_command(tmp_path / "s.sqlite", 8777)
    assert cmd[1:4] == ["-m", "dashboard.serve", "run"]  # Streamlit's CLI, imports done first
    assert cmd[cmd.index("--server.port") + 1] == "8777"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    # No "Deploy" nor Streamlit's English menu in a NOC (dashboard.chrome).
    assert cmd[cmd.index("--client.toolbarMode") + 1] == "minimal"
    assert cmd[-3:] == ["--", "--db", str(tmp_path / "s.sqlite")]


def test_the_console_listens_on_loopback_unless_told_otherwise(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("POSFLEET_DASHBOARD_ADDRESS", raising=False)
    args = cli.build_parser().parse_args(["--db", "x.sqlite"])
    cmd = cli.streamlit_command(tmp_path / "s.sqlite", args.port, args.address)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    monkeypatch.setenv("POSFLEET_DASHBOARD_ADDRESS", "10.20.0.5")  # a production bind
    args = cli.build_parser().parse_args(["run", "--db", "x.sqlite"])
    cmd = cli.streamlit_command(tmp_path / "s.sqlite", args.port, args.address)
    assert cmd[cmd.index("--server.address") + 1] == "10.20.0.5"
    args = cli.build_parser().parse_args(["run", "--db", "x.sqlite", "--address", "0.0.0.0"])
    assert args.address == "0.0.0.0"


def test_remove_user_command_deletes_the_account_and_audits_it(conn, store_url, capsys) -> None:
    add_user(conn, "vic", "viewer", "long enough pw", NOW)
    assert cli.main(["remove-user", "vic", "--db", store_url]) == 0
    assert authenticate(conn, "vic", "long enough pw") is None
    assert conn.execute("SELECT actor, action, subject FROM audit_log ORDER BY id").fetchall()[
        -1
    ] == ("cli", "user.remove", "user:vic")
    assert cli.main(["remove-user", "vic", "--db", store_url]) == 2
    assert "user 'vic' does not exist" in capsys.readouterr().err


def test_launcher_passes_a_postgresql_url_through_unchanged(monkeypatch) -> None:
    seen: list[list[str]] = []

    class Child:
        def __init__(self, cmd: list[str]) -> None:
            seen.append(cmd)

        def __enter__(self) -> Child:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def wait(self) -> int:
            return 0

        def terminate(self) -> None:
            pass

    monkeypatch.setattr(cli.subprocess, "Popen", Child)
    url = "postgresql://posfleet@db.example:5432/posfleet"
    assert cli.main(["--db", url]) == 0
    assert seen[0][-3:] == ["--", "--db", url]  # not a path: "//" kept, nothing resolved


def test_launcher_refuses_a_url_without_a_database_and_hides_its_password() -> None:
    with pytest.raises(SystemExit, match="no database") as err:
        cli.main(["--db", "postgresql://noc:s3cret@db.example:5432"])
    assert "s3cret" not in str(err.value)
    assert "noc:***@db.example" in str(err.value)


def test_add_user_on_an_unreachable_server_says_which_setting(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough pw\n"))
    url = "postgresql://noc:s3cret@127.0.0.1:1/posfleet"  # nothing listens on port 1
    assert cli.main(["add-user", "ada", "--role", "admin", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "--db" in err
    assert "s3cret" not in err
