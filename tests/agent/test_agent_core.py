"""Pure parts of the agent: publishing policy, outbox bounds, compact wire, config errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, load_settings
from agent.link import full_jitter
from agent.policy import ChangePolicy, changed
from agent.queue import Outbox
from agent.session import SessionCounter


def test_numbers_inside_their_deadband_are_not_a_change() -> None:
    bands = {"rssi_dbm": 6.0}
    assert changed({"rssi_dbm": -70.0}, {"rssi_dbm": -74.0}, bands) == []
    assert changed({"rssi_dbm": -70.0}, {"rssi_dbm": -77.0}, bands) == ["rssi_dbm"]
    assert changed({"iface": "eth0"}, {"iface": "wwan0"}, bands) == ["iface"]
    assert changed({"dns_ok": True}, {"dns_ok": False}, {"dns_ok": 5.0}) == ["dns_ok"]


def test_policy_sends_first_on_change_and_after_max_silence_only() -> None:
    p = ChangePolicy(max_silence=100.0, deadbands={"x": 5.0})
    assert p.decide({"x": 1.0}, now=0.0)
    p.sent({"x": 1.0}, now=0.0)
    assert not p.decide({"x": 3.0}, now=50.0)
    assert p.decide({"x": 7.0}, now=50.0)
    assert p.decide({"x": 1.0}, now=100.0)


def test_outbox_drops_the_oldest_when_full_and_counts_the_drops(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", max_messages=3, max_age_s=1e9)
    try:
        for i in range(5):
            box.put("t", f"m{i}".encode(), created=1000.0 + i)
        assert [r.payload for r in box.next_batch(10)] == [b"m2", b"m3", b"m4"]
        assert box.drops() == {"dropped_full": 2}
    finally:
        box.close()


def test_outbox_drops_messages_older_than_the_age_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", max_messages=100, max_age_s=60)
    try:
        box.put("t", b"old", created=1000.0)
        box.put("t", b"new", created=1030.0)
        box.expire(now=1070.0)
        assert [r.payload for r in box.next_batch(10)] == [b"new"]
        assert box.take_drops() == {"dropped_age": 1}
        assert box.drops() == {}
    finally:
        box.close()


def test_outbox_rows_and_drop_counts_survive_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", max_messages=1, max_age_s=1e9)
    box.put("t", b"a", created=1.0)
    box.put("t", b"b", created=2.0)
    box.close()
    box = Outbox(tmp_path / "q.sqlite", max_messages=1, max_age_s=1e9)
    try:
        assert [r.payload for r in box.next_batch(10)] == [b"b"]
        assert box.drops() == {"dropped_full": 1}
    finally:
        box.close()


def test_a_row_handed_to_the_client_is_not_handed_again_until_acked(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", max_messages=10, max_age_s=1e9)
    try:
        for i in range(3):
            box.put("t", bytes([i]), created=float(i))
        first = box.next_batch(2)
        for row in first:
            box.handed(row.id)
        assert [r.payload for r in box.next_batch(10)] == [b"\x02"]
        box.ack(first[0].id)
        assert len(box) == 2
    finally:
        box.close()


def test_session_counter_rises_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "state" / "session"
    assert SessionCounter(path).next() == 1
    assert SessionCounter(path).next() == 2
    assert SessionCounter(path).current() == 2


def test_reconnect_backoff_is_jittered_and_bounded() -> None:
    import random

    rng = random.Random(7)
    delays = [full_jitter(10, 1.0, 120.0, rng) for _ in range(50)]
    assert all(1 <= d <= 120 for d in delays)
    assert len(set(delays)) > 10
    assert all(full_jitter(0, 1.0, 120.0, rng) <= 2 for _ in range(20))


def test_config_error_names_the_setting_and_the_environment_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('gateway_id = "gw-1"\nkeepalive = 300\n')
    with pytest.raises(ConfigError, match=r"keepalive.*POSFLEET_AGENT_KEEPALIVE"):
        load_settings(cfg)


def test_tls_without_a_ca_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('gateway_id = "gw-1"\ntls = true\n')
    with pytest.raises(ConfigError, match="ca_file"):
        load_settings(cfg)


def test_txn_spool_group_is_a_name_or_a_gid_written_as_a_toml_number(tmp_path: Path) -> None:
    """docs/agent.md: "the group (name or gid)"; a gid written without quotes is a gid."""
    cfg = tmp_path / "agent.toml"
    cfg.write_text('gateway_id = "gw-1"\ntxn_spool_group = 1001\n')
    assert load_settings(cfg).txn_spool_group == "1001"
    cfg.write_text('gateway_id = "gw-1"\ntxn_spool_group = "payapp"\n')
    assert load_settings(cfg).txn_spool_group == "payapp"
    cfg.write_text('gateway_id = "gw-1"\ntxn_spool_group = true\n')
    with pytest.raises(ConfigError, match="txn_spool_group"):
        load_settings(cfg)


def test_environment_overrides_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('gateway_id = "gw-1"\nbroker_port = 8883\n')
    monkeypatch.setenv("POSFLEET_AGENT_BROKER_PORT", "1884")
    s = load_settings(cfg)
    assert (s.gateway_id, s.broker_port) == ("gw-1", 1884)


def test_missing_config_file_is_named() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(Path("/nonexistent/agent.toml"))


def test_the_agent_imports_neither_the_server_side_nor_pydantic(tmp_path: Path) -> None:
    # Run a real dry-run round (every probe, every message) before looking at sys.modules.
    code = (
        "import sys, io, agent.main, agent.service, agent.check, agent.credentials\n"
        "agent.main.main(['run', '--once', '--dry-run'])\n"
        "heavy = ('streamlit', 'pandas', 'influxdb_client', 'prometheus_client', 'collector',"
        " 'dashboard', 'simulators', 'numpy', 'pydantic', 'pydantic_core', 'pydantic_settings',"
        " 'telemetry')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n"
    )
    env = {
        **os.environ,
        "POSFLEET_AGENT_GATEWAY_ID": "gw-1",
        "POSFLEET_AGENT_STATE_DIR": str(tmp_path),
        "POSFLEET_AGENT_PRINTER_SOURCE": "cmd:lpstat -p",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    lines = out.stdout.strip().splitlines()
    assert any(line.startswith("posfleet/v1/gw-1/heartbeat ") for line in lines)
    assert lines[-1] == "[]"


def test_the_shipped_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy/systemd/agent.toml.example"
    s = load_settings(example)
    assert (s.gateway_id, s.broker_port, s.tls, s.keepalive) == ("gw-0042", 8883, True, 55)
    assert s.payment_hosts == ["pay.acquirer.example:443"]


def test_a_plain_install_pulls_exactly_what_the_agent_imports(tmp_path: Path) -> None:
    """``pip install posfleet`` is the gateway's install: its dependencies are the
    distributions the agent's modules import at run time, nothing more (pydantic and the
    server side are extras)."""
    import importlib.metadata as md
    import tomllib

    show = "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    code = (
        "import sys, agent.main, agent.service, agent.check, agent.credentials\n"
        "agent.main.main(['run', '--once', '--dry-run'])\n" + show
    )
    env = {
        **os.environ,
        "POSFLEET_AGENT_GATEWAY_ID": "gw-1",
        "POSFLEET_AGENT_STATE_DIR": str(tmp_path),
    }

    def modules(src: str) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-c", src], capture_output=True, text=True, check=True, env=env
        )
        return set(out.stdout.strip().splitlines()[-1].split())

    # What the interpreter loads before any agent code (site hooks) is not the agent's.
    top_level = modules(code) - modules("import sys\n" + show)
    dist_of = md.packages_distributions()
    imported = {
        dist.lower()
        for module in top_level
        for dist in dist_of.get(module, [])
        if dist.lower() != "posfleet"
    }
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in declared}
    assert names == imported, f"declared {sorted(names)}, the agent imports {sorted(imported)}"
