"""The transaction spool as a payment-app vendor gets it wrong and as an attacker on the gateway
uses it: a real agent process, a real Mosquitto, real files dropped in the spool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_support import Observer
from support.services import missing

from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration
GW = "gw-0042"
PAN = "4111111111111111"
GOOD = {"terminal": "pinpad-2", "since": 1795338000, "until": 1795338600}


def line(**fields: object) -> str:
    return json.dumps({**GOOD, **fields}, separators=(",", ":"))


def drop(spool: Path, name: str, text: str | bytes) -> None:
    """The documented way: write <name>.tmp, close it, rename it to <name>.jsonl."""
    tmp = spool / f"{name}.tmp"
    tmp.write_bytes(text.encode() if isinstance(text, str) else text)
    tmp.rename(spool / f"{name}.jsonl")


class AgentProcess:
    COMMAND = (sys.executable, "-m", "agent.main", "run")

    def __init__(self, broker: MosquittoProcess, work: Path, **env: str) -> None:
        self.work = work
        self.spool = work / "spool"
        self.state = work / "state"
        self.log = work / "agent.log"
        self.env = {
            **os.environ,
            "POSFLEET_AGENT_GATEWAY_ID": GW,
            "POSFLEET_AGENT_BROKER_HOST": broker.host,
            "POSFLEET_AGENT_BROKER_PORT": str(broker.port),
            "POSFLEET_AGENT_STATE_DIR": str(self.state),
            "POSFLEET_AGENT_TXN_SPOOL_DIR": str(self.spool),
            "POSFLEET_AGENT_TXN_INTERVAL": "0.3",
            "POSFLEET_AGENT_PROBE_INTERVAL": "30",
            "POSFLEET_AGENT_RECONNECT_MIN_DELAY": "1",
            "POSFLEET_AGENT_RECONNECT_MAX_DELAY": "1",
            "POSFLEET_AGENT_TERMINAL_PLUGINS": "false",
            **env,
        }
        self.spool.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.COMMAND, env=self.env, stdout=out, stderr=out)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def everything_written(self) -> bytes:
        """Every byte the agent left on disk (spool, rejected/, state, outbox) and logged."""
        return b"".join(p.read_bytes() for p in self.work.rglob("*") if p.is_file())


@pytest.fixture
def observer(mosquitto: MosquittoProcess) -> Iterator[Observer]:
    obs = Observer(mosquitto.host, mosquitto.port)
    wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
    yield obs
    obs.close()


@pytest.fixture
def agent(mosquitto: MosquittoProcess, tmp_path: Path) -> Iterator[AgentProcess]:
    a = AgentProcess(mosquitto, tmp_path / "gw")
    yield a
    a.stop()


def txn(obs: Observer) -> list[dict[str, object]]:
    return obs.of_kind("transactions")


def online(obs: Observer) -> bool:
    return any(b.get("state") == "online" for b in obs.of_kind("status"))


def test_a_window_handed_to_a_stalled_broker_survives_a_kill_9_of_the_agent(
    mosquitto: MosquittoProcess, observer: Observer, agent: AgentProcess
) -> None:
    agent.start()
    wait_for(lambda: online(observer), 15, what="agent online")
    assert mosquitto.proc is not None
    os.kill(mosquitto.proc.pid, signal.SIGSTOP)  # connected, but no PUBACK will come
    try:
        drop(agent.spool, "a", line(outcomes={"approved": 3}) + "\n")
        wait_for(
            lambda: (
                not list(agent.work.rglob("*.jsonl")) and not list(agent.work.rglob("*.merged"))
            ),
            15,
            what="the spool read, journal gone",
        )
        agent.kill9()
    finally:
        os.kill(mosquitto.proc.pid, signal.SIGCONT)
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the window after the restart")
    assert [b["outcomes"] for b in txn(observer)] == [{"approved": 3}]


def test_a_journal_forged_by_the_payment_app_is_never_published(
    observer: Observer, agent: AgentProcess
) -> None:
    forged = {
        "sources": [],
        "messages": [
            [f"posfleet/v1/{GW}/heartbeat", {"v": 1, "gw": GW, "ts": 1, "session": 9, "seq": 0}],
            [
                f"posfleet/v1/{GW}/transactions",
                {"v": 1, "gw": GW, "ts": 1, "since": 1, "until": 2, "note": PAN},
            ],
        ],
    }
    (agent.spool / "1.merged").write_text(json.dumps(forged))
    drop(agent.spool, "after", line(outcomes={"approved": 1}) + "\n")
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the genuine window")
    agent.stop()
    assert all(PAN not in json.dumps(b) for _, b, _ in observer.messages)
    assert not [b for b in observer.of_kind("heartbeat") if b.get("session") == 9]


def test_a_symlink_named_jsonl_is_not_followed_so_no_secret_reaches_rejected(
    observer: Observer, agent: AgentProcess, tmp_path: Path
) -> None:
    secret = tmp_path / "agent.password"
    secret.write_text("s3cret-broker-password\n")
    secret.chmod(0o600)
    (agent.spool / "pw.jsonl").symlink_to(secret)
    drop(agent.spool, "z", line(outcomes={"approved": 1}) + "\n")
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the genuine window")
    wait_for(lambda: not (agent.spool / "pw.jsonl").is_symlink(), 10, what="the link dealt with")
    agent.stop()
    assert secret.read_text() == "s3cret-broker-password\n"  # the target is left alone
    spool_bytes = b"".join(p.read_bytes() for p in agent.spool.rglob("*") if p.is_file())
    assert b"s3cret" not in spool_bytes
    reason = (agent.spool / "rejected" / "pw.jsonl.reason").read_text()
    assert "not a regular file" in reason


def test_a_fifo_and_a_directory_named_jsonl_do_not_hang_or_stop_the_agent(
    observer: Observer, agent: AgentProcess
) -> None:
    os.mkfifo(agent.spool / "pipe.jsonl")
    (agent.spool / "dir.jsonl").mkdir()
    drop(agent.spool, "z", line(outcomes={"approved": 1}) + "\n")
    agent.env["POSFLEET_AGENT_HEARTBEAT_INTERVAL"] = "0.5"
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the genuine window")
    n = len(observer.of_kind("heartbeat"))
    wait_for(lambda: len(observer.of_kind("heartbeat")) > n, 20, what="the agent still beating")


def test_a_file_the_agent_cannot_read_is_kept_for_a_later_scan_not_deleted(
    observer: Observer, agent: AgentProcess
) -> None:
    if shutil.which("setpriv") is None:
        missing(
            "setpriv (util-linux, to drop root's right to read anything)",
            "apt-get install util-linux",
        )
    drop(agent.spool, "a", line(terminal="pinpad-7", outcomes={"approved": 5}) + "\n")
    (agent.spool / "a.jsonl").chmod(0)
    drop(agent.spool, "b", line(terminal="pinpad-8", outcomes={"approved": 1}) + "\n")
    # As root the agent reads any file: without CAP_DAC_OVERRIDE/READ_SEARCH it cannot.
    agent.proc = subprocess.Popen(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *AgentProcess.COMMAND],
        env=agent.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the readable file")
    wait_for(lambda: not (agent.spool / "b.jsonl").exists(), 10, what="b forgotten")
    assert (agent.spool / "a.jsonl").exists(), "an unreadable file is not deleted unread"
    (agent.spool / "a.jsonl").chmod(0o644)  # the vendor fixes the mode
    wait_for(lambda: len(txn(observer)) >= 2, 20, what="the file once readable")
    assert sorted(str(b["terminal"]) for b in txn(observer)) == ["pinpad-7", "pinpad-8"]


def test_a_link_planted_in_rejected_makes_the_agent_write_or_delete_nothing_elsewhere(
    observer: Observer, agent: AgentProcess, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "session").write_text("17\n")
    (agent.spool / "rejected").mkdir()
    (agent.spool / "rejected" / "bad.jsonl.reason").symlink_to(victim / "session")
    drop(agent.spool, "bad", "not json\n" + line(outcomes={"approved": 1}) + "\n")
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the good line")
    wait_for(lambda: not (agent.spool / "rejected" / "bad.jsonl.reason").is_symlink(), 10)
    assert (victim / "session").read_text() == "17\n"
    assert "line 1: malformed_json" in (agent.spool / "rejected" / "bad.jsonl.reason").read_text()
    # A rejected/ that is itself a link to another directory is not written into.
    shutil.rmtree(agent.spool / "rejected")
    (agent.spool / "rejected").symlink_to(victim)
    drop(agent.spool, "bad2", "not json\n")
    wait_for(lambda: not (agent.spool / "bad2.jsonl").exists(), 10, what="bad2 read")
    assert sorted(p.name for p in victim.iterdir()) == ["session"]


def test_card_numbers_in_any_shape_are_refused_and_kept_nowhere(
    observer: Observer, agent: AgentProcess
) -> None:
    spaced = "4111 1111 1111 1111"
    dashed = "4111-1111-1111-1111"
    fullwidth = "".join(chr(0xFF10 + int(c)) for c in PAN)
    escaped = "".join(f"\\u{ord(c):04x}" for c in PAN)
    bad = [
        line(note=PAN),  # unknown field
        line(outcomes={"approved": 1}, debug={PAN: 1}),  # a key
        line(acquirer=spaced),
        line(acquirer=dashed),
        line(acquirer=fullwidth),
        '{"terminal":"pinpad-2","since":1795338000,"until":1795338600,"acquirer":"'
        + escaped
        + '"}',
        f"not json {PAN}",  # malformed, with a card number
        '{"terminal":"pinpad-2","since":1795338000,"until":1795338600,"x":"' + PAN + '"',
        line(acquirer=PAN[:8], since=int(PAN)),  # a "time" far out of range
        # duplicate key: the card number hides behind a later, harmless value
        '{"terminal":"pinpad-2","since":1795338000,"until":1795338600,'
        f'"acquirer":"{PAN}","acquirer":"ok"}}',
        line(note="x" * (17 * 1024) + PAN),  # oversized
    ]
    drop(agent.spool, "mixed", "\n".join([line(outcomes={"approved": 2}), *bad]) + "\n")
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the good line")
    wait_for(lambda: observer.of_kind("event"), 20, what="the rejection event")
    agent.stop()
    assert [b["outcomes"] for b in txn(observer)] == [{"approved": 2}]
    reasons = (agent.spool / "rejected" / "mixed.jsonl.reason").read_text().splitlines()
    assert [r.split(":")[0] for r in reasons] == [f"line {n}" for n in range(2, 2 + len(bad))]
    everything = agent.everything_written() + b"".join(r for _, r in observer.raw)
    for shape in (PAN, spaced, dashed, fullwidth, escaped):
        assert shape.encode() not in everything, shape
    assert fullwidth.encode("utf-8") not in everything


def test_a_backlog_of_large_files_is_read_within_the_agents_memory_limit(
    observer: Observer, agent: AgentProcess
) -> None:
    one = line(outcomes={"approved": 1}, currency="CNY", approved_amount=100) + "\n"
    per_file = (1024 * 1024 - 1) // len(one)
    for i in range(40):  # 40 MB the payment app piled up while the agent was stopped
        drop(agent.spool, f"{i:03d}", one * per_file)
    agent.start()
    assert agent.proc is not None
    wait_for(lambda: len(txn(observer)) >= 1, 60, what="the first window")
    status = Path(f"/proc/{agent.proc.pid}/status").read_text()
    peak_kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM")))
    # deploy/systemd/posfleet-agent.service: MemoryMax=64M
    assert peak_kb < 64 * 1024, f"peak RSS {peak_kb} KB"


@pytest.fixture
def collector_db(mosquitto: MosquittoProcess, tmp_path: Path) -> Iterator[Path]:
    from support.stack import enrol

    from collector.config import load_config
    from collector.service import Collector

    db = tmp_path / "posfleet.sqlite"
    enrol(db, GW)
    c = Collector(
        load_config(db=db, broker_port=mosquitto.port, metrics_host="127.0.0.1", metrics_port=0)
    ).start()
    wait_for(lambda: c.processor.connected, 10, what="collector connected")
    try:
        yield db
    finally:
        c.stop()


def stored_approved(db: Path) -> int:
    from support.stack import query

    rows = query(db, "SELECT coalesce(sum(approved), 0) FROM txn_aggregates")
    return int(rows[0][0])  # type: ignore[call-overload]


def test_the_same_window_written_again_after_a_scan_is_counted_by_the_collector(
    collector_db: Path, observer: Observer, agent: AgentProcess
) -> None:
    # One file per transaction, each with its ten-minute bucket: the doc invites it ("every
    # transaction"), and a scan may fall between two transactions of one bucket.
    # (The gateway is the payment device: the collector stores only enrolled subjects.)
    bucket = '{"since":"2026-11-22T09:00:00+08:00","until":"2026-11-22T09:10:00+08:00"}\n'
    agent.start()
    drop(agent.spool, "t1", bucket[:-2] + ',"outcomes":{"approved":1}}\n')
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the first transaction")
    drop(agent.spool, "t2", bucket[:-2] + ',"outcomes":{"approved":1}}\n')
    wait_for(lambda: len(txn(observer)) >= 2, 20, what="the second transaction")
    wait_for(lambda: stored_approved(collector_db) >= 1, 20, what="stored")
    # Both are stored; a replay of either (same message) would still be stored once.
    wait_for(lambda: stored_approved(collector_db) == 2, 10, what="both transactions stored")


def test_windows_read_while_the_broker_is_down_arrive_later_flagged_historical(
    tmp_path: Path,
) -> None:
    from telemetry.codec import Decoded, decode

    # A persistent broker and observer session: whatever the agent sends after the restart,
    # however soon, waits for the observer.
    broker = MosquittoProcess(workdir=tmp_path / "mosq", persistence=True).start()
    agent = AgentProcess(broker, tmp_path / "gw")
    obs = Observer(broker.host, broker.port, client_id="observer-p", persistent=True)
    try:
        wait_for(obs.subscribed.is_set, 5, what="observer subscribed")
        agent.start()
        wait_for(lambda: online(obs), 15, what="agent online")
        broker.stop()
        drop(agent.spool, "a", line(outcomes={"approved": 4}) + "\n")
        drop(agent.spool, "b", line(terminal="pinpad-3", outcomes={"declined": 1}) + "\n")
        wait_for(lambda: not list(agent.spool.glob("*.jsonl")), 15, what="spool read offline")
        broker.start()
        wait_for(lambda: len(txn(obs)) >= 2, 30, what="the queued windows")
        raw = [(t, p) for t, p in obs.raw if t.endswith("/transactions")]
    finally:
        agent.stop()
        obs.close()
        broker.close()
    assert len(raw) == 2
    for topic, payload in raw:
        got = decode(topic, payload)
        assert isinstance(got, Decoded)
        assert got.message.historical, payload


@pytest.mark.parametrize("crash", ["after_journal", "after_queueing"])
def test_a_crash_at_any_step_of_a_scan_counts_every_line_once_in_the_collector(
    crash: str, collector_db: Path, observer: Observer, agent: AgentProcess
) -> None:
    """What kill -9 leaves on disk at each step, made with the agent's own classes, then the
    real agent process restarted on it: the collector stores every line once."""
    from agent.contract import encode
    from agent.queue import Outbox
    from agent.txnspool import TxnSpool

    lines = [
        '{"since":1795338000,"until":1795338600,"outcomes":{"approved":3}}',
        '{"since":"2026-11-22T09:10:00+08:00","until":1795339200,"outcomes":{"approved":4}}',
    ]
    for i, text in enumerate(lines):
        drop(agent.spool, f"f{i}", text + "\n")
    saved = {p.name: p.read_bytes() for p in agent.spool.glob("*.jsonl")}
    spool = TxnSpool(agent.spool, GW, agent.state / "txn-journal")
    scan = spool.scan(time.time())  # the journal is written and the sources deleted...
    if crash == "after_journal":
        for name, data in saved.items():  # ...or not yet: killed before the unlinks
            (agent.spool / name).write_bytes(data)
    else:  # killed after queueing every message, before the journal was deleted
        outbox = Outbox(agent.state / "outbox.sqlite", max_messages=100, max_age_s=86400)
        for topic, body in scan.messages:
            outbox.put(topic, encode({**body, "historical": True}), float(body["ts"]))
        outbox.close()
    agent.start()
    wait_for(lambda: stored_approved(collector_db) >= 7, 20, what="the windows stored")
    wait_for(lambda: not list(agent.state.glob("txn-journal/*.merged")), 10, what="journal gone")
    wait_for(lambda: online(observer), 10, what="agent online")
    sent = 2 if crash == "after_queueing" else 1  # the queue's copy, then the journal's
    wait_for(lambda: len(txn(observer)) >= sent, 10, what=f"{sent} messages")
    assert stored_approved(collector_db) == 7
    assert not list(agent.spool.glob("*.jsonl"))


def test_a_full_state_disk_loses_no_window_and_stops_nothing(
    mosquitto: MosquittoProcess, observer: Observer, tmp_path: Path
) -> None:
    agent = AgentProcess(mosquitto, tmp_path / "gw", POSFLEET_AGENT_HEARTBEAT_INTERVAL="0.5")
    agent.state.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(agent.state)], check=False
    )
    if mounted.returncode != 0:
        missing("a small tmpfs for the state directory (mount needs root)", "run the suite as root")
    try:
        agent.start()
        wait_for(lambda: online(observer), 15, what="agent online")
        filler = agent.state / "filler"
        full = False
        with filler.open("wb") as f:
            while not full:  # the gateway's flash is full
                try:
                    f.write(b"\0" * 65536)
                    f.flush()
                except OSError:
                    full = True
        drop(agent.spool, "a", line(outcomes={"approved": 6}) + "\n")
        n = len(observer.of_kind("heartbeat"))
        wait_for(lambda: len(observer.of_kind("heartbeat")) > n + 3, 20, what="still beating")
        assert agent.proc is not None
        assert agent.proc.poll() is None, "the agent is still running"
        filler.unlink()
        wait_for(lambda: len(txn(observer)) >= 1, 20, what="the window once there is room")
        agent.stop()
        assert [b["outcomes"] for b in txn(observer)] == [{"approved": 6}]
    finally:
        agent.stop()
        subprocess.run(["umount", str(agent.state)], check=False)


def test_a_file_named_with_a_card_number_is_read_and_its_name_kept_nowhere(
    observer: Observer, agent: AgentProcess
) -> None:
    drop(agent.spool, f"txn-{PAN}", line(outcomes={"approved": 1}) + "\nnot json\n")
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the good line")
    wait_for(lambda: observer.of_kind("event"), 20, what="the rejection event")
    agent.stop()
    assert [b["outcomes"] for b in txn(observer)] == [{"approved": 1}]
    names = "\n".join(str(p) for p in agent.work.rglob("*")).encode()
    everything = agent.everything_written() + names + b"".join(r for _, r in observer.raw)
    assert PAN.encode() not in everything
    (reason,) = agent.spool.glob("rejected/*.reason")
    assert [r.split(":")[0] for r in reason.read_text().splitlines()] == ["line 2"]


def test_files_of_one_interval_merge_per_currency_and_acquirer_and_every_batch_is_stored(
    collector_db: Path, observer: Observer, agent: AgentProcess
) -> None:
    from support.stack import query

    drop(
        agent.spool,
        "1",
        # RFC 3339 at +08:00 here, Unix seconds below: 09:00+08:00 is 1795309200
        '{"since":"2026-11-22T09:00:00+08:00","until":"2026-11-22T09:10:00+08:00",'
        '"outcomes":{"approved":3},"approved_amount":300,"currency":"CNY","acquirer":"a"}\n',
    )
    drop(
        agent.spool,
        "2",
        '{"since":1795309500,"until":1795310400,"outcomes":{"approved":2},'  # overlaps 1
        '"approved_amount":200,"currency":"CNY","acquirer":"a"}\n'
        '{"since":1795309200,"until":1795309800,"outcomes":{"approved":1},'
        '"approved_amount":100,"currency":"USD","acquirer":"a"}\n',
    )
    drop(
        agent.spool,
        "3",
        '{"since":1795309200,"until":1795309800,"outcomes":{"approved":5},'
        '"approved_amount":500,"currency":"CNY","acquirer":"b"}\n'
        '{"batch":{"id":"B1","count":10,"amount":1000,"currency":"CNY","closed_at":1795310000},'
        '"currency":"CNY","acquirer":"a"}\n'
        '{"batch":{"id":"B2","count":1,"amount":100,"currency":"CNY","closed_at":1795310000},'
        '"currency":"CNY","acquirer":"a"}\n',
    )
    agent.start()
    wait_for(lambda: len(query(collector_db, "SELECT 1 FROM txn_batches")) == 2, 20, what="batches")
    wait_for(lambda: stored_approved(collector_db) == 11, 10, what="11 approvals stored")
    rows = query(
        collector_db,
        "SELECT currency, acquirer, sum(approved), sum(approved_amount) FROM txn_aggregates "
        "GROUP BY currency, acquirer ORDER BY currency, acquirer",
    )
    assert rows == [("CNY", "a", 5, 500), ("CNY", "b", 5, 500), ("USD", "a", 1, 100)]
    assert sorted(r[0] for r in query(collector_db, "SELECT batch_id FROM txn_batches")) == [
        "B1",
        "B2",
    ]


def test_501_files_and_a_spool_deleted_while_running_lose_and_repeat_nothing(
    observer: Observer, agent: AgentProcess
) -> None:
    for i in range(501):
        drop(agent.spool, f"{i:04d}", line(terminal=f"t-{i}", outcomes={"approved": 1}) + "\n")
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 501, 30, what="501 windows")
    shutil.rmtree(agent.spool)  # an operator's clean-up, or the payment app reinstalled
    wait_for(agent.spool.is_dir, 10, what="the spool made again")
    drop(agent.spool, "after", line(terminal="t-late", outcomes={"approved": 1}) + "\n")
    wait_for(lambda: len(txn(observer)) >= 502, 20, what="the file dropped afterwards")
    agent.stop()
    terminals = [str(b["terminal"]) for b in txn(observer)]
    assert sorted(terminals) == sorted([f"t-{i}" for i in range(501)] + ["t-late"])


def test_a_line_still_being_written_in_place_is_not_cut_in_half(
    observer: Observer, agent: AgentProcess
) -> None:
    whole = line(terminal="pinpad-9", outcomes={"approved": 8}) + "\n"
    # The wrong way: written straight into a .jsonl, and slowly.
    with (agent.spool / "slow.jsonl").open("w") as slow:
        slow.write(whole[:40])
        slow.flush()
        agent.start()
        drop(agent.spool, "z-marker", line(outcomes={"approved": 1}) + "\n")
        wait_for(lambda: len(txn(observer)) >= 1, 20, what="a scan that saw the slow file")
        slow.write(whole[40:])
    wait_for(lambda: len(txn(observer)) >= 2, 20, what="the slow file, once complete")
    agent.stop()
    assert {str(b["terminal"]): b["outcomes"] for b in txn(observer)} == {
        "pinpad-2": {"approved": 1},
        "pinpad-9": {"approved": 8},
    }
    assert not (agent.spool / "rejected").exists()


def test_rejected_files_stay_within_a_bounded_size_on_the_gateways_flash(
    observer: Observer, agent: AgentProcess
) -> None:
    from agent.txnspool import MAX_REJECTED_BYTES

    bad = b"not json\n" * (1024 * 1024 // 9)  # ~1 MB of refused lines, ~116,000 of them
    files = MAX_REJECTED_BYTES // len(bad) + 3
    for i in range(files):
        drop(agent.spool, f"{i:03d}", bad)
    agent.start()
    wait_for(lambda: not list(agent.spool.glob("*.jsonl")), 60, what="every file read")
    used = sum(p.stat().st_size for p in (agent.spool / "rejected").iterdir())
    assert used <= MAX_REJECTED_BYTES
    newest = (agent.spool / "rejected" / f"{files - 1:03d}.jsonl.reason").read_text()
    assert newest.startswith("line 1: malformed_json")


def test_a_journal_left_in_the_spool_by_the_previous_release_is_taken_over_if_the_agent_wrote_it(
    observer: Observer, agent: AgentProcess
) -> None:
    import pwd

    body = {"v": 1, "gw": GW, "ts": int(time.time()), "since": 1795338000, "until": 1795338600}
    ours = {"sources": [], "messages": [[f"posfleet/v1/{GW}/transactions", body]]}
    (agent.spool / "1795339260000.merged").write_text(json.dumps(ours))
    theirs = {**body, "until": 1795338601, "outcomes": {"approved": 99}}
    forged = agent.spool / "1795339260001.merged"
    forged.write_text(json.dumps({"sources": [], "messages": [[ours["messages"][0][0], theirs]]}))
    nobody = pwd.getpwnam("nobody")
    if os.geteuid() != 0:
        missing("root, to give a file to another user", "run the suite as root")
    os.chown(forged, nobody.pw_uid, nobody.pw_gid)  # written by the payment app's user
    agent.start()
    wait_for(lambda: len(txn(observer)) >= 1, 20, what="the previous release's window")
    agent.stop()
    assert [b["until"] for b in txn(observer)] == [1795338600]
    assert not (agent.spool / "1795339260000.merged").exists()
