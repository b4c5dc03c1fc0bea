"""Escalation drill on real processes: a gateway (raw paho) killed -> Mosquitto ->
posfleet-collector (escalation delays shortened) -> Prometheus (shipped rules) ->
Alertmanager (shipped routes, test intervals) -> posfleet-notify -> a fake DingTalk robot.

The page goes to tier 1's on-call person (mentioned); nobody acknowledges, so the collector
raises the escalation level on time and the page reaches tier 2's on-call person; an ack
through the relay's signed link acknowledges the alert in the store, and the escalation
stops there: no level-3 page ever, the store shows who acknowledged, every step audited.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

import pytest
from notify_fakes import FakeRobot, write_config
from relay_proc import RelayProcess, free_port

from collector.actions import Actor, Role, set_rotation
from collector.oncall import Person
from collector.store.times import from_db
from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ESCALATE_S = (12.0, 30.0)  # level 2 at fire + 12 s, level 3 at fire + 30 s
# Fire -> message at the robot: collector tick + scrape (1 s) + evaluation (1 s) +
# group_interval (2 s) + relay; generous for a loaded 2-core machine, far below the delays.
PATH_S = 10.0
ANN = Person("Ann", "13800000001")
BOB = Person("Bob", "13800000002")
CAI = Person("Cai", "13800000003")


class RelayHook:
    """Where PagingStack points Alertmanager: the relay (started later, on a fixed port)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/alertmanager"

    def __enter__(self) -> RelayHook:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def _level(text: str) -> int:
    """The highest escalation level a message shows (an older level may still be listed)."""
    return max([int(x) for x in re.findall(r"Escalation level (\d+)", text)], default=1)


def test_an_unacknowledged_page_climbs_to_tier_2_on_time_and_an_ack_link_stops_it(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    from simulators.stack.paging import GatewaySpec, PagingStack
    from simulators.stack.prometheus import TEST_INTERVALS, StackError

    port = free_port()
    gateways = [GatewaySpec("gw-a1", "s-1", "north"), GatewaySpec("gw-a2", "s-1", "north")]
    env = {
        "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "2",
        "POSFLEET_ALERT_PENDING_SITE_DOWN_S": "1",
        # gateway_down is critical: its own delays; the general ones would take 15 minutes.
        "POSFLEET_ALERT_ESCALATION_AFTER_CRITICAL_S": json.dumps(list(ESCALATE_S)),
        "POSFLEET_ALERT_POLL_ACTIONS_S": "1",
    }
    # The robot stamps messages with wall-clock time, to compare with the store's fired_at.
    with (
        FakeRobot("dingtalk", monotonic=time.time) as robot,
        PagingStack(
            workdir=tmp_path / "stack",
            broker_port=mosquitto.port,
            gateways=gateways,
            intervals=TEST_INTERVALS,
            collector_env=env,
            webhook=RelayHook(port),  # type: ignore[arg-type]
        ) as stack,
    ):
        db = stack.workdir / "posfleet.sqlite"
        conn = sqlite3.connect(db, timeout=10)
        now = datetime.now().astimezone()
        for tier, who in ((1, ANN), (2, BOB), (3, CAI)):
            set_rotation(
                conn,
                Actor("olga", Role.OPERATOR),
                region_id="north",
                tier=tier,
                members=[who],
                start_local=datetime(2026, 1, 1, 0, 0),
                shift=timedelta(weeks=1),
                now=now,
            )
        cfg = write_config(
            tmp_path / "relay",
            {"noc": {"type": "dingtalk", "url": robot.url, "lang": "en"}},
            routes={"north-oncall": ["noc"], "supervisors": ["noc"], "noc-desk": ["noc"]},
            public_url=f"http://127.0.0.1:{port}",
        )
        relay = RelayProcess(cfg, port, tmp_path / "relay", db=db).start()
        try:
            stack.start_gateways(["gw-a1"], session=1)
            a2 = stack.start_gateways(["gw-a2"], session=1)
            assert stack.prometheus is not None
            try:
                wait_for(
                    lambda: (
                        stack.prometheus is not None
                        and stack.prometheus.query('sum(posfleet_gateways{status="online"}) == 2')
                    ),
                    30,
                    what="Prometheus to see both gateways online",
                )
            except StackError as exc:
                pytest.fail(str(exc))

            stack.kill(a2)  # gw-a1 stays: a gateway outage, not a site outage
            first = wait_for(
                lambda: [m for m in robot.accepted() if "gw-a2" in m.text()],
                30,
                what="the tier-1 page",
            )[0]
            assert first.mentioned() == [ANN.phone]
            assert _level(first.text()) == 1
            ((alert_id, fired_at),) = conn.execute(
                "SELECT id, fired_at FROM alerts WHERE kind = 'gateway_down' "
                "AND subject_id = 'gw-a2'"
            ).fetchall()
            fired = from_db(fired_at).timestamp()

            # Nobody acknowledges: the page climbs to tier 2 on time.
            second = wait_for(
                lambda: [m for m in robot.accepted() if BOB.phone in m.mentioned()],
                ESCALATE_S[0] + PATH_S + 15,
                what="the tier-2 page",
            )[0]
            assert _level(second.text()) == 2
            assert second.mentioned() == [BOB.phone]  # the stale level-1 copy adds nobody
            assert ESCALATE_S[0] <= second.at - fired <= ESCALATE_S[0] + PATH_S, second.at - fired

            # Bob acknowledges through the link in his page.
            # (The stale level-1 copy, if still listed, has its own link to the same outage.)
            link = re.findall(r"\((http://[^)\s]+/ack\?t=[^)\s]+)\)", second.text())[0]
            token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
            form = urllib.parse.urlencode({"t": token, "name": "Bob"}).encode()
            with urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/ack", data=form), timeout=10
            ) as resp:
                assert resp.status == 200
            acked_at = time.time()
            assert acked_at - fired < ESCALATE_S[1] - 3, "acked too late to prove anything"
            row = conn.execute(
                "SELECT acked_by, escalation FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
            assert row == ("chat:Bob", 2)

            # Past the level-3 delay and the whole path: no level 3, no tier-3 page.
            wait_until = fired + ESCALATE_S[1] + PATH_S
            with pytest.raises(AssertionError):
                wait_for(
                    lambda: (
                        [m for m in robot.accepted() if CAI.phone in m.mentioned()]
                        or conn.execute(
                            "SELECT 1 FROM alerts WHERE id = ? AND escalation > 2", (alert_id,)
                        ).fetchone()
                    ),
                    max(wait_until - time.time(), 1.0),
                    what="a tier-3 page",
                )
            assert all(_level(m.text()) <= 2 for m in robot.accepted())
            audit = [
                (actor, action)
                for actor, action in conn.execute("SELECT actor, action FROM audit_log ORDER BY id")
            ]
        finally:
            relay.stop()
            conn.close()
    assert ("posfleet-notify", "notify.delivered") in audit
    assert ("posfleet-notify", "notify.escalated") in audit
    assert ("posfleet-notify", "notify.ack") in audit
    assert ("chat:Bob", "alert.acknowledge") in audit
