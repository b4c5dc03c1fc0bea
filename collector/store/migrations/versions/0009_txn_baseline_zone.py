"""0009: a terminal listed without a store of its own counts its hours in its gateway's store's
zone (issue #16). Data only.

Release 0's silence and spike folds took a terminal's store from its own ``site_id`` only, and
``terminals.site_id`` holds '' (not NULL) when terminals.csv names just the terminal and its
gateway: such a terminal's hour-of-week baseline was counted in UTC, its silence alerts named
no store or region, and its store's spikes left it out. The folds now take the gateway's store
(and, with no store at all, ``POSFLEET_DEFAULT_TZ``; collector/alerts/txnfeed.py).

A baseline counted in UTC read as China time is eight hours off: a shop's busy 11:00 would be
expected at 03:00, and the closed shop called silent every night. So the baselines of the
devices whose zone this changes are dropped and learnt again (a device without enough history
is not judged: no false alert, no silence alert either until it has some). The devices'
other state, and every store's spike baseline, stay.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_DEFAULT = "NULLIF((SELECT m.value FROM meta m WHERE m.key = 'default_tz'), '')"

# (subject_type, device_id, zone before, zone now) of every device with a baseline.
_ZONES = (
    "SELECT 'terminal' AS subject_type, t.terminal_id AS device_id, "
    "COALESCE(s0.tz, 'UTC') AS before, "
    f"COALESCE(NULLIF(s1.tz, ''), {_DEFAULT}, 'UTC') AS now "
    "FROM terminals t LEFT JOIN gateways g ON g.gateway_id = t.gateway_id "
    "LEFT JOIN sites s0 ON s0.site_id = t.site_id "
    "LEFT JOIN sites s1 ON s1.site_id = COALESCE(NULLIF(t.site_id, ''), g.site_id) "
    "UNION ALL "
    "SELECT 'gateway', g.gateway_id, COALESCE(s.tz, 'UTC'), "
    f"COALESCE(NULLIF(s.tz, ''), {_DEFAULT}, 'UTC') "
    "FROM gateways g LEFT JOIN sites s ON s.site_id = g.site_id"
)


def upgrade() -> None:
    op.execute(
        "DELETE FROM txn_baseline WHERE EXISTS (SELECT 1 FROM ("
        + _ZONES
        + ") z WHERE z.subject_type = txn_baseline.subject_type "
        "AND z.device_id = txn_baseline.device_id AND z.before <> z.now)"
    )


def downgrade() -> None:
    pass  # the dropped baselines are learnt again from the windows to come
