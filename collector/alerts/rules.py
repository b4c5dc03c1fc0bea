"""Telemetry alert kinds: network degraded, firmware, hardware, clock skew (pure).

Each rule turns one accepted message into verdicts (raise / clear a condition). Numeric
rules use two thresholds (hysteresis) so a value hovering at the limit does not flap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collector.alerts.config import AlertSettings
from collector.alerts.model import Key, Kind, Place
from collector.alerts.topology import Topology
from collector.alerts.versions import FirmwarePolicy
from collector.model import SubjectType
from telemetry.codec import Decoded
from telemetry.models import Firmware, Hardware, Heartbeat, Network, PrinterState

_Sample = tuple[datetime, float | None, float | None, float | None]


@dataclass(frozen=True, slots=True)
class Verdict:
    key: Key
    active: bool  # True: raise (or keep); False: clear
    place: Place
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _hysteresis(active: bool, value: float, raise_at: float, clear_at: float, high: bool) -> bool:
    """``high``: bad when above. Between the thresholds the current state holds."""
    if high:
        return value >= raise_at if not active else value > clear_at
    return value <= raise_at if not active else value < clear_at


_JUDGED = (Heartbeat, Network, Hardware, Firmware)


class TelemetryRules:
    def __init__(self, settings: AlertSettings) -> None:
        self.s = settings
        self.policies: dict[str, FirmwarePolicy] = {}
        # Recent network samples per subject: bounded by the window, one deque per gateway
        # that reports network telemetry.
        self._hw: dict[tuple[SubjectType, str], dict[str, str]] = {}
        self._net: dict[tuple[SubjectType, str], deque[_Sample]] = {}

    def evaluate(
        self,
        decoded: Decoded,
        received_at: datetime,
        topology: Topology,
        is_active: Callable[[Key], bool] = lambda _k: False,
    ) -> list[Verdict]:
        msg, ref = decoded.message, decoded.ref
        if msg.historical or not isinstance(msg, _JUDGED):
            # Back-filled data describes the past, not a condition now; the other kinds
            # (status, events, transaction windows) have no rule here.
            return []
        st = SubjectType.TERMINAL if ref.terminal_id else SubjectType.GATEWAY
        sid = ref.terminal_id or ref.gateway_id
        if isinstance(msg, Heartbeat):
            # The hot path (most traffic): a clock within bounds and no alert to clear
            # needs no verdict at all.
            k = Key(Kind.CLOCK_SKEW, st, sid)
            active = is_active(k)
            skew = abs((msg.ts - received_at).total_seconds())
            if not active and skew < self.s.clock_skew_raise_s:
                return []
        place = topology.place(st, sid, ref.gateway_id)
        name = f"{st.value.capitalize()} {sid}" + (
            f" (site {place.site_id})" if place.site_id else ""
        )
        out: list[Verdict] = []

        def key(kind: Kind) -> Key:
            return Key(kind, st, sid)

        if isinstance(msg, Heartbeat):
            out.append(
                self._clock_skew(key(Kind.CLOCK_SKEW), msg.ts, received_at, place, name, is_active)
            )
        elif isinstance(msg, Network):
            out.extend(
                self._network(key(Kind.NETWORK_DEGRADED), msg, received_at, place, name, is_active)
            )
        elif isinstance(msg, Hardware):
            out.extend(self._hardware(key(Kind.HARDWARE_FAULT), msg, place, name))
        elif isinstance(msg, Firmware):
            out.extend(
                self._firmware(key(Kind.FIRMWARE_NONCOMPLIANT), msg, received_at, place, name)
            )
        return out

    def _clock_skew(
        self,
        k: Key,
        ts: datetime,
        received_at: datetime,
        place: Place,
        name: str,
        is_active: Callable[[Key], bool],
    ) -> Verdict:
        skew = (ts - received_at).total_seconds()
        bad = _hysteresis(
            is_active(k), abs(skew), self.s.clock_skew_raise_s, self.s.clock_skew_clear_s, True
        )
        return Verdict(
            k, bad, place, f"{name} clock off by {skew:+.0f} s", {"skew_s": round(skew, 1)}
        )

    def _network(
        self,
        k: Key,
        msg: Network,
        at: datetime,
        place: Place,
        name: str,
        is_active: Callable[[Key], bool],
    ) -> list[Verdict]:
        subject = (k.subject_type, k.subject_id)
        samples = self._net.setdefault(subject, deque(maxlen=64))
        signal_now = next(
            (v for v in (msg.rsrp_dbm, msg.rssi_dbm, msg.wifi_signal_dbm) if v is not None), None
        )
        # Plain floats, not the message: a few hundred bytes per gateway at fleet scale.
        samples.append((at, msg.latency_ms, msg.loss_pct, signal_now))
        horizon = at - timedelta(seconds=self.s.network_window_s)
        while samples and samples[0][0] < horizon:
            samples.popleft()

        def mean(i: int) -> float | None:
            xs = [x[i] for x in samples if x[i] is not None]
            return sum(xs) / len(xs) if xs else None  # type: ignore[arg-type]

        latency, loss, signal = mean(1), mean(2), mean(3)
        active = is_active(k)
        s = self.s
        reasons = []
        if latency is not None and _hysteresis(
            active, latency, s.latency_raise_ms, s.latency_clear_ms, True
        ):
            reasons.append(f"latency {latency:.0f} ms")
        if loss is not None and _hysteresis(active, loss, s.loss_raise_pct, s.loss_clear_pct, True):
            reasons.append(f"loss {loss:.1f} %")
        if signal is not None and _hysteresis(
            active, signal, s.signal_raise_dbm, s.signal_clear_dbm, False
        ):
            reasons.append(f"signal {signal:.0f} dBm")
        window = f"mean over {int(s.network_window_s)} s"
        summary = f"{name} network degraded: {', '.join(reasons)} ({window})" if reasons else ""
        details = {"latency_ms": latency, "loss_pct": loss, "signal_dbm": signal}
        return [Verdict(k, bool(reasons), place, summary, details)]

    def _hardware(
        self,
        k: Key,
        msg: Hardware,
        place: Place,
        name: str,
    ) -> list[Verdict]:
        """One ``hardware_fault`` per subject; each component keeps its own state because a
        message may report only some of them."""
        s = self.s
        faults = self._hw.setdefault((k.subject_type, k.subject_id), {})
        if msg.printer is not None:
            bad = msg.printer in (PrinterState.PAPER_OUT, PrinterState.ERROR)
            faults["printer"] = f"printer {msg.printer.value}" if bad else ""
        if msg.battery_pct is not None or msg.battery_health_pct is not None:
            was = bool(faults.get("battery"))
            low = (
                msg.battery_pct is not None
                and not msg.charging
                and _hysteresis(was, msg.battery_pct, s.battery_low_pct, s.battery_ok_pct, False)
            )
            health = msg.battery_health_pct
            worn = health is not None and health < s.battery_health_min_pct
            why = [f"battery {msg.battery_pct:.0f} % and not charging" if low else ""]
            why.append(f"battery health {health:.0f} %" if worn and health is not None else "")
            faults["battery"] = ", ".join(w for w in why if w)
        if msg.temperature_c is not None:
            t = msg.temperature_c
            bad = _hysteresis(
                bool(faults.get("temperature")),
                t,
                s.temperature_raise_c,
                s.temperature_clear_c,
                True,
            )
            faults["temperature"] = f"temperature {t:.0f} °C" if bad else ""
        if msg.storage_used_pct is not None:
            u = msg.storage_used_pct
            bad = _hysteresis(
                bool(faults.get("storage")), u, s.storage_raise_pct, s.storage_clear_pct, True
            )
            faults["storage"] = f"storage {u:.0f} % used" if bad else ""
        active = [why for why in faults.values() if why]
        if not active:
            self._hw.pop((k.subject_type, k.subject_id), None)
        summary = f"{name} hardware fault: {'; '.join(active)}" if active else ""
        return [Verdict(k, bool(active), place, summary, {"faults": active})]

    def _firmware(
        self, k: Key, msg: Firmware, now: datetime, place: Place, name: str
    ) -> list[Verdict]:
        # The version that counts: the terminal firmware, else the OS build. The store's
        # firmware_version column (swept after a policy change) must hold the same.
        model = msg.model or place.model
        version = msg.terminal_fw or msg.os
        v = firmware_verdict(
            k.subject_type, k.subject_id, place, model, version, self.policies.get(model), now
        )
        return [v] if v is not None else []


def firmware_verdict(
    st: SubjectType,
    sid: str,
    place: Place,
    model: str,
    version: str | None,
    policy: FirmwarePolicy | None,
    now: datetime,
) -> Verdict | None:
    """None when compliance is unknown (no policy for the model, no version): no alert."""
    if policy is None or not version:
        return None
    why = policy.violation(version, now)
    where = f" (site {place.site_id})" if place.site_id else ""
    summary = f"{st.value.capitalize()} {sid}{where} firmware non-compliant: {why}"
    key = Key(Kind.FIRMWARE_NONCOMPLIANT, st, sid)
    return Verdict(key, why is not None, place, summary, {"version": version, "model": model})
