"""``posfleet-agent check``: broker reachability, TLS, credentials, then every probe's reading."""

from __future__ import annotations

import grp
import json
import os
import pwd
import socket
import ssl
import stat
import threading
from pathlib import Path
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import AgentSettings
from agent.probes import run_probes
from agent.probes.terminals import collect_all
from agent.runner import Probes
from agent.service import spool_dir_of
from agent.txnspool import SPOOL_MODE, group_id


def running_agent_pid(s: AgentSettings) -> int | None:
    """The pid in ``state_dir/agent.pid`` if that process is alive, else None."""
    try:
        pid = int((s.state_dir / "agent.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    return pid


def check_broker(s: AgentSettings, out: TextIO) -> bool:
    try:
        with socket.create_connection((s.broker_host, s.broker_port), timeout=s.connect_timeout):
            out.write(f"ok   broker {s.broker_host}:{s.broker_port} reachable (TCP)\n")
    except OSError as exc:
        out.write(f"FAIL broker {s.broker_host}:{s.broker_port} unreachable: {exc}\n")
        return False
    if s.tls:
        ctx = ssl.create_default_context(cafile=str(s.ca_file))
        ctx.check_hostname = not s.tls_insecure_hostname
        if s.cert_file and s.key_file:
            ctx.load_cert_chain(str(s.cert_file), str(s.key_file))
        try:
            with (
                socket.create_connection((s.broker_host, s.broker_port), s.connect_timeout) as raw,
                ctx.wrap_socket(raw, server_hostname=s.broker_host) as tls,
            ):
                out.write(f"ok   TLS {tls.version()} with the pinned CA {s.ca_file}\n")
        except (OSError, ssl.SSLError) as exc:
            out.write(f"FAIL TLS handshake: {exc} (check ca_file and the broker's cert)\n")
            return False
    running = running_agent_pid(s)
    if running is not None:
        # The shipped broker makes every gateway connection's client id its username
        # (use_username_as_clientid): whatever id we send, a second login would take over
        # the running agent's session, and the broker would publish its will.
        out.write(
            f"skip MQTT credentials: the agent (pid {running}) is running and connected under "
            "this gateway's id, which a second login would disconnect; its own connection "
            "is the proof (or stop it, then check)\n"
        )
        return True
    # A separate client id, for brokers that keep the one we send (the shipped one does not).
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{s.gateway_id}-check")
    if s.username:
        client.username_pw_set(s.username, s.password())
    if s.tls:
        client.tls_set(
            ca_certs=str(s.ca_file),
            certfile=str(s.cert_file) if s.cert_file else None,
            keyfile=str(s.key_file) if s.key_file else None,
        )
        client.tls_insecure_set(s.tls_insecure_hostname)
    result: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(s.broker_host, s.broker_port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        out.write(f"FAIL MQTT connect: {exc}\n")
        return False
    client.loop_start()
    try:
        if not done.wait(s.connect_timeout * 3):
            out.write("FAIL MQTT: no CONNACK from the broker\n")
            return False
        reason = result["reason"]
        if reason.is_failure:
            out.write(f"FAIL MQTT credentials refused: {reason} (check username/password_file)\n")
            return False
        out.write(f"ok   MQTT credentials accepted (user {s.username or '(anonymous)'})\n")
        return True
    finally:
        client.disconnect()
        client.loop_stop()


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check_spool(s: AgentSettings, out: TextIO) -> None:
    """Can the payment app drop files? The spool's group and mode, or whether the agent
    (this user) could give a new spool the configured group. Warnings only: the spool
    never stops the agent."""
    root = spool_dir_of(s)
    check_spool_parents(root, out)
    wanted: int | None = None
    if s.txn_spool_group:
        try:
            wanted = group_id(s.txn_spool_group)
        except KeyError:
            out.write(
                f"WARN txn_spool_group {s.txn_spool_group!r}: no such group; create it "
                "(groupadd) or fix the setting\n"
            )
    fix = f"chgrp {s.txn_spool_group or 'GROUP'} {root} && chmod {SPOOL_MODE:o} {root}"
    try:
        st = os.stat(root)
    except FileNotFoundError:
        if (
            wanted is not None
            and os.geteuid() != 0
            and wanted not in {os.getegid(), *os.getgroups()}
        ):
            out.write(
                f"WARN transaction spool {root} missing, and this user (uid {os.geteuid()}) "
                f"cannot give a new one group {s.txn_spool_group} (txn_spool_group): the "
                "payment app could not drop files; fix: make the agent's user a member of "
                f"that group, or create it: install -d -m {SPOOL_MODE:o} -g "
                f"{s.txn_spool_group} {root}\n"
            )
        else:
            group = s.txn_spool_group or "its parent's"
            out.write(
                f"ok   transaction spool {root} missing: the agent creates it "
                f"(mode {SPOOL_MODE:o}, group {group})\n"
            )
        return
    except OSError as exc:
        out.write(f"WARN transaction spool {root}: {exc} (txn_spool_dir)\n")
        return
    mode, name = stat.S_IMODE(st.st_mode), _group_name(st.st_gid)
    problems = []
    if not stat.S_ISDIR(st.st_mode):
        problems.append("not a directory (txn_spool_dir)")
    if wanted is not None and st.st_gid != wanted:
        problems.append(f"its group is not txn_spool_group {s.txn_spool_group!r}")
    if not mode & stat.S_IWGRP:
        problems.append("its group may not write there")
    if problems:
        out.write(
            f"WARN transaction spool {root} (mode {mode:o}, group {name}): "
            f"{'; '.join(problems)}, so the payment app may not be able to drop files "
            f"(unless it runs as the agent's user); fix: {fix}\n"
        )
    else:
        out.write(f"ok   transaction spool {root}: mode {mode:o}, group {name}\n")


def check_spool_parents(root: Path, out: TextIO) -> None:
    """The directories above the spool: one that a user other than root or the agent may
    write, without the sticky bit, lets that user rename the spool away and put a link to
    any directory in its place between two scans, and the agent would then read, set aside
    and delete ``*.jsonl`` files there as the payment app's."""
    me, me_g = os.geteuid(), os.getegid()
    for parent in Path(os.path.abspath(root)).parents:
        try:
            st = os.stat(parent)
        except OSError:
            continue  # missing: the agent makes it (its own, umask 022)
        mode = stat.S_IMODE(st.st_mode)
        if mode & stat.S_ISVTX:
            continue  # /tmp-like: only an entry's owner may rename it
        others = [
            who
            for who, bit, by in (
                (f"user {_user_name(st.st_uid)}", stat.S_IWUSR, st.st_uid not in (0, me)),
                (f"group {_group_name(st.st_gid)}", stat.S_IWGRP, st.st_gid not in (0, me_g)),
                ("everyone", stat.S_IWOTH, True),
            )
            if mode & bit and by
        ]
        if others:
            out.write(
                f"WARN transaction spool {root}: its parent {parent} (mode {mode:o}) may be "
                f"written by {', '.join(others)}, who could replace the spool with a link "
                "between two scans; fix: keep the spool under directories only root and the "
                f"agent's user may write (chmod go-w {parent}, or move txn_spool_dir)\n"
            )
            return


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check(s: AgentSettings, probes: Probes, out: TextIO) -> int:
    ok = check_broker(s, out)
    check_spool(s, out)
    for name in ("system", "network", "firmware", "hardware"):
        reading = run_probes([getattr(probes, name)])
        out.write(f"probe {name}: {json.dumps(reading.fields, default=str)}\n")
        for key, err in reading.errors.items():
            out.write(f"  error {key}: {err}\n")
    readings, errors = collect_all(probes.terminals)
    for t in readings:
        out.write(f"terminal {t.terminal_id} {t.kind}: {json.dumps(t.fields, default=str)}\n")
    for key, err in {**probes.plugin_errors, **errors}.items():
        out.write(f"  error {key}: {err}\n")
    return 0 if ok else 1
