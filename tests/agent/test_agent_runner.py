"""The publishing policy and terminal plugins, with a fake clock and a recording sink."""

from __future__ import annotations

from typing import Any

from agent.contract import Body
from agent.probes import Reading
from agent.probes.terminals import TerminalReading
from agent.runner import Agent, Probes, Schedule


class Clock:
    def __init__(self) -> None:
        self.t = 1_795_339_200.0
        self.m = 100.0

    def time(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.m

    def advance(self, s: float) -> None:
        self.t += s
        self.m += s


class Sink:
    session = 5

    def __init__(self) -> None:
        self.sent: list[tuple[str, Body]] = []

    def send(self, topic: str, body: Body, *, durable: bool = False) -> None:
        self.sent.append((topic, body))

    def kind(self, suffix: str) -> list[Body]:
        return [b for t, b in self.sent if t.endswith(suffix)]


class Mutable:
    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        self.name = name
        self.fields = fields

    def read(self) -> Reading:
        return Reading(dict(self.fields))


def make(terminals: list[Any] | None = None) -> tuple[Agent, Sink, Clock, Probes]:
    probes = Probes(
        system=Mutable("system", {"uptime_s": 10.0, "load1": 0.2}),
        network=Mutable("network", {"link": "cellular", "rssi_dbm": -70.0}),
        firmware=Mutable("firmware", {"os": "OS 1"}),
        hardware=Mutable("hardware", {"temperature_c": 40.0}),
        terminals=terminals or [],
    )
    sink, clock = Sink(), Clock()
    schedule = Schedule(
        heartbeat_interval=120,
        full_heartbeat_every=3,
        probe_interval=60,
        network_max_silence=600,
        hardware_max_silence=600,
    )
    return Agent("gw-1", probes, sink, clock, schedule), sink, clock, probes


def test_heartbeats_follow_the_interval_and_carry_heavy_fields_every_nth_beat() -> None:
    agent, sink, clock, _ = make()
    for _ in range(7):
        agent.tick()
        clock.advance(60)
    beats = sink.kind("/heartbeat")
    assert [b["seq"] for b in beats] == [0, 1, 2, 3]
    assert all(b["session"] == 5 and b["interval"] == 120 for b in beats)
    assert ["load1" in b for b in beats] == [True, False, False, True]


def test_network_is_sent_on_change_beyond_the_deadband_and_after_max_silence() -> None:
    agent, sink, clock, probes = make()
    agent.tick()
    assert len(sink.kind("/network")) == 1
    probes.network.fields["rssi_dbm"] = -73.0  # type: ignore[attr-defined]  # within 6 dB
    clock.advance(60)
    agent.tick()
    assert len(sink.kind("/network")) == 1
    probes.network.fields["rssi_dbm"] = -80.0  # type: ignore[attr-defined]
    clock.advance(60)
    agent.tick()
    assert [n["rssi_dbm"] for n in sink.kind("/network")] == [-70.0, -80.0]
    for _ in range(10):
        clock.advance(60)
        agent.tick()
    assert len(sink.kind("/network")) == 3, "one resend after 600 s of silence"
    assert len(sink.kind("/firmware")) == 1


def test_a_new_probe_error_is_a_change_worth_sending() -> None:
    agent, sink, clock, probes = make()
    agent.tick()

    def broken() -> Reading:
        return Reading({"temperature_c": 40.0}, {"printer": "lpstat: not installed"})

    probes.hardware.read = broken  # type: ignore[method-assign]
    clock.advance(60)
    agent.tick()
    hw = sink.kind("/hardware")
    assert len(hw) == 2
    assert hw[1]["errors"] == {"printer": "lpstat: not installed"}


class PinPads:
    name = "pinpads"

    def collect(self) -> list[TerminalReading]:
        return [
            TerminalReading("pp-1", "heartbeat", {}),
            TerminalReading("pp-1", "hardware", {"printer": "paper_low"}),
            TerminalReading("pp-2", "heartbeat", {}, {"usb": "no device"}),
        ]


class Broken:
    name = "broken"

    def collect(self) -> list[TerminalReading]:
        raise OSError("serial port gone")


def test_terminal_plugins_publish_per_terminal_and_a_broken_plugin_is_an_event() -> None:
    agent, sink, _, _ = make([Broken(), PinPads()])
    agent.tick()
    topics = [t for t, _ in sink.sent]
    assert "posfleet/v1/gw-1/terminal/pp-1/heartbeat" in topics
    assert "posfleet/v1/gw-1/terminal/pp-1/hardware" in topics
    pp2 = dict(sink.sent)["posfleet/v1/gw-1/terminal/pp-2/heartbeat"]
    assert (pp2["terminal"], pp2["session"], pp2["errors"]) == ("pp-2", 5, {"usb": "no device"})
    (event,) = sink.kind("/event")
    assert event["type"] == "terminal_probe_failed"
    assert "serial port gone" in event["message"]


def test_an_out_of_range_reading_is_dropped_and_reported_not_fatal() -> None:
    agent, sink, _, probes = make()
    probes.hardware.fields["temperature_c"] = 900.0  # type: ignore[attr-defined]
    agent.tick()
    (hw,) = sink.kind("/hardware")
    assert "temperature_c" not in hw
    assert "invalid.temperature_c" in hw["errors"]
    assert sink.kind("/heartbeat")


def test_plugins_load_from_the_entry_point_group_and_a_failing_one_is_reported(
    monkeypatch: Any,
) -> None:
    import agent.probes.terminals as terminals

    class EP:
        def __init__(self, name: str, target: Any) -> None:
            self.name = name
            self.target = target

        def load(self) -> Any:
            if isinstance(self.target, Exception):
                raise self.target
            return self.target

    seen: list[str] = []

    def fake_entry_points(group: str) -> list[EP]:
        seen.append(group)
        return [EP("pinpads", PinPads), EP("acme", ImportError("no module acme_posfleet"))]

    monkeypatch.setattr(terminals, "entry_points", fake_entry_points)
    probes, errors = terminals.load_plugins()
    assert seen == ["posfleet.terminal_probes"]
    assert [p.name for p in probes] == ["pinpads"]
    assert "no module acme_posfleet" in errors["plugin.acme"]
