"""The vendor-neutral transaction input: JSON lines dropped in a spool directory.

A payment app reports aggregates without linking to posfleet (docs/agent.md, "Transaction
aggregates from the payment app"): it writes ``<name>.tmp`` and renames it to
``<name>.jsonl`` (a rename is atomic, so the agent never reads half a file). Each line is one
aggregate or one batch close: the wire fields of ``transactions`` without ``v``/``gw``/``ts``.

Each scan takes every complete file, checks every line with the stdlib contract (a line with
anything that looks like a card number is never forwarded, nor kept), merges the good lines
per terminal, currency and acquirer into one message, and journals those messages in a
``*.merged`` file before it deletes its sources: a crash at any point replays the very same
messages (same windows, so the collector stores them once) and never counts a line twice.
The caller queues the messages (the outbox) and only then calls :meth:`TxnSpool.done`.
"""

from __future__ import annotations

import contextlib
import grp
import heapq
import json
import logging
import os
import re
import secrets
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.contract import (
    CLASSES,
    OUTCOMES,
    SCHEMA,
    Body,
    card_field,
    looks_like_pan,
    topic_for,
    unix_seconds,
    valid,
    valid_id,
)

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
MAX_LINE_BYTES = 16 * 1024
# Bounds on the gateway's memory and flash whatever the payment app does: files read per scan
# (the rest wait for the next one) and files kept in rejected/ (the oldest go first).
MAX_FILES_PER_SCAN = 500
# ...and bytes read per scan: each line becomes a dict of ~1 KB until merged, and the agent
# runs under MemoryMax=64M (a 40 MB backlog read at once peaked at 390 MB). Once this much is
# read, the remaining files wait for the next scan (one file is always read).
MAX_BYTES_PER_SCAN = 1024 * 1024
MAX_REJECTED_FILES = 200
# ...and bytes in rejected/ (a payment app bug writing 1 MB files of bad lines would otherwise
# keep 200 MB, plus their reasons, on the gateway's flash); a .reason names at most this many
# lines.
MAX_REJECTED_BYTES = 4 * 1024 * 1024
MAX_REASON_LINES = 1000
# Windows already sent, remembered so that a later scan never sends another message with the
# same window key (72 windows a day for 4 terminals over 7 days is ~2,000).
SENT_WINDOWS_KEPT = 4096
# A file whose last line has no newline yet and that changed this recently is still being
# written (in place, the wrong way): it waits rather than have its last line cut in half.
UNFINISHED_S = 60.0
# The spool as docs/agent.md's setup makes it: the agent owns it, the payment app's group
# writes there, and setgid makes the files and rejected/ inherit that group.
SPOOL_MODE = 0o2770
LINE_FIELDS = frozenset(SCHEMA["transactions"]) | {"terminal"}
_COUNTED = ("approved_amount", "refunded_amount")


class LineError(ValueError):
    """One spool line is not a valid aggregate; ``reason`` is a short label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class Scan:
    """What one scan found: messages to queue, and bad lines by reason."""

    messages: list[tuple[str, Body]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    journal: Path | None = None
    bytes_read: int = 0  # by the last file read


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _raw_has_pan(raw: bytes) -> bool:
    """A card number anywhere in the line's bytes, as written or as JSON ``\\u`` escapes."""
    text = raw.decode("utf-8", "replace")
    return looks_like_pan(text) or looks_like_pan(_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys: a card number could hide behind a later,
    # harmless value, pass the check and be kept with the line.
    out = dict(pairs)
    if len(out) != len(pairs):
        raise LineError("schema", "a key appears twice")
    return out


def check_line(raw: bytes) -> dict[str, Any]:
    """One line as a dict of valid fields, times as Unix seconds; raises ``LineError``.

    A refused line whose bytes hold a card number anywhere (malformed, oversized, a time
    field far out of range...) is refused as ``card_data``, so that it is never kept."""
    try:
        return _check_line(raw)
    except LineError as exc:
        if exc.reason != "card_data" and _raw_has_pan(raw):
            raise LineError("card_data", "line: looks like a card number") from None
        raise


def _check_line(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_LINE_BYTES:
        raise LineError("oversized", f"{len(raw)} bytes > {MAX_LINE_BYTES}")
    try:
        line = json.loads(raw, object_pairs_hook=_no_duplicates)
    except LineError:
        raise
    except (ValueError, RecursionError) as exc:
        raise LineError("malformed_json", str(exc)[:200]) from None
    if not isinstance(line, dict):
        raise LineError("schema", "a line must be a JSON object")
    where = card_field(line)
    if where is not None:  # first: nothing else about this line may reach a log or a file
        raise LineError("card_data", f"{(where or 'line')[:200]}: looks like a card number")
    unknown = set(line) - LINE_FIELDS
    if unknown:
        raise LineError("schema", f"unknown fields {sorted(unknown)[:5]}")
    terminal = line.get("terminal")
    if terminal is not None and not (isinstance(terminal, str) and valid_id(terminal)):
        raise LineError("schema", "terminal: not a valid id")
    spec = SCHEMA["transactions"]
    for name, value in line.items():
        if name != "terminal" and not valid(spec[name], value):
            raise LineError("schema", f"{name}: invalid value")
    if "batch" not in line and not {"since", "until"} <= set(line):
        raise LineError("schema", "an aggregate needs since and until (or a batch close)")
    out = dict(line)
    for name in ("since", "until", "last_txn_at"):
        if name in out:
            out[name] = unix_seconds(out[name])
    if "batch" in out:
        out["batch"] = {**out["batch"], "closed_at": unix_seconds(out["batch"]["closed_at"])}
    if "since" in out and "until" in out and out["until"] < out["since"]:
        raise LineError("schema", "until is before since")
    if any(out.get(k) for k in _COUNTED) and "currency" not in out:
        raise LineError("schema", "amounts need a currency")
    return out


def merge(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines of one scan as message fields: one per (terminal, currency, acquirer); the
    first batch close rides on it, any further one gets a message of its own."""
    groups: dict[tuple[str | None, str | None, str | None], dict[str, Any]] = {}
    extra: list[dict[str, Any]] = []
    for line in lines:
        key = (line.get("terminal"), line.get("currency"), line.get("acquirer"))
        g = groups.get(key)
        if "since" not in line:  # a batch close alone
            closed = line["batch"]["closed_at"]
            line = {**line, "since": closed, "until": closed}
        if g is None:
            groups[key] = g = {k: v for k, v in line.items() if k != "batch"}
            g["outcomes"] = dict(line.get("outcomes", {}))
            g["responses"] = dict(line.get("responses", {}))
        else:
            g["since"] = min(g["since"], line["since"])
            g["until"] = max(g["until"], line["until"])
            for name in ("outcomes", "responses"):
                for k, v in line.get(name, {}).items():
                    g[name][k] = g[name].get(k, 0) + v
            for name in _COUNTED:
                if name in line:
                    g[name] = g.get(name, 0) + line[name]
            if "last_txn_at" in line:
                g["last_txn_at"] = max(g.get("last_txn_at", 0), line["last_txn_at"])
        if "batch" in line:
            if "batch" not in g:
                g["batch"] = line["batch"]
            else:
                closed = line["batch"]["closed_at"]
                extra.append(
                    {**key_fields(key), "since": closed, "until": closed, "batch": line["batch"]}
                )
    out = []
    for g in [*groups.values(), *extra]:
        for name, keys in (("outcomes", OUTCOMES), ("responses", CLASSES)):
            # Zero counts are left out (absent is 0): fewer cellular bytes.
            counts = {k: g[name][k] for k in keys if g.get(name, {}).get(k)}
            if counts:
                g[name] = counts
            else:
                g.pop(name, None)
        for name in ("since", "until", "last_txn_at"):
            if name in g:
                g[name] = int(g[name])
        if "batch" in g:
            g["batch"] = {**g["batch"], "closed_at": int(g["batch"]["closed_at"])}
        out.append(g)
    return out


def key_fields(key: tuple[str | None, str | None, str | None]) -> dict[str, str]:
    names = ("terminal", "currency", "acquirer")
    return {n: v for n, v in zip(names, key, strict=True) if v is not None}


def _sum_ok(fields: dict[str, Any]) -> bool:
    """Merged counts and amounts still within the wire's bounds."""
    spec = SCHEMA["transactions"]
    names = ("outcomes", "responses", *_COUNTED)
    return all(valid(spec[k], fields[k]) for k in names if k in fields)


class TxnSpool:
    """The spool ``root`` is the payment app's (it can write there); the journal lives in
    ``journal_dir``, the agent's own: a journal is published unchecked after a crash, so one
    the payment app could drop would bypass every check."""

    def __init__(
        self,
        root: Path,
        gateway_id: str,
        journal_dir: Path,
        group: str | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.root = root
        self.rejected_dir = root / "rejected"
        self.journal_dir = journal_dir
        self.gw = gateway_id
        self.group = group  # txn_spool_group: a name or a gid
        self._seen_gid: int | None = None  # the spool's group when last seen
        # ``run --dry-run``: scans read and merge as usual but change nothing on disk
        # (nothing renamed, set aside, journalled or deleted), so the files are still sent.
        self.read_only = read_only
        # Read only: files a crash's journal merged already, which the run deletes unread.
        self._merged: set[str] = set()
        if not read_only and self._usable():
            self._take_over_old_journals()

    def _take_over_old_journals(self) -> None:
        """Earlier versions journalled in the spool itself: a journal there that this
        agent's user wrote (the payment app runs as another) is moved to the journal
        directory, so an upgrade right after a crash loses nothing; others are left, logged."""
        with contextlib.suppress(OSError):
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.root.glob("*.merged")):
                st = path.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                    tmp = self.journal_dir / (path.name + "-tmp")  # maybe another filesystem
                    tmp.write_bytes(path.read_bytes())
                    os.replace(tmp, self.journal_dir / path.name)
                    path.unlink()
                else:
                    log.warning("%s not written by the agent: ignored", path)

    def _usable(self) -> bool:
        """The spool exists (created if need be); a wrong path must not stop the agent, so
        every scan says so in the log instead, and the payment app's files wait."""
        if self.read_only:
            if self.root.is_dir():
                return True
            log.info("transaction spool %s: none yet (the agent makes it when it runs)", self.root)
            return False
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            log.error("transaction spool %s unusable: %s (txn_spool_dir)", self.root, exc)
            return False
        if st is not None and not stat.S_ISDIR(st.st_mode):
            log.error("transaction spool %s is not a directory (txn_spool_dir)", self.root)
            return False
        if st is None:
            try:
                st = self._create()
            except OSError as exc:
                log.error(
                    "transaction spool %s cannot be created: %s (txn_spool_dir)", self.root, exc
                )
                return False
        self._seen_gid = st.st_gid
        return True

    def _create(self) -> os.stat_result:
        """Made again as the setup made it (a clean-up script may delete it): mode 2770 and
        the payment app's group, else the payment app silently cannot drop files any more
        and its terminals look idle. The group: ``txn_spool_group``, else the spool's group
        when this agent last saw it, else its parent's."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(self.root, 0o700)  # nobody else's until its group is right
        except FileExistsError:  # made meanwhile: left as it is
            return os.stat(self.root)
        # Through the new directory itself, never its path: whoever may write in the parent
        # could swap it for a link, and a chgrp/chmod by path would give the link's target
        # (the agent's credentials, say) to the spool's group. A link or a directory not
        # ours is refused (OSError: logged, as a spool that cannot be created).
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid():
                raise PermissionError(f"{self.root} was replaced by another user's directory")
            self._give_group(fd, st)
            os.fchmod(fd, SPOOL_MODE)  # mkdir's mode is cut by the umask
            st = os.fstat(fd)
        finally:
            os.close(fd)
        mode = stat.S_IMODE(st.st_mode)
        log.info("transaction spool %s created, mode %o, group %d", self.root, mode, st.st_gid)
        return st

    def _give_group(self, fd: int, st: os.stat_result) -> None:
        gid, where = self._wanted_group()
        if st.st_gid != gid:
            try:
                os.fchown(fd, -1, gid)
            except OSError as exc:
                log.warning(
                    "transaction spool %s: cannot give it group %s (%s), so the payment app "
                    "may not be able to drop files (group from %s); fix: make the agent's "
                    "user a member of that group and restart the agent, or create the spool "
                    "yourself: install -d -m 2770 -g %s %s",
                    self.root,
                    gid,
                    exc.strerror,
                    where,
                    gid,
                    self.root,
                )

    def _wanted_group(self) -> tuple[int, str]:
        """The gid the spool should have, and where that comes from (for the warning)."""
        if self.group:
            try:
                return group_id(self.group), f"txn_spool_group = {self.group!r}"
            except KeyError:
                log.error(
                    "txn_spool_group %r: no such group; fix the setting or create the group",
                    self.group,
                )
        if self._seen_gid is not None:
            return self._seen_gid, "the spool's group before; set txn_spool_group"
        return os.stat(self.root.parent).st_gid, "its parent directory; set txn_spool_group"

    def _candidates(self) -> list[str]:
        """The names of the oldest ``MAX_FILES_PER_SCAN`` files, in name order.

        Streamed: a backlog of 100,000 files (a gateway offline for days) costs one pass over
        the directory and a heap of ``MAX_FILES_PER_SCAN`` names, never the whole listing in
        memory nor a sort of it; names are checked for card numbers only when read."""
        with os.scandir(self.root) as it:
            names = (
                e.name
                for e in it
                if e.name.endswith(".jsonl") and not e.is_dir(follow_symlinks=False)
            )
            return heapq.nsmallest(MAX_FILES_PER_SCAN, names)

    def _withhold(self, name: str) -> str:
        """A file named with a card number is renamed before its name reaches a log, the
        journal or rejected/ (a random name: a hash of a card number can be brute-forced)."""
        if not looks_like_pan(name) or self.read_only:
            return name  # read only: the name is never logged (_label)
        safe = f"withheld-{secrets.token_hex(8)}.jsonl"
        try:
            os.rename(self.root / name, self.root / safe)
        except OSError:
            return name  # gone meanwhile; _read finds nothing
        log.warning("a spool file named with a card number was renamed %s", safe)
        return safe

    def scan(self, now: float) -> Scan:
        """Read what is complete; a journal left by a crash is replayed first."""
        if not self.read_only:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
        journals = sorted(self.journal_dir.glob("*.merged"))
        if journals and not self.read_only:
            return self._replay(journals[0])
        if journals:  # what a run would send first, then the spool's files a scan later
            replayed = [self._replay(j) for j in journals]
            spool = self._scan(now)
            spool.messages[:0] = [m for r in replayed for m in r.messages]
            for r in replayed:
                spool.rejected.update(r.rejected)
            return spool
        return self._scan(now)

    def _scan(self, now: float) -> Scan:
        if not self._usable():
            return Scan()
        scan = Scan()
        good: list[dict[str, Any]] = []
        sources: list[Path] = []
        budget = MAX_BYTES_PER_SCAN
        for name in self._candidates():
            if budget <= 0:
                break
            if name in self._merged:
                continue
            path = self.root / self._withhold(name)
            lines = self._read(path, scan, now)
            if lines is not None:  # read (or set aside): it goes with this scan
                sources.append(path)
                good += lines
                budget -= scan.bytes_read
        if not sources:
            return scan
        fields = merge(good)
        bodies: list[tuple[str, Body]] = []
        for f in fields:
            if not _sum_ok(f):  # e.g. a million approvals summed over many files
                scan.rejected["out_of_range"] += 1
                who = f.get("terminal", self.gw)
                log.warning("transaction aggregate of %s over its bounds after merging", who)
                continue
            terminal = f.pop("terminal", None)
            body: Body = {"v": 1, "gw": self.gw, "ts": int(now)}
            if terminal is not None:
                body["terminal"] = terminal
            body.update(f)
            bodies.append((topic_for(self.gw, "transactions", terminal), body))
        self._distinct_windows(bodies)
        if self.read_only:
            scan.messages = bodies
            return scan
        journal = self.journal_dir / f"{int(now * 1000)}.merged"
        tmp = journal.with_suffix(".merged-tmp")
        try:
            with tmp.open("w") as out:
                json.dump({"sources": [p.name for p in sources], "messages": bodies}, out)
                out.flush()
                os.fsync(out.fileno())  # on disk before the sources go (a power cut)
            os.replace(tmp, journal)
            _fsync_dir(self.journal_dir)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk: nothing half-written left behind
            raise
        for path in sources:
            path.unlink(missing_ok=True)
        scan.messages = bodies
        scan.journal = journal
        return scan

    def _distinct_windows(self, bodies: list[tuple[str, Body]]) -> None:
        """The collector keys a window by (gateway, terminal, since, until, currency,
        acquirer) and takes a second message with the same key for a replay: lines of one
        window written after a scan (one file per transaction, a scan between two) would be
        dropped there. Such a window ends one second later instead (its counts still lie
        within it), as often as needed. Recorded before the journal, so a replay after a
        crash is the very same message."""
        path = self.journal_dir / "sent-windows.json"
        try:
            sent = [str(k) for k in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            sent = []
        seen = set(sent)
        for _, body in bodies:
            while (key := _window_key(body)) in seen:
                body["until"] += 1
            seen.add(key)
            sent.append(key)
        if self.read_only:
            return
        tmp = path.with_suffix(".json-tmp")
        try:
            tmp.write_text(json.dumps(sent[-SENT_WINDOWS_KEPT:]))
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def done(self, scan: Scan) -> None:
        """The scan's messages are queued: forget them."""
        if scan.journal is not None:
            scan.journal.unlink(missing_ok=True)

    def _replay(self, journal: Path) -> Scan:
        try:
            saved = json.loads(journal.read_text())
            for name in saved["sources"]:
                if "/" not in name and name.endswith(".jsonl"):
                    if self.read_only:
                        self._merged.add(name)
                    else:
                        (self.root / name).unlink(missing_ok=True)  # merged before the crash
            messages = [(str(t), dict(b)) for t, b in saved["messages"]]
            for topic, body in messages:  # the agent's own file, but never trust a replay blindly
                expected = topic_for(self.gw, "transactions", body.get("terminal"))
                if topic != expected or body.get("gw") != self.gw or card_field(body):
                    raise ValueError(f"message for {topic!r} is not this gateway's transactions")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("unreadable transaction journal %s (%s): dropped", journal, exc)
            if not self.read_only:
                journal.unlink(missing_ok=True)
            return Scan(rejected=Counter({"journal": 1}))
        return Scan(messages=messages, journal=journal)

    def _read(self, path: Path, scan: Scan, now: float) -> list[dict[str, Any]] | None:
        """The file's good lines; None when it cannot be read now (it waits)."""
        scan.bytes_read = 0
        try:
            # O_NOFOLLOW: a link to a file only the agent may read (its broker password) would
            # otherwise be copied into rejected/. O_NONBLOCK: a FIFO must not hang the agent.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if path.is_symlink():
                return self._not_regular(path, scan)
            log.warning("cannot read %s: %s (left for the next scan)", _label(path), exc)
            return None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                return None
            if not stat.S_ISREG(st.st_mode):
                return self._not_regular(path, scan)
            data = f.read(MAX_FILE_BYTES + 1)  # never more, whatever the file's size
        if data and not data.endswith(b"\n") and abs(now - st.st_mtime) < UNFINISHED_S:
            log.info("%s: last line unfinished, left for the next scan", _label(path))
            return None
        scan.bytes_read = len(data)
        if len(data) > MAX_FILE_BYTES:
            scan.rejected["oversized"] += 1
            size = max(st.st_size, len(data))
            self._set_aside(path.name, b"", [f"file: {size} bytes > {MAX_FILE_BYTES}"])
            return []
        good, bad_lines, reasons = [], [], []
        for n, raw in enumerate(data.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                good.append(check_line(raw))
            except LineError as exc:
                scan.rejected[exc.reason] += 1
                reasons.append(f"line {n}: {exc}")
                # A line that looks like card data is not kept anywhere, not even here.
                if exc.reason != "card_data":
                    bad_lines.append(raw)
        if reasons:
            content = b"\n".join(bad_lines) + b"\n" if bad_lines else b""
            self._set_aside(path.name, content, reasons)
            verb = "would be set aside" if self.read_only else "moved"
            log.warning(
                "%s: %d bad lines %s in %s", _label(path), len(reasons), verb, self.rejected_dir
            )
        return good

    def _not_regular(self, path: Path, scan: Scan) -> list[dict[str, Any]]:
        scan.rejected["not_a_file"] += 1
        self._set_aside(path.name, b"", ["file: not a regular file (a link, a FIFO...): not read"])
        return []

    def _set_aside(self, name: str, content: bytes, reasons: list[str]) -> None:
        """Write into rejected/ without following links: the payment app can write in the
        spool, and a link there must not make the agent write or delete elsewhere."""
        if self.read_only:
            return
        try:
            with contextlib.suppress(FileExistsError):
                self.rejected_dir.mkdir()
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            dfd = os.open(self.rejected_dir, flags)
        except OSError as exc:
            log.error("cannot set bad lines aside in %s: %s", self.rejected_dir, exc)
            return
        try:
            if content:
                _write_at(dfd, name, content)
            more = len(reasons) - MAX_REASON_LINES
            if more > 0:
                reasons = [*reasons[:MAX_REASON_LINES], f"... and {more} more bad lines"]
            _write_at(dfd, name + ".reason", ("\n".join(reasons) + "\n").encode())
            kept = []
            for entry in os.listdir(dfd):
                with contextlib.suppress(OSError):
                    st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
                    kept.append((st.st_mtime, entry, st.st_size))
            kept.sort()
            total = sum(size for _, _, size in kept)
            for i, (_, old, size) in enumerate(kept):  # oldest first
                if len(kept) - i <= MAX_REJECTED_FILES and total <= MAX_REJECTED_BYTES:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(old, dir_fd=dfd)
                total -= size
        except OSError as exc:
            log.error("cannot set bad lines aside in %s: %s", self.rejected_dir, exc)
        finally:
            os.close(dfd)


def _label(path: Path) -> str:
    """A file's name for a log line; a name that holds a card number is withheld (the
    agent renames such a file before it reads it, except in a dry run)."""
    return "(a file named with a card number)" if looks_like_pan(path.name) else path.name


def group_id(spec: str) -> int:
    """A group name or number as a gid; ``KeyError`` when no such group exists."""
    return int(spec) if spec.isdigit() else grp.getgrnam(spec).gr_gid


def _write_at(dfd: int, name: str, data: bytes) -> None:
    """A new file replacing ``name`` in the directory ``dfd`` (a link there is replaced,
    never followed)."""
    tmp = f".{name}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dfd)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o640, dir_fd=dfd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)


def _window_key(body: Body) -> str:
    names = ("terminal", "since", "until", "currency", "acquirer")
    return json.dumps([body.get(n, "") for n in names])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
