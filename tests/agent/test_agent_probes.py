"""Probes read fixture trees and fake commands; a failing reading never stops the others."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.probes import ProbeError, Reading, run_probes
from agent.probes.firmware import FirmwareProbe
from agent.probes.hardware import HardwareProbe, printer_state
from agent.probes.network import NetworkProbe
from agent.probes.system import SystemProbe

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
    "{iface}\t00000000\t0102A8C0\t0003\t0\t0\t{metric}\t00000000\n"
)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_runner(outputs: dict[str, str]):  # type: ignore[no-untyped-def]
    def run(argv: Sequence[str]) -> str:
        key = " ".join(argv)
        for prefix, out in outputs.items():
            if key.startswith(prefix):
                if out.startswith("!"):
                    raise ProbeError(out[1:])
                return out
        raise ProbeError(f"{argv[0]}: not installed")

    return run


def no_disk(path: Path) -> float:
    return 42.0


def test_system_probe_reads_uptime_boot_id_load_and_memory_from_a_proc_tree(tmp_path: Path) -> None:
    write(tmp_path, "uptime", "12345.67 999.0\n")
    write(tmp_path, "sys/kernel/random/boot_id", "abc-123\n")
    write(tmp_path, "loadavg", "0.50 0.40 0.30 1/100 4242\n")
    write(tmp_path, "meminfo", "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n")
    r = SystemProbe(tmp_path, agent_version="1.2.3", statvfs=no_disk).read()
    assert r.errors == {}
    assert r.fields == {
        "agent_version": "1.2.3",
        "uptime_s": 12346,
        "boot_id": "abc-123",
        "load1": 0.5,
        "mem_used_pct": 75.0,
        "disk_used_pct": 42.0,
    }


def test_system_probe_missing_file_is_an_error_entry_and_the_rest_still_reports(
    tmp_path: Path,
) -> None:
    write(tmp_path, "uptime", "10.0 1.0\n")
    r = SystemProbe(tmp_path, statvfs=no_disk).read()
    assert r.fields["uptime_s"] == 10
    assert r.fields["disk_used_pct"] == 42.0
    assert set(r.errors) == {"boot_id", "load", "memory"}


def network(proc: Path, sys: Path, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("runner", fake_runner({"ip -o addr": "2: x    inet 10.0.0.7/24 brd x\n"}))
    kw.setdefault("which", lambda name: None)
    return NetworkProbe(proc, sys, **kw)


def test_cellular_link_without_a_modem_reports_the_missing_modem_as_an_error(
    tmp_path: Path,
) -> None:
    write(tmp_path / "proc", "net/route", ROUTE.format(iface="wwan0", metric=0))
    r = network(tmp_path / "proc", tmp_path / "sys").read()
    assert r.fields["link"] == "cellular"
    assert r.fields["iface"] == "wwan0"
    assert r.fields["addresses"] == ["10.0.0.7"]
    assert "rssi_dbm" not in r.fields
    assert "ModemManager" in r.errors["modem"]


def test_wired_gateway_whose_mmcli_finds_no_modem_reports_no_error(tmp_path: Path) -> None:
    write(tmp_path / "proc", "net/route", ROUTE.format(iface="eth0", metric=100))
    runner = fake_runner({"ip -o addr": "", "mmcli": "!mmcli exited 1: couldn't find modem"})
    r = network(tmp_path / "proc", tmp_path / "sys", runner=runner, which=lambda n: n).read()
    assert r.fields["link"] == "ethernet"
    assert r.errors == {}


def test_cellular_signal_comes_from_modemmanager_keyvalue_output(tmp_path: Path) -> None:
    write(tmp_path / "proc", "net/route", ROUTE.format(iface="wwan0", metric=0))
    mm = (
        "modem.signal.refresh.rate : 10\n"
        "modem.signal.lte.rssi     : -71.00\n"
        "modem.signal.lte.rsrp     : -101.00\n"
        "modem.signal.umts.rssi    : --\n"
    )
    runner = fake_runner({"ip -o addr": "", "mmcli -m any --signal-get": mm})
    r = network(tmp_path / "proc", tmp_path / "sys", runner=runner, which=lambda n: n).read()
    assert (r.fields["rssi_dbm"], r.fields["rsrp_dbm"]) == (-71.0, -101.0)
    assert r.errors == {}


def test_wifi_link_and_signal_come_from_sys_and_proc_net_wireless(tmp_path: Path) -> None:
    write(tmp_path / "proc", "net/route", ROUTE.format(iface="wlan0", metric=600))
    write(
        tmp_path / "proc",
        "net/wireless",
        "Inter-| sta-|   Quality        |\n face | tus | link level noise |\n"
        " wlan0: 0000   54.  -56.  -256        0      0      0      0     12        0\n",
    )
    (tmp_path / "sys/class/net/wlan0/wireless").mkdir(parents=True)
    r = network(tmp_path / "proc", tmp_path / "sys").read()
    assert r.fields["link"] == "wifi"
    assert r.fields["wifi_signal_dbm"] == -56.0


def test_latency_is_the_median_tcp_connect_time_and_failures_count_as_loss(
    tmp_path: Path,
) -> None:
    times = iter([20.0, OSError("refused"), 40.0, 30.0])

    def connect(host: str, port: int, timeout: float) -> float:
        value = next(times)
        if isinstance(value, OSError):
            raise value
        return value

    r = network(
        tmp_path,
        tmp_path,
        payment_hosts=["pay.example:443", "pay2.example:443"],
        attempts=2,
        connect=connect,
    ).read()
    assert r.fields["latency_ms"] == 30.0
    assert r.fields["loss_pct"] == 25.0
    assert r.fields["link"] == "unknown"


def test_failed_dns_resolution_is_reported_as_dns_not_ok(tmp_path: Path) -> None:
    def resolver(name: str) -> object:
        raise OSError("Name or service not known")

    r = network(tmp_path, tmp_path, dns_name="pay.example", resolver=resolver).read()
    assert r.fields["dns_ok"] is False


def test_gateway_without_battery_reports_no_battery_fields_and_no_error(tmp_path: Path) -> None:
    write(tmp_path, "class/power_supply/AC/type", "Mains\n")
    write(tmp_path, "class/thermal/thermal_zone0/temp", "48500\n")
    write(tmp_path, "class/thermal/thermal_zone1/temp", "51000\n")
    r = HardwareProbe(tmp_path, statvfs=no_disk).read()
    assert r.errors == {}
    assert r.fields == {"temperature_c": 51.0, "storage_used_pct": 42.0}


def test_battery_capacity_charging_cycles_and_health_are_read(tmp_path: Path) -> None:
    for name, value in {
        "type": "Battery",
        "capacity": "87",
        "status": "Discharging",
        "cycle_count": "312",
        "charge_full": "2400000",
        "charge_full_design": "3000000",
    }.items():
        write(tmp_path, f"class/power_supply/BAT0/{name}", value + "\n")
    r = HardwareProbe(tmp_path, statvfs=no_disk).read()
    assert r.fields["battery_pct"] == 87.0
    assert r.fields["charging"] is False
    assert r.fields["battery_cycles"] == 312
    assert r.fields["battery_health_pct"] == 80.0


def test_broken_printer_command_is_an_error_and_printer_unknown_while_others_report(
    tmp_path: Path,
) -> None:
    write(tmp_path, "class/thermal/thermal_zone0/temp", "40000\n")
    runner = fake_runner({"lpstat": "!lpstat exited 1: scheduler is not running"})
    r = HardwareProbe(tmp_path, printer_source="cmd:lpstat -p", runner=runner, statvfs=no_disk)
    reading = r.read()
    assert reading.fields["printer"] == "unknown"
    assert "scheduler is not running" in reading.errors["printer"]
    assert reading.fields["temperature_c"] == 40.0


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("printer receipt is idle.  enabled since Mon 01 Jan", "ok"),
        ("printer receipt disabled since Mon - media-empty-error", "paper_out"),
        ("printer receipt now printing receipt-12. media-low-report", "paper_low"),
        ("printer receipt disabled since Mon -", "error"),
        ("paper_out\n", "paper_out"),
    ],
)
def test_printer_state_maps_lpstat_and_vendor_files(text: str, state: str) -> None:
    assert printer_state(text) == state


def test_vendor_printer_file_gives_the_printer_state(tmp_path: Path) -> None:
    write(tmp_path, "printer", "paper_low\n")
    r = HardwareProbe(tmp_path, printer_source=f"file:{tmp_path / 'printer'}", statvfs=no_disk)
    assert r.read().fields["printer"] == "paper_low"


def test_firmware_reads_os_kernel_and_vendor_sources_and_reports_a_missing_one(
    tmp_path: Path,
) -> None:
    write(tmp_path, "etc/os-release", 'NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    write(tmp_path, "proc/sys/kernel/osrelease", "6.1.0-18-arm64\n")
    write(tmp_path, "vendor/fw", "PAX-9.1.4\n")
    probe = FirmwareProbe(
        tmp_path / "proc",
        tmp_path / "etc",
        tmp_path / "sys",
        model="A920",
        sources={
            "terminal_fw": f"file:{tmp_path / 'vendor/fw'}",
            "payment_app": "cmd:payapp --version",
            "patch_level": f"file:{tmp_path / 'vendor/missing'}",
        },
        runner=fake_runner({"payapp --version": "PayApp 4.2.0\nbuild 77\n"}),
    )
    r = probe.read()
    assert r.fields == {
        "os": "Debian GNU/Linux 12",
        "kernel": "6.1.0-18-arm64",
        "model": "A920",
        "terminal_fw": "PAX-9.1.4",
        "payment_app": "PayApp 4.2.0",
    }
    assert set(r.errors) == {"patch_level"}


def test_a_probe_that_raises_is_recorded_and_the_next_probe_still_runs(tmp_path: Path) -> None:
    class Boom:
        name = "boom"

        def read(self) -> Reading:
            raise RuntimeError("driver crashed")

    class Fine:
        name = "fine"

        def read(self) -> Reading:
            return Reading({"load1": 1.0})

    r = run_probes([Boom(), Fine()])
    assert r.fields == {"load1": 1.0}
    assert r.errors == {"boom": "RuntimeError: driver crashed"}
