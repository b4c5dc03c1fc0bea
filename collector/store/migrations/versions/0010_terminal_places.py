"""0010: the incidents, open alerts and open shortfall cases of a terminal listed without a
store of its own are filed where its gateway is. Data only.

Until the place rule (collector/places.py: a terminal's own store and region, else its
gateway's) a terminal that terminals.csv lists with only ``terminal_id,gateway_id`` (site_id
and region_id '') opened incidents, maintenance and firmware alerts, silence alerts and
shortfall cases with site '' and region '': no store, no region's desk, and the incidents
page and availability by region left them out. New rows are written by the rule; this fills
the '' of the rows written before it, column by column, from today's inventory (the
terminal's own, else its gateway's; still '' when neither says, or the terminal is gone).

Incidents: all of them (they are the availability history by store and region). Alerts and
shortfall cases: those not resolved or closed, what is paged and followed now; a resolved
alert or a closed case stays as it was routed and handled. An open alert's region is a
label of ``posfleet_alert_firing``: its page moves from the default route to its region's.

The rule is written here in SQL of its own, not imported: a migration is frozen, and
collector/places.py may change.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _place(column: str, terminal: str) -> str:
    """SQL: the terminal ``terminal``'s ``column`` (site_id | region_id) by the place rule,
    NULL when the terminal is not in the inventory."""
    return (
        f"(SELECT COALESCE(NULLIF(t.{column}, ''), g.{column}, '') FROM terminals t "
        f"LEFT JOIN gateways g ON g.gateway_id = t.gateway_id WHERE t.terminal_id = {terminal})"
    )


def _backfill(table: str, terminal: str, where: str) -> None:
    op.execute(
        f"UPDATE {table} SET "
        f"site_id = COALESCE(NULLIF(site_id, ''), {_place('site_id', terminal)}, ''), "
        f"region_id = COALESCE(NULLIF(region_id, ''), {_place('region_id', terminal)}, '') "
        f"WHERE (site_id = '' OR region_id = '') AND {where}"
    )


def upgrade() -> None:
    _backfill("incidents", "incidents.subject_id", "subject_type = 'terminal'")
    _backfill("alerts", "alerts.terminal_id", "terminal_id != '' AND state != 'resolved'")
    _backfill(
        "shortfall_cases", "shortfall_cases.terminal_id", "terminal_id != '' AND status = 'open'"
    )


def downgrade() -> None:
    pass  # the places filled in are right; which of them were '' is not kept
