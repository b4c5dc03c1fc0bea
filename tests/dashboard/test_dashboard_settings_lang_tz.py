"""--lang / POSFLEET_LANG and --tz / POSFLEET_TZ: typed, and a bad value names the setting
and the fix (the page shows the same message; the launcher refuses to start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import main as cli
from dashboard.settings import SettingsError, load_settings


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "store.sqlite"
    db.write_bytes(b"")
    for name in ("POSFLEET_LANG", "POSFLEET_TZ", "POSFLEET_DB", "TZ"):
        monkeypatch.delenv(name, raising=False)
    return db


def test_language_and_zone_come_from_the_command_line(store: Path) -> None:
    s = load_settings(["--db", str(store), "--lang", "zh-CN", "--tz", "Asia/Shanghai"])
    assert (s.lang, s.tz) == ("zh-CN", "Asia/Shanghai")


def test_language_and_zone_come_from_the_environment(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_LANG", "zh-CN")
    monkeypatch.setenv("POSFLEET_TZ", "Europe/Berlin")
    s = load_settings(["--db", str(store)])
    assert (s.lang, s.tz) == ("zh-CN", "Europe/Berlin")
    # The command line wins over the environment.
    assert load_settings(["--db", str(store), "--lang", "en"]).lang == "en"


def test_defaults_are_english_and_the_hosts_zone(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    s = load_settings(["--db", str(store)])
    assert (s.lang, s.tz) == ("en", "America/Sao_Paulo")


def test_the_hosts_zone_is_read_from_etc_localtime(tmp_path: Path, store: Path) -> None:
    from dashboard.timefmt import host_zone

    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Asia/Shanghai")
    assert host_zone(link) == "Asia/Shanghai"
    utc = tmp_path / "utc"
    utc.symlink_to("/usr/share/zoneinfo/Etc/UTC")
    assert host_zone(utc) == "UTC"
    assert host_zone(tmp_path / "missing") == "UTC"


def test_a_posix_tz_rule_or_a_tz_file_falls_back_to_the_hosts_zone_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.timefmt import host_zone

    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Europe/Berlin")
    monkeypatch.setenv("TZ", "CST-8")  # a POSIX rule, valid for libc, no IANA name
    assert host_zone(link) == "Europe/Berlin"
    monkeypatch.setenv("TZ", f":{link}")
    assert host_zone() == "Europe/Berlin"


@pytest.mark.parametrize("bad", ["zh", "cn", "ZH-cn", "english", "fr"])
def test_an_unknown_language_names_the_setting_and_the_choices(store: Path, bad: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(["--db", str(store), "--lang", bad])
    message = str(err.value)
    assert "--lang / POSFLEET_LANG must be one of zh-CN, en" in message
    assert repr(bad) in message


@pytest.mark.parametrize("bad", ["Asia/Beijing", "CST+8", "Mars/Olympus", "../etc/passwd", " UTC"])
def test_an_unknown_zone_names_the_setting_and_the_fix(store: Path, bad: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(["--db", str(store), "--tz", bad])
    message = str(err.value)
    assert "--tz / POSFLEET_TZ must be an IANA time zone name such as Asia/Shanghai" in message
    assert repr(bad) in message


def test_a_bad_zone_in_the_environment_is_named_too(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_TZ", "Beijing")
    with pytest.raises(SettingsError, match="POSFLEET_TZ"):
        load_settings(["--db", str(store)])


def test_the_launcher_refuses_a_bad_language_before_starting(store: Path) -> None:
    with pytest.raises(SystemExit, match="--lang / POSFLEET_LANG must be one of"):
        cli.main(["run", "--db", str(store), "--lang", "de"])


def test_the_launcher_hands_language_and_zone_to_the_console(store: Path) -> None:
    cmd = cli.streamlit_command(store, 8501, "127.0.0.1", "zh-CN", "Asia/Shanghai")
    assert cmd[cmd.index("--") + 1 :] == [
        "--db", str(store), "--lang", "zh-CN", "--tz", "Asia/Shanghai",
    ]  # fmt: skip
