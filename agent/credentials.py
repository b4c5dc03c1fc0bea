"""Issue a gateway's broker credentials: a password in mosquitto's password_file and,
optionally, a client certificate signed by the fleet CA (CN = gateway id, so the broker's
``use_identity_as_username`` and the ACL's ``%u`` both see the gateway id).

The password entry is written here, in Mosquitto's own PBKDF2-SHA512 format (``$7$``), not
by ``mosquitto_passwd -b``: that takes the password on its command line, where every local
user can read it (``ps``, ``/proc/PID/cmdline``) and shell history and audit logs keep it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from agent.contract import valid_id


class CredentialsError(Exception):
    """Credentials could not be issued; the message says what to install or fix."""


def _run(argv: list[str]) -> None:
    exe = shutil.which(argv[0])
    if exe is None:
        raise CredentialsError(f"{argv[0]} not found: install the openssl package")
    done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CredentialsError(f"{argv[0]} failed: {done.stderr.strip()[:300]}")


# Mosquitto 2.0's own defaults (mosquitto_passwd): 12-byte salt, 101 iterations, 64-byte key.
# More iterations would cost the broker that much CPU on every connect (a whole fleet
# reconnecting after a broker restart), and buy nothing here: the passwords are 192-bit
# random tokens, never guessed from a dictionary.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A Mosquitto ``password_file`` hash (``$7$iterations$salt$key``, base64)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(key).decode()}"


def _is_service(username: str) -> bool:
    return username.startswith("_")


def set_password(password_file: Path, username: str, password: str) -> None:
    """Add or replace ``username``'s entry, atomically (the broker may reload the file at any
    moment). An existing file keeps its mode and owner; a new one is 0640 with its
    directory's group, so a broker running as that group can read it.

    Service accounts (``_collector``) and gateways never share a file: the collector's
    listener takes only the collector's file, so a gateway's password must not work there.
    """
    lines: list[str] = []
    if password_file.exists():
        lines = password_file.read_text().splitlines()
    others = [ln.split(":", 1)[0] for ln in lines if ln.strip() and not ln.startswith("#")]
    mixed = [u for u in others if u != username and _is_service(u) != _is_service(username)]
    if mixed:
        kind = "service account" if _is_service(username) else "gateway"
        raise CredentialsError(
            f"{password_file} already holds {mixed[0]!r}, and a {kind} must not share a password "
            "file with it: give service accounts (_collector) their own file, the one the "
            "collector's listener uses (deploy/mosquitto: collector.passwd)"
        )
    kept = [ln for ln in lines if ln.split(":", 1)[0] != username]
    text = "\n".join([*kept, f"{username}:{hash_password(password)}"]) + "\n"
    if password_file.exists():
        st = password_file.stat()
        mode, uid, gid = st.st_mode & 0o777, st.st_uid, st.st_gid
    else:
        mode, uid, gid = 0o640, -1, password_file.parent.stat().st_gid
    fd, tmp = tempfile.mkstemp(prefix=f".{password_file.name}.", dir=password_file.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        # Not root: the file stays ours, as mosquitto_passwd would leave it.
        with contextlib.suppress(PermissionError):
            os.chown(tmp, uid, gid)
        os.replace(tmp, password_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def issue(
    gateway_id: str,
    password_file: Path,
    out: Path,
    ca_cert: Path | None = None,
    ca_key: Path | None = None,
) -> dict[str, Path]:
    # Service accounts (the collector: `_collector`) start with `_`, which no gateway id
    # may, so the ACL's `pattern write posfleet/v1/%u/#` gives them nothing usable.
    service = gateway_id.startswith("_") and valid_id(gateway_id[1:])
    if not (valid_id(gateway_id) or service):
        raise CredentialsError(
            f"invalid gateway id {gateway_id!r}: letters, digits, . _ - (service accounts: _name)"
        )
    out.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    created: dict[str, Path] = {}
    try:
        set_password(password_file, gateway_id, password)
    except OSError as exc:
        raise CredentialsError(f"cannot write {password_file}: {exc.strerror}") from exc
    pw_path = out / f"{gateway_id}.password"
    _private(pw_path, password + "\n")
    created["password_file"] = pw_path
    if ca_cert and ca_key:
        key, csr, crt = (out / f"{gateway_id}.{ext}" for ext in ("key", "csr", "crt"))
        _run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)])
        os.chmod(key, 0o600)
        _run(
            [
                "openssl",
                "req",
                "-new",
                "-key",
                str(key),
                "-subj",
                f"/CN={gateway_id}",
                "-out",
                str(csr),
            ]
        )
        _run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(ca_cert),
                "-CAkey",
                str(ca_key),
                "-CAcreateserial",
                "-days",
                "825",
                "-sha256",
                "-out",
                str(crt),
            ]
        )
        csr.unlink()
        created.update(key_file=key, cert_file=crt)
    for name, path in created.items():
        print(f"{name} = {path}")
    print(f"username = {gateway_id}")
    return created
