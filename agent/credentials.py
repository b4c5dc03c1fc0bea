"""Issue a gateway's broker credentials: a password in mosquitto's password_file and,
optionally, a client certificate signed by the fleet CA (CN = gateway id, so the broker's
``use_identity_as_username`` and the ACL's ``%u`` both see the gateway id)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from agent.contract import valid_id


class CredentialsError(Exception):
    """Credentials could not be issued; the message says what to install or fix."""


def _run(argv: list[str]) -> None:
    exe = shutil.which(argv[0])
    if exe is None:
        raise CredentialsError(f"{argv[0]} not found: install the mosquitto / openssl package")
    done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CredentialsError(f"{argv[0]} failed: {done.stderr.strip()[:300]}")


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
    pw_path = out / f"{gateway_id}.password"
    _private(pw_path, password + "\n")
    created["password_file"] = pw_path
    flags = ["-b"] if password_file.exists() else ["-c", "-b"]
    _run(["mosquitto_passwd", *flags, str(password_file), gateway_id, password])
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
