"""``posfleet-agent issue-credentials``: the password entry is written without the password
ever reaching a command line, in the format Mosquitto reads (its logins on the real broker
are in test_agent_broker_security.py, whose fixture issues every credential this way)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from agent.credentials import CredentialsError, issue, set_password


def _verify(entry: str, password: str) -> bool:
    """Check a `$7$` entry the way Mosquitto does (PBKDF2-HMAC-SHA512 over the salt)."""
    _, alg, iterations, salt, key = entry.split("$")
    assert alg == "7"
    raw = base64.b64decode(key)
    got = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations), len(raw)
    )
    return got == raw


def _entries(path: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in path.read_text().splitlines() if line)


def test_the_issued_password_never_appears_on_any_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every program issue-credentials starts is wrapped to record its argv (what `ps` and
    /proc/PID/cmdline show every local user); the password is in none of them."""
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    argv_log = tmp_path / "argv.log"
    for program in ("mosquitto_passwd", "openssl"):
        real = shutil.which(program)
        if real is None:
            continue
        w = wrappers / program
        w.write_text(f'#!/bin/sh\necho "{program} $*" >> "{argv_log}"\nexec "{real}" "$@"\n')
        w.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    ca_key, ca_crt = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "1", "-subj", "/CN=ca"],
        check=True, capture_output=True,
    )  # fmt: skip
    argv_log.unlink(missing_ok=True)
    out = tmp_path / "out"
    issue("gw-a", tmp_path / "passwd", out, ca_crt, ca_key)
    password = (out / "gw-a.password").read_text().strip()
    assert _verify(_entries(tmp_path / "passwd")["gw-a"], password)
    started = argv_log.read_text() if argv_log.exists() else ""
    assert "openssl" in started  # the wrappers did see what was started
    assert password not in started


def test_a_new_entry_keeps_the_others_and_a_reissue_replaces_its_own(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    if shutil.which("mosquitto_passwd"):  # an entry written by Mosquitto's own tool is kept
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(passwd), "gw-old", "old-secret"], check=True
        )
    else:
        set_password(passwd, "gw-old", "old-secret")
    passwd.chmod(0o640)
    set_password(passwd, "gw-a", "first")
    set_password(passwd, "gw-a", "second")
    entries = _entries(passwd)
    assert sorted(entries) == ["gw-a", "gw-old"]
    assert _verify(entries["gw-old"], "old-secret")
    assert _verify(entries["gw-a"], "second")
    assert not _verify(entries["gw-a"], "first")
    assert entries["gw-a"].startswith("$7$101$")
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]  # no temp file left behind


def test_a_new_password_file_is_not_world_readable(tmp_path: Path) -> None:
    set_password(tmp_path / "passwd", "gw-a", "secret")
    assert stat.S_IMODE((tmp_path / "passwd").stat().st_mode) == 0o640


@pytest.mark.parametrize(("first", "second"), [("_collector", "gw-a"), ("gw-a", "_collector")])
def test_gateways_and_service_accounts_never_share_a_password_file(
    tmp_path: Path, first: str, second: str
) -> None:
    """The collector's listener opens with its password file alone: a gateway entry there
    would let that gateway log in as a collector could."""
    passwd = tmp_path / "passwd"
    set_password(passwd, first, "x")
    before = passwd.read_text()
    with pytest.raises(CredentialsError, match=r"collector\.passwd"):
        issue(second, passwd, tmp_path / "out")
    assert passwd.read_text() == before
    assert not (tmp_path / "out" / f"{second}.password").exists()
