"""Pure liveness rules with a fake clock."""

from __future__ import annotations

from collector.liveness import LivenessConfig, LivenessTracker, StoredState
from collector.model import DetectedBy, Liveness, SubjectType
from telemetry.clock import FakeClock
from telemetry.codec import RejectReason
from telemetry.models import LinkState, OfflineReason

GW = SubjectType.GATEWAY
TERM = SubjectType.TERMINAL
CFG = LivenessConfig(default_interval_s=10, grace_ratio=0.2, grace_min_s=1, grace_max_s=30)


def _tracker() -> tuple[LivenessTracker, FakeClock]:
    clock = FakeClock()
    t = LivenessTracker(CFG)
    t.resume_all(clock.now(), clock.monotonic())
    return t, clock


def _birth(t: LivenessTracker, c: FakeClock, gw: str, session: int):  # type: ignore[no-untyped-def]
    return t.observe_status(gw, None, LinkState.ONLINE, session, None, c.now(), c.monotonic())


def _will(
    t: LivenessTracker, c: FakeClock, gw: str, session: int, reason=OfflineReason.CONNECTION_LOST
):  # type: ignore[no-untyped-def]
    return t.observe_status(gw, None, LinkState.OFFLINE, session, reason, c.now(), c.monotonic())


def _beat(
    t: LivenessTracker,
    c: FakeClock,
    gw: str,
    session: int,
    seq: int,
    iv: float = 10,
    term: str | None = None,
):  # type: ignore[no-untyped-def]
    return t.observe_heartbeat(gw, term, session, seq, iv, c.now(), c.monotonic())


def _advance(t: LivenessTracker, c: FakeClock, seconds: float, step: float = 0.1):  # type: ignore[no-untyped-def]
    out = []
    end = c.monotonic() + seconds
    while c.monotonic() < end:
        c.advance(step)
        out += t.tick(c.now(), c.monotonic())
    return out


def test_birth_brings_a_gateway_online() -> None:
    t, c = _tracker()
    out = _birth(t, c, "gw-1", 1)
    assert [(x.from_status, x.to_status, x.detected_by) for x in out.transitions] == [
        (Liveness.UNKNOWN, Liveness.ONLINE, DetectedBy.BIRTH)
    ]


def test_will_of_the_current_session_takes_the_gateway_down_after_the_hold() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 4)
    will_at = c.now()
    assert _will(t, c, "gw-1", 4).transitions == []
    out = _advance(t, c, CFG.will_hold_s + 0.1)
    assert [(x.to_status, x.detected_by, x.planned) for x in out] == [
        (Liveness.DOWN, DetectedBy.WILL, False)
    ]
    assert out[0].at == will_at  # the outage began when the will arrived


def test_will_followed_at_once_by_a_new_birth_is_a_reconnect_not_an_outage() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _will(t, c, "gw-1", 1)  # session takeover: the old connection's will comes first
    c.advance(0.3)
    out = _birth(t, c, "gw-1", 2)
    assert out.absorbed_will
    assert out.transitions == []
    assert _advance(t, c, 5) == []
    assert t.get(GW, "gw-1").status is Liveness.ONLINE  # type: ignore[union-attr]


def test_stale_will_from_previous_session_is_ignored() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _birth(t, c, "gw-1", 2)  # fast reconnect: new session before the old will arrives
    out = _will(t, c, "gw-1", 1)
    assert out.transitions == []
    assert out.rejected is RejectReason.STALE_SESSION
    assert t.get(GW, "gw-1").status is Liveness.ONLINE  # type: ignore[union-attr]


def test_graceful_upgrade_offline_is_planned() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    out = _will(t, c, "gw-1", 1, OfflineReason.UPGRADE)
    (tr,) = out.transitions
    assert (tr.to_status, tr.detected_by, tr.planned, tr.reason) == (
        Liveness.DOWN,
        DetectedBy.GRACEFUL,
        True,
        "upgrade",
    )


def test_hung_gateway_goes_late_then_down_through_the_deadline() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _beat(t, c, "gw-1", 1, 0, iv=10)  # grace = 2 s: late at 12 s, down at 14 s
    start = c.now()
    out = _advance(t, c, 11.9)
    assert out == []
    out = _advance(t, c, 0.2)
    assert [(x.to_status, x.detected_by) for x in out] == [(Liveness.LATE, DetectedBy.DEADLINE)]
    out = _advance(t, c, 2.0)
    assert [(x.to_status, x.detected_by) for x in out] == [(Liveness.DOWN, DetectedBy.DEADLINE)]
    # Stamped with the deadline itself, not with the moment the loop woke up.
    assert (out[0].at - start).total_seconds() == 14.0


def test_heartbeats_keep_pushing_the_deadline() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    out = []
    for seq in range(20):
        _beat(t, c, "gw-1", 1, seq)
        out += _advance(t, c, 10, step=1)
    assert out == []


def test_late_gateway_that_beats_again_is_online_without_going_down() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _beat(t, c, "gw-1", 1, 0)
    out = _advance(t, c, 12.5)
    assert [x.to_status for x in out] == [Liveness.LATE]
    out2 = _beat(t, c, "gw-1", 1, 1).transitions
    assert [(x.from_status, x.to_status) for x in out2] == [(Liveness.LATE, Liveness.ONLINE)]


def test_duplicate_and_replayed_heartbeats_are_rejected() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 2)
    _beat(t, c, "gw-1", 2, 5)
    assert _beat(t, c, "gw-1", 2, 5).rejected is RejectReason.DUPLICATE
    assert _beat(t, c, "gw-1", 2, 3).rejected is RejectReason.DUPLICATE
    assert _beat(t, c, "gw-1", 1, 99).rejected is RejectReason.STALE_SESSION


def test_heartbeat_of_a_session_that_ended_does_not_revive_the_gateway() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _will(t, c, "gw-1", 1)
    _advance(t, c, CFG.will_hold_s + 0.1)
    out = _beat(t, c, "gw-1", 1, 7)
    assert out.rejected is RejectReason.STALE_SESSION
    assert t.get(GW, "gw-1").status is Liveness.DOWN  # type: ignore[union-attr]
    assert [x.to_status for x in _birth(t, c, "gw-1", 2).transitions] == [Liveness.ONLINE]


def test_no_deadline_fires_while_the_collector_is_blind() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _beat(t, c, "gw-1", 1, 0)
    t.pause()
    assert _advance(t, c, 60) == []


def test_resume_after_restart_restarts_every_deadline_and_pages_nobody() -> None:
    clock = FakeClock()
    t = LivenessTracker(CFG)
    t.load([StoredState(GW, f"gw-{i}", Liveness.ONLINE, clock.now(), 3, 10.0) for i in range(100)])
    clock.advance(300)  # the collector was down for five minutes
    t.resume_all(clock.now(), clock.monotonic())
    out = []
    for seq in range(3):
        out += _advance(t, clock, 5, step=0.5)
        for i in range(100):
            out += _beat(t, clock, f"gw-{i}", 3, seq).transitions
        out += _advance(t, clock, 5, step=0.5)
    assert out == []


def test_gateway_silent_after_a_restart_still_goes_down_one_full_deadline_later() -> None:
    clock = FakeClock()
    t = LivenessTracker(CFG)
    t.load([StoredState(GW, "gw-1", Liveness.ONLINE, clock.now(), 3, 10.0)])
    t.resume_all(clock.now(), clock.monotonic())
    out = _advance(t, clock, 14.2)
    assert [x.to_status for x in out] == [Liveness.LATE, Liveness.DOWN]


def test_pin_pad_that_stops_answering_behind_a_live_gateway_is_terminal_down() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _beat(t, c, "gw-1", 1, 0, term="pp-1")
    out = []
    for seq in range(1, 3):
        _beat(t, c, "gw-1", 1, seq)
        out += _advance(t, c, 7, step=0.5)
    assert [(x.subject_type, x.subject_id, x.to_status) for x in out] == [
        (TERM, "pp-1", Liveness.LATE),
        (TERM, "pp-1", Liveness.DOWN),
    ]
    assert out[-1].gateway_id == "gw-1"


def test_terminals_behind_a_dead_gateway_raise_nothing_of_their_own() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 1)
    _beat(t, c, "gw-1", 1, 0, term="pp-1")
    _will(t, c, "gw-1", 1)
    out = _advance(t, c, 60)
    assert [(x.subject_id, x.to_status) for x in out] == [("gw-1", Liveness.DOWN)]
    # Back: the terminal has a full interval to show up again before it is judged.
    _birth(t, c, "gw-1", 2)
    out = []
    for seq in range(3):
        _beat(t, c, "gw-1", 2, seq)
        out += _advance(t, c, 5)
    assert [(x.subject_id, x.to_status) for x in out] == [
        ("pp-1", Liveness.LATE),
        ("pp-1", Liveness.DOWN),
    ]


def test_heap_holds_one_live_entry_per_subject_however_many_heartbeats() -> None:
    t, c = _tracker()
    for i in range(50):
        _birth(t, c, f"gw-{i}", 1)
    for seq in range(100):
        c.advance(0.1)
        for i in range(50):
            _beat(t, c, f"gw-{i}", 1, seq)
        t.tick(c.now(), c.monotonic())
    assert len(t._heap) <= 50


def test_retained_will_on_resubscribe_waits_a_full_deadline_for_the_new_session() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 3)
    _beat(t, c, "gw-1", 3, 0)
    # After a broker restart Mosquitto hands out the wills it published while shutting down.
    out = t.observe_status(
        "gw-1", None, LinkState.OFFLINE, 3, OfflineReason.CONNECTION_LOST, c.now(),
        c.monotonic(), retained=True,
    )  # fmt: skip
    assert out.transitions == []
    assert _advance(t, c, 10) == []  # well past the 2 s hold of a live will
    birth = _birth(t, c, "gw-1", 4)
    assert birth.absorbed_will
    assert birth.transitions == []
    assert t.get(GW, "gw-1").status is Liveness.ONLINE  # type: ignore[union-attr]


def test_retained_will_of_a_gateway_that_really_died_counts_after_a_full_deadline() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 3)
    _beat(t, c, "gw-1", 3, 0)  # interval 10 s, grace 2 s: full span 14 s
    will_at = c.now()
    t.observe_status(
        "gw-1", None, LinkState.OFFLINE, 3, OfflineReason.CONNECTION_LOST, c.now(),
        c.monotonic(), retained=True,
    )  # fmt: skip
    assert _advance(t, c, 13.8) == []
    out = _advance(t, c, 0.4)
    assert [(x.to_status, x.detected_by, x.at) for x in out] == [
        (Liveness.DOWN, DetectedBy.WILL, will_at)
    ]


def test_will_held_when_the_collector_went_blind_is_not_fired_at_resume() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 3)
    _beat(t, c, "gw-1", 3, 0)
    _will(t, c, "gw-1", 3)  # the broker shutting down publishes our gateways' wills...
    t.pause()  # ...and drops the collector too
    c.advance(20)
    t.resume_all(c.now(), c.monotonic())
    assert _advance(t, c, 5) == []  # not after the 2 s hold: a full deadline
    assert _birth(t, c, "gw-1", 4).absorbed_will


# --- broker restarts: wills and silence wait out the agents' reconnect backoff ------------
HOLD = 130.0  # CFG's default: the agent's maximum reconnect backoff (120 s) + a 10 s margin


def test_the_restart_hold_is_the_agents_maximum_backoff_plus_a_margin() -> None:
    assert CFG.restart_hold_s == HOLD


def _retained_will(t: LivenessTracker, c: FakeClock, gw: str, session: int):  # type: ignore[no-untyped-def]
    return t.observe_status(
        gw, None, LinkState.OFFLINE, session, OfflineReason.CONNECTION_LOST, c.now(),
        c.monotonic(), retained=True,
    )  # fmt: skip


def _broker_restart(t: LivenessTracker, c: FakeClock, gateways: list[str], down: float) -> None:
    """Mosquitto shutting down: every client's will, live, then our link drops; back after
    ``down``, it delivers the wills again from our persistent session and as retained."""
    for gw in gateways:
        _will(t, c, gw, 3)
    t.pause()
    c.advance(down)
    t.resume_all(c.now(), c.monotonic())
    for gw in gateways:
        _will(t, c, gw, 3)  # queued for our persistent session
        _retained_will(t, c, gw, 3)


def _online_fleet(n: int) -> tuple[LivenessTracker, FakeClock, list[str]]:
    t, c = _tracker()
    gws = [f"gw-{i}" for i in range(n)]
    for gw in gws:
        _birth(t, c, gw, 3)
        _beat(t, c, gw, 3, 0)
    return t, c, gws


def test_gateways_back_within_the_agents_backoff_after_a_broker_restart_page_nobody() -> None:
    t, c, gws = _online_fleet(20)
    _broker_restart(t, c, gws, down=30)
    out = []
    # Full jitter up to 120 s: they come back spread over the whole backoff.
    for i, gw in enumerate(gws):
        out += _advance(t, c, 120 / len(gws), step=0.5)
        birth = _birth(t, c, gw, 4)
        assert birth.absorbed_will
        out += birth.transitions
        for back in gws[: i + 1]:  # those back keep beating
            out += _beat(t, c, back, 4, i).transitions
    out += _advance(t, c, 1)
    assert out == []
    assert all(t.get(GW, gw).status is Liveness.ONLINE for gw in gws)  # type: ignore[union-attr]


def test_a_restarted_broker_redelivering_a_birth_in_flight_does_not_cut_the_hold_short() -> None:
    """Mosquitto drops us before it has published every will; back with our persistent
    session, it delivers the rest queued, after (not retained, since it was in flight) a
    birth of the same session: that old birth proves nobody is back."""
    t, c, gws = _online_fleet(2)
    _will(t, c, gws[0], 3)  # the one will published before the broker dropped us
    t.pause()
    c.advance(1)
    t.resume_all(c.now(), c.monotonic())  # session kept: the held will says "restart"
    redelivered = _birth(t, c, gws[1], 3)
    assert redelivered.rejected is None  # the same session: nothing new, nothing wrong
    _will(t, c, gws[1], 3)  # queued for our session, delivered after the return
    assert _advance(t, c, HOLD - 2, step=0.5) == []  # both wait out the agents' backoff
    stale = _birth(t, c, gws[1], 3)  # its session ended with its will: a stale birth
    assert stale.rejected is RejectReason.STALE_SESSION
    assert stale.transitions == []


def test_a_restart_will_of_a_gateway_that_never_comes_back_counts_once_the_hold_is_over() -> None:
    t, c, gws = _online_fleet(1)
    first_copy_at = c.now()
    _broker_restart(t, c, gws, down=5)
    assert _advance(t, c, HOLD - 0.5, step=0.5) == []
    out = _advance(t, c, 1, step=0.1)
    assert [(x.subject_id, x.to_status, x.detected_by) for x in out] == [
        ("gw-0", Liveness.DOWN, DetectedBy.WILL)
    ]
    assert out[0].at == first_copy_at  # the outage began with the first copy of the will


def test_a_queued_copy_of_a_held_will_never_shortens_the_hold() -> None:
    t, c, _gws = _online_fleet(1)
    _will(t, c, "gw-0", 3)
    t.pause()
    c.advance(5)
    t.resume_all(c.now(), c.monotonic())
    c.advance(HOLD / 2)
    _will(t, c, "gw-0", 3)  # late in a backlog, and live, non-retained
    assert _advance(t, c, HOLD / 2 - 1, step=0.5) == []


def test_wills_delivered_after_the_return_for_gateways_not_born_since_are_held() -> None:
    # A broker with persistence, restarted while the collector was down too: nothing was
    # held when we went blind, and it kept our session; the wills come after our return,
    # queued for our session and then retained.
    t, c, _gws = _online_fleet(2)
    t.pause()
    c.advance(10)
    t.resume_all(c.now(), c.monotonic())
    c.advance(0.2)
    _will(t, c, "gw-0", 3)
    _retained_will(t, c, "gw-0", 3)
    _retained_will(t, c, "gw-1", 3)
    assert _advance(t, c, HOLD - 1, step=0.5) == []
    assert _birth(t, c, "gw-0", 4).absorbed_will
    assert _birth(t, c, "gw-1", 4).absorbed_will


def test_a_live_will_after_a_return_without_a_broker_restart_counts_in_two_seconds() -> None:
    # Only the collector was away (its own restart; the broker kept its session, published
    # no will as we left): a will now is a gateway dying, not the broker talking.
    t, c, _gws = _online_fleet(1)
    t.pause()
    c.advance(10)
    t.resume_all(c.now(), c.monotonic())
    _beat(t, c, "gw-0", 3, 1)
    c.advance(3)
    _will(t, c, "gw-0", 3)
    out = _advance(t, c, CFG.will_hold_s + 0.2)
    assert [x.to_status for x in out] == [Liveness.DOWN]


def test_a_lone_will_from_a_gateway_born_after_the_return_still_counts_in_two_seconds() -> None:
    t, c, gws = _online_fleet(2)
    _broker_restart(t, c, gws, down=5)
    c.advance(3)
    _birth(t, c, "gw-0", 4)  # back after the restart...
    _beat(t, c, "gw-0", 4, 0)
    c.advance(1)
    _will(t, c, "gw-0", 4)  # ...then its store loses power, inside the restart hold
    out = _advance(t, c, CFG.will_hold_s + 0.2)
    assert [(x.subject_id, x.to_status) for x in out] == [("gw-0", Liveness.DOWN)]


def test_a_lone_will_after_the_restart_hold_counts_in_two_seconds() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 3)
    t.pause()
    c.advance(5)
    t.resume_all(c.now(), c.monotonic())
    for seq in range(int(HOLD // 10) + 2):  # alive and beating past the hold
        _beat(t, c, "gw-1", 3, seq)
        assert _advance(t, c, 10, step=1) == []
    _will(t, c, "gw-1", 3)
    out = _advance(t, c, CFG.will_hold_s + 0.2)
    assert [x.to_status for x in out] == [Liveness.DOWN]


def test_silence_after_a_broker_restart_is_judged_only_after_the_hold() -> None:
    # The broker came back without our session (no persistence): its clients' wills are
    # gone with it, and the clients return over their backoff.
    clock = FakeClock()
    t = LivenessTracker(CFG)
    t.load([StoredState(GW, f"gw-{i}", Liveness.ONLINE, clock.now(), 3, 10.0) for i in range(3)])
    t.resume_all(clock.now(), clock.monotonic(), broker_restarted=True)
    assert _advance(t, clock, HOLD - 0.5, step=0.5) == []
    _birth(t, clock, "gw-0", 4)
    _birth(t, clock, "gw-1", 4)
    out = _advance(t, clock, 3, step=0.5)  # gw-2 never came back: late, then down (grace 2 s)
    assert [(x.subject_id, x.to_status) for x in out] == [
        ("gw-2", Liveness.LATE),
        ("gw-2", Liveness.DOWN),
    ]


def test_terminals_behind_a_gateway_whose_will_is_held_are_not_judged() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-1", 3)
    _beat(t, c, "gw-1", 3, 0)
    _beat(t, c, "gw-1", 3, 1, term="pp-1")
    _broker_restart(t, c, ["gw-1"], down=5)
    assert _advance(t, c, 100, step=0.5) == []  # the PIN pad's 12 s deadline is moot
    _birth(t, c, "gw-1", 4)
    out = []
    for seq in range(3):  # back: the PIN pad has a full interval, then it is judged
        _beat(t, c, "gw-1", 4, seq)
        out += _advance(t, c, 5)
    assert [(x.subject_id, x.to_status) for x in out] == [
        ("pp-1", Liveness.LATE),
        ("pp-1", Liveness.DOWN),
    ]


def test_a_retained_birth_of_the_current_session_does_not_revive_a_silent_gateway() -> None:
    """A hung app keeps its MQTT connection: the broker's retained birth of that session is
    delivered to every collector that (re)subscribes (a collector restarted, a share-group
    member killed and back). The gateway stays down: its heartbeats stopped, and reviving it
    would end the outage and page it a second time."""
    t, c = _tracker()
    _birth(t, c, "gw-1", 3)
    _beat(t, c, "gw-1", 3, 0)
    assert [x.to_status for x in _advance(t, c, 20)] == [Liveness.LATE, Liveness.DOWN]
    out = t.observe_status(
        "gw-1", None, LinkState.ONLINE, 3, None, c.now(), c.monotonic(), retained=True
    )
    assert out.transitions == []
    assert out.rejected is None
    assert _advance(t, c, 30) == []
    assert t.get(GW, "gw-1").status is Liveness.DOWN  # type: ignore[union-attr]
    # A new connection does revive it.
    assert [x.to_status for x in _birth(t, c, "gw-1", 4).transitions] == [Liveness.ONLINE]


# ---------------------------------------------------------------------- inventory moves
def test_pin_pad_moved_before_its_old_gateway_dies_is_judged_behind_the_new_one() -> None:
    """gw-b has never spoken: the pad is judged as a new terminal behind an unknown gateway
    is, through gw-b; gw-a's outage neither holds it nor names it."""
    t, c = _tracker()
    _birth(t, c, "gw-a", 1)
    _beat(t, c, "gw-a", 1, 0, term="pp-1")
    assert t.move("pp-1", "gw-b", c.now(), c.monotonic()) is True
    _will(t, c, "gw-a", 1)
    out = _advance(t, c, 30)
    assert [(x.subject_id, x.to_status, x.gateway_id) for x in out] == [
        ("gw-a", Liveness.DOWN, ""),
        ("pp-1", Liveness.LATE, "gw-b"),
        ("pp-1", Liveness.DOWN, "gw-b"),
    ]


def test_moved_pin_pad_gets_a_full_interval_from_the_move() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-a", 1)
    _beat(t, c, "gw-a", 1, 0, term="pp-1")
    _advance(t, c, 8)  # 8 s of its 12 s deadline gone
    t.move("pp-1", "gw-b", c.now(), c.monotonic())
    pad = [(x.subject_id, x.to_status) for x in _advance(t, c, 11.5) if x.subject_id == "pp-1"]
    assert pad == []
    out = _advance(t, c, 1)
    assert [(x.subject_id, x.to_status) for x in out] == [("pp-1", Liveness.LATE)]


def test_pin_pad_moved_off_a_dead_gateway_is_judged_again_behind_a_live_one() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-a", 1)
    _birth(t, c, "gw-b", 1)
    _beat(t, c, "gw-a", 1, 0, term="pp-1")
    _will(t, c, "gw-a", 1)
    out = _advance(t, c, 3)
    assert [(x.subject_id, x.to_status) for x in out] == [("gw-a", Liveness.DOWN)]
    t.move("pp-1", "gw-b", c.now(), c.monotonic())
    out = []
    for seq in range(4):
        _beat(t, c, "gw-b", 1, seq)
        out += _advance(t, c, 5)
    assert [(x.subject_id, x.to_status, x.gateway_id) for x in out] == [
        ("pp-1", Liveness.LATE, "gw-b"),
        ("pp-1", Liveness.DOWN, "gw-b"),
    ]
    # gw-a's return is not the pad's: it restarts nothing of it.
    _birth(t, c, "gw-a", 2)
    state = t.get(TERM, "pp-1")
    assert state is not None
    assert state.deadline is None


def test_pin_pad_moved_behind_a_dead_gateway_waits_for_that_gateway() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-a", 1)
    _birth(t, c, "gw-b", 1)
    _beat(t, c, "gw-a", 1, 0, term="pp-1")
    _will(t, c, "gw-b", 1)
    _advance(t, c, 3)
    t.move("pp-1", "gw-b", c.now(), c.monotonic())
    out = []
    for seq in range(1, 8):  # gw-a lives on: it no longer vouches for the pad
        _beat(t, c, "gw-a", 1, seq)
        out += _advance(t, c, 5)
    assert out == []
    # gw-b is back: the pad has a full interval to show up through it.
    _birth(t, c, "gw-b", 2)
    _beat(t, c, "gw-b", 2, 0, term="pp-1")
    state = t.get(TERM, "pp-1")
    assert state is not None
    assert state.status is Liveness.ONLINE
    assert state.gateway_id == "gw-b"


def test_moving_nothing_changes_nothing() -> None:
    t, c = _tracker()
    _birth(t, c, "gw-a", 1)
    _beat(t, c, "gw-a", 1, 0, term="pp-1")
    assert t.move("pp-1", "gw-a", c.now(), c.monotonic()) is False
    assert t.move("pp-unheard", "gw-b", c.now(), c.monotonic()) is False
    state = t.get(TERM, "pp-1")
    assert state is not None
    assert state.session == 1
    assert state.seq == 0
    assert t.get(TERM, "pp-unheard") is None
