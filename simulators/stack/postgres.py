"""A throwaway real PostgreSQL on a free loopback port (tests, drills, benchmarks, the demo).

``initdb`` into a temporary directory (trust auth on 127.0.0.1 and on a unix socket in that
directory), then the ``postgres`` server as a child process, polled with psycopg until it
accepts connections. Role ``posfleet`` owns database ``posfleet``; ``create_database`` gives
each test its own. ``stop()``/``kill()``/``start()``/``restart()`` keep the port and the data,
for outage drills. PostgreSQL refuses to run as root: under root, initdb and the server run as
Debian's ``postgres`` system user.

The server runs as our child rather than daemonised by ``pg_ctl``: its exit is seen at once
(a start that fails shows the log instead of waiting out the deadline), and ``kill()`` can
freeze it, list its backends and SIGKILL them all at once, as a host crash would (each backend
is a session of its own, so a process-group kill would miss them).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from collector.process import free_port

PG_ROOT = Path("/usr/lib/postgresql")
ROLE = "posfleet"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"

# Fast, and still durable against a process crash (kill()): without fsync the kernel keeps
# what was written, and only a host crash could lose it. synchronous_commit stays on (it costs
# one write() when fsync is off): with it off, a commit acknowledged just before kill() would
# be lost, and a "nothing lost" drill would fail on the test server's settings, not the code.
TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "on",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_line_prefix": "%m [%p] %q%u@%d ",
}
# What a production server runs with (for benchmarks that quote write costs).
DURABLE_SETTINGS: dict[str, str] = {
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PORT_TAKEN = "Address already in use"


class PostgresError(RuntimeError):
    """PostgreSQL is missing, or did not start or stop; the message says why and shows its log."""


def find_bindir(root: Path = PG_ROOT) -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` that has initdb and postgres, if any."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for bindir in root.glob("*/bin"):
        version = bindir.parent.name
        if not re.fullmatch(r"\d+(\.\d+)*", version):
            continue
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            found.append((tuple(int(p) for p in version.split(".")), bindir))
    return max(found)[1] if found else None


class PostgresServer:
    """One PostgreSQL server; a context manager that removes every trace on exit."""

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        port: int | None = None,
        durable: bool = False,
        settings: Mapping[str, str] | None = None,
        bindir: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise PostgresError(
                f"PostgreSQL is not installed (no {PG_ROOT}/N/bin/initdb): run "
                "scripts/install-services (apt-get install postgresql)"
            )
        self._run_as = _run_as()
        self._port_given = port is not None
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._tmp = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="posfleet-pg-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            _check_reachable(self.workdir, *self._run_as)
            os.chown(self.workdir, self._run_as[0], self._run_as[1])
        self.datadir = self.workdir / "data"
        self.log_path = self.workdir / "postgres.log"
        self.settings = {**TEST_SETTINGS, **(DURABLE_SETTINGS if durable else {})}
        self.settings.update(settings or {})
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._killed_shm: int | None = None

    # -- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The application's database, as role posfleet: ``postgresql://posfleet@...``."""
        return self.url_for(ROLE)

    @property
    def admin_url(self) -> str:
        """Superuser ``postgres`` on database ``postgres`` (drills: terminate backends...)."""
        return self.url_for("postgres", user=SUPERUSER)

    def url_for(self, dbname: str, user: str = ROLE) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (every backend is its direct child)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb on first use, start, wait until it accepts connections, create role and DB."""
        if self._proc is not None:
            raise PostgresError("PostgreSQL is already running")
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
        for _attempt in range(5):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._proc = self._spawn()
            try:
                self._wait_ready()
                break
            except PostgresError:
                self._reap([])
                # Another program took the free port between free_port() and bind().
                if self._port_given or _PORT_TAKEN not in self._log_since(offset):
                    raise
                self.port = free_port()
        else:
            raise PostgresError(f"no free port for PostgreSQL: {self.log_tail()}")
        self._killed_shm = None
        self._bootstrap()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``): roll back open transactions, flush, exit."""
        proc = self._proc
        if proc is None:
            return
        children = _children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # Immediate shutdown, then the hard way; the log says what hung.
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise PostgresError(
                        f"PostgreSQL did not stop in {timeout}s; killed: {self.log_tail()}"
                    ) from None
        self._reap(children)

    def kill(self) -> None:
        """SIGKILL the server and every backend at once, like a crash; ``start()`` recovers."""
        proc = self._proc
        if proc is None:
            return
        self._killed_shm = _shm_id(self.datadir)
        # Frozen, the postmaster forks no new backend while we list the ones it has.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGSTOP)
        children = _children(proc.pid)
        for pid in [proc.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap(children)

    def restart(self) -> None:
        """Stop (fast) and start again on the same port with the same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove the temporary directory (a given workdir is kept)."""
        try:
            self.stop()
        finally:
            self._remove_killed_shm()
            if self._tmp:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- databases --------------------------------------------------------------------------

    def admin_connection(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection in autocommit mode (close it, or use it in ``with``)."""
        return psycopg.connect(self.url_for(dbname, user=SUPERUSER), autocommit=True)

    def create_database(self, name: str, template: str = "template0") -> str:
        """A fresh database owned by posfleet; returns its URL.

        Empty from template0; or a copy of ``template`` (e.g. a database migrated once per
        session, cheaper than migrating per test), which nobody may be connected to.
        """
        with self.admin_connection() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
                    sql.Identifier(_check_name(name)),
                    sql.Identifier(ROLE),
                    sql.Identifier(_check_name(template)),
                )
            )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop it, disconnecting whoever is still connected (a test's leftover collector)."""
        with self.admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(_check_name(name))
                )
            )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # -- internals --------------------------------------------------------------------------

    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"cwd": self.workdir, "stdin": subprocess.DEVNULL}
        if self._run_as is not None:
            uid, gid = self._run_as
            kwargs.update(user=uid, group=gid, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        assert self.bindir is not None
        cmd = [
            str(self.bindir / "initdb"),
            f"--pgdata={self.datadir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            # C collation: byte order, the same everywhere, and PostgreSQL's fast path for
            # text keys; C.UTF-8 ctype so lower()/upper() still know non-ASCII letters.
            "--lc-collate=C",
            "--lc-ctype=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]
        with self.log_path.open("ab") as log:
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, **self._popen_kwargs())
        if done.returncode != 0:
            who = f" (as user {SYSTEM_USER}: it must be able to reach {self.workdir})"
            raise PostgresError(f"initdb failed{who if self._run_as else ''}: {self.log_tail()}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        assert self.bindir is not None
        settings = {
            **self.settings,
            "port": str(self.port),
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.workdir),
        }
        cmd = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A Ctrl-C meant for the test run must not shut the server down under the
                # test's feet: close() stops it, after the test's own teardown.
                start_new_session=True,
                **self._popen_kwargs(),
            )

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if proc.poll() is not None:
                raise PostgresError(
                    f"PostgreSQL exited with {proc.returncode} while starting: {self.log_tail()}"
                )
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.kill()
                    raise PostgresError(
                        f"PostgreSQL accepted no connection in {self.start_timeout}s ({exc}): "
                        f"{self.log_tail()}"
                    ) from None
            time.sleep(0.02)

    def _bootstrap(self) -> None:
        with self.admin_connection() as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(ROLE)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (ROLE,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                        sql.Identifier(ROLE), sql.Identifier(ROLE)
                    )
                )

    def _reap(self, children: list[int]) -> None:
        """Wait for the postmaster, then for the backends it had to be gone too."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.wait()
        deadline = time.monotonic() + 10
        while alive := [pid for pid in children if _alive(pid)]:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL backends {alive} outlived the server")
            time.sleep(0.01)

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _remove_killed_shm(self) -> None:
        # A SIGKILLed postmaster leaves its System V segment behind; the next start() would
        # reuse and free it, but a server closed after kill() never starts again.
        shmid, self._killed_shm = self._killed_shm, None
        ipcrm = shutil.which("ipcrm")
        if shmid is not None and ipcrm is not None and self._proc is None:
            subprocess.run([ipcrm, "-m", str(shmid)], capture_output=True, check=False)


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of the postgres system user when we are root; None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresError(
            f"PostgreSQL refuses to run as root and there is no {SYSTEM_USER!r} user: "
            "run scripts/install-services (Debian's postgresql package creates it)"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _check_reachable(workdir: Path, uid: int, gid: int) -> None:
    """Fail early, and say why, when the postgres user cannot enter a parent of ``workdir``
    (pytest's tmp_path is under a root-only directory)."""
    for parent in workdir.resolve().parents:
        st = parent.stat()
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            raise PostgresError(
                f"PostgreSQL runs as user {SYSTEM_USER!r} under root and cannot enter {parent}: "
                "leave workdir unset (a directory under /tmp is made for it)"
            )


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"database name {name!r}: use 1-63 of a-z, 0-9, _ (not first digit)")
    return name


def _proc_stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children(ppid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(entry.name)
            if fields is not None and len(fields) > 1 and fields[1] == str(ppid):
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    """Running, not a zombie: orphans go to PID 1, which may never reap them."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _shm_id(datadir: Path) -> int | None:
    """The System V shared memory id in postmaster.pid (line 7: key and id)."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
        return int(lines[6].split()[1])
    except (OSError, IndexError, ValueError):
        return None
