"""Network probe: link type, interface, addresses, cellular and Wi-Fi signal, latency, DNS.

Roots and commands are injectable. Latency and loss to the payment hosts are measured by
TCP connect time (ICMP needs root and is often filtered on store networks; the payment
host's TCP port is what card transactions need).
"""

from __future__ import annotations

import shutil
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.probes import Fields, ProbeError, Reading, Runner, partial, run_command

Connector = Callable[[str, int, float], float]
Resolver = Callable[[str], object]
CELLULAR_PREFIXES = ("wwan", "ppp", "rmnet", "wwp", "usb", "cdc")


def tcp_connect_ms(host: str, port: int, timeout: float) -> float:
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout):
        return (time.monotonic() - start) * 1000.0


def resolve(name: str) -> object:
    return socket.getaddrinfo(name, None)


class NetworkProbe:
    name = "network"

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        sys_root: Path = Path("/sys"),
        *,
        payment_hosts: Sequence[str] = (),
        dns_name: str | None = None,
        timeout: float = 2.0,
        attempts: int = 3,
        mmcli: str = "mmcli",
        runner: Runner = run_command,
        which: Callable[[str], str | None] = shutil.which,
        connect: Connector = tcp_connect_ms,
        resolver: Resolver = resolve,
    ) -> None:
        self.proc, self.sys = proc_root, sys_root
        self.hosts = list(payment_hosts)
        self.dns_name = dns_name
        self.timeout, self.attempts = timeout, attempts
        self.mmcli, self.run, self.which = mmcli, runner, which
        self.connect, self.resolver = connect, resolver

    def read(self) -> Reading:
        r = Reading()
        iface = self._default_iface()
        link = self._link_type(iface) if iface else "unknown"
        r.fields["link"] = link
        if iface:
            r.fields["iface"] = iface
            partial(r, "addresses", lambda: self._addresses(iface))
        partial(r, "wifi", lambda: self._wifi(iface))
        if link == "cellular" or self.which(self.mmcli):
            modem = Reading()
            partial(modem, "modem", self._modem)
            r.fields.update(modem.fields)
            # No modem on a wired gateway is normal; on a cellular link it is a fault.
            if link == "cellular":
                r.errors.update(modem.errors)
        if self.hosts:
            partial(r, "latency", self._latency)
        if self.dns_name:
            partial(r, "dns", self._dns)
        return r

    def _default_iface(self) -> str | None:
        try:
            lines = (self.proc / "net/route").read_text().splitlines()[1:]
        except OSError:
            return None
        best: tuple[int, str] | None = None
        for line in lines:
            cols = line.split()
            if len(cols) > 6 and cols[1] == "00000000":
                metric = int(cols[6])
                if best is None or metric < best[0]:
                    best = (metric, cols[0])
        return best[1] if best else None

    def _link_type(self, iface: str) -> str:
        if (self.sys / "class/net" / iface / "wireless").exists():
            return "wifi"
        if iface.startswith(CELLULAR_PREFIXES):
            return "cellular"
        return "ethernet"

    def _addresses(self, iface: str) -> Fields:
        out = self.run(["ip", "-o", "addr", "show", "dev", iface])
        addrs = []
        for line in out.splitlines():
            cols = line.split()
            for fam in ("inet", "inet6"):
                if fam in cols:
                    addrs.append(cols[cols.index(fam) + 1].split("/")[0])
        return {"addresses": addrs[:16]}

    def _wifi(self, iface: str | None) -> Fields:
        path = self.proc / "net/wireless"
        if not path.exists():
            return {}
        for line in path.read_text().splitlines()[2:]:
            name, _, rest = line.partition(":")
            cols = rest.split()
            if (iface is None or name.strip() == iface) and len(cols) >= 3:
                level = float(cols[2].rstrip("."))
                if level > 0:  # some drivers report 0..255 with 256 offset
                    level -= 256
                return {"wifi_signal_dbm": level}
        return {}

    def _modem(self) -> Fields:
        if not self.which(self.mmcli):
            raise ProbeError(f"{self.mmcli} (ModemManager) not installed")
        out = self.run([self.mmcli, "-m", "any", "--signal-get", "--output-keyvalue"])
        values: dict[str, float] = {}
        for line in out.splitlines():
            key, _, val = line.partition(":")
            try:
                values[key.strip()] = float(val.strip())
            except ValueError:
                continue
        fields: Fields = {}
        for tech in ("5g", "lte", "umts", "gsm"):
            rssi = values.get(f"modem.signal.{tech}.rssi")
            if rssi is not None and "rssi_dbm" not in fields:
                fields["rssi_dbm"] = rssi
            rsrp = values.get(f"modem.signal.{tech}.rsrp")
            if rsrp is not None and "rsrp_dbm" not in fields:
                fields["rsrp_dbm"] = rsrp
        if not fields:
            raise ProbeError("modem exposes no signal values (run mmcli --signal-setup)")
        return fields

    def _latency(self) -> Fields:
        times, tries = [], 0
        errors = []
        for hp in self.hosts:
            host, _, port = hp.rpartition(":")
            for _ in range(self.attempts):
                tries += 1
                try:
                    times.append(self.connect(host, int(port), self.timeout))
                except OSError as exc:
                    errors.append(f"{hp}: {exc}")
        fields: Fields = {"loss_pct": round(100.0 * (tries - len(times)) / tries, 1)}
        if times:
            fields["latency_ms"] = round(statistics.median(times), 1)
        return fields

    def _dns(self) -> Fields:
        start = time.monotonic()
        try:
            self.resolver(self.dns_name or "")
        except OSError:
            return {"dns_ok": False}
        return {"dns_ok": True, "dns_ms": round((time.monotonic() - start) * 1000.0, 1)}
