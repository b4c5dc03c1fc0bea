"""Wall screen (``/wall``): big coloured counts and the stores that are down, readable from
across the room; no sidebar, no actions, refreshed by itself.

Read-only and open like every page (viewing needs no login on the NOC network), so a wall
display needs no account of its own nor a token in its URL. Its language is the viewer's
like any page's (``?lang=zh-CN`` in the wall's URL, else --lang), its times are in the
console's zone (--tz; a wall has no sidebar to pick another)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from collector.store.times import from_db
from dashboard import queries, queries_morning, timefmt, ui
from dashboard.i18n import N_, t, value
from dashboard.settings import now_from
from dashboard.text import html

TILES = ("down", "late", "online", "unknown")  # stored statuses, shown with ``value``
SUBJECTS = (("gateways", N_("Gateways")), ("terminals", N_("Terminals")))
COLUMNS = (N_("store"), N_("region"), N_("merchant"), N_("down since"))
# The money (issue #16): (count key, label, colour when there is any).
MONEY = (
    ("terminals_silent", N_("Online, no sales"), "down"),
    ("txn_spikes", N_("Stores with failing sales"), "down"),
    ("cases_overdue", N_("Shortfall follow-ups overdue"), "late"),
)
ROWS_SHOWN = 15  # what a wall can hold at this size; the rest is counted

# The page owns the whole screen: Streamlit's sidebar (navigation, search, login) and its
# header are not drawn. Sizes follow the viewport so a 4K wall and a laptop both fit.
CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], [data-testid="stHeader"] { display: none !important; }
.block-container { padding-top: 1rem !important; max-width: 100% !important; }
.wall-head { display: flex; justify-content: space-between; align-items: baseline;
  font-size: 2.2vw; font-weight: 700; }
.wall-row { display: flex; gap: 1vw; align-items: stretch; margin: 0.6vw 0; }
.wall-label { width: 14vw; font-size: 2.2vw; font-weight: 700; align-self: center; }
.wall-tile { flex: 1; border-radius: 0.6vw; color: #fff; text-align: center;
  padding: 0.4vw 0; }
.wall-n { font-size: 7vw; font-weight: 800; line-height: 1.05; }
.wall-l { font-size: 1.8vw; text-transform: uppercase; letter-spacing: 0.1em; }
.wall-overlays { font-size: 1.3vw; color: #555; margin-left: 15vw; }
.wall-down { font-size: 2.6vw; font-weight: 800; color: #d62728; margin-top: 1vw; }
.wall-ok { font-size: 2.6vw; font-weight: 800; color: #2ca02c; margin-top: 1vw; }
table.wall-stores { width: 100%; font-size: 1.7vw; border-collapse: collapse; }
table.wall-stores th { text-align: left; color: #555; font-weight: 600; }
table.wall-stores td, table.wall-stores th { padding: 0.25vw 0.6vw;
  border-bottom: 1px solid #ddd; }
</style>"""


def _since(since: datetime, now: datetime) -> str:
    """When a store went down, on the viewer's clock (the day too when it is not today), and
    how long ago, in the viewer's language."""
    here, then = now.astimezone(c.zone), since.astimezone(c.zone)
    at = f"{then:%H:%M}" if then.date() == here.date() else f"{then:%m-%d %H:%M}"
    return t("{time} ({ago})", time=at, ago=timefmt.relative(since, now, c.lang))


def _tiles(label: str, counts: pd.Series) -> str:
    tiles = "".join(
        f'<div class="wall-tile" data-status="{s}" '
        f'style="background:{queries.STATUS_COLOURS[s]}">'
        f'<div class="wall-n">{int(counts.get(s, 0)):,}</div>'
        f'<div class="wall-l">{html(value(s))}</div></div>'
        for s in TILES
    )
    return f'<div class="wall-row"><div class="wall-label">{html(label)}</div>{tiles}</div>'


def _money(figures: dict[str, int]) -> str:
    tiles = "".join(
        f'<div class="wall-tile" data-count="{key}" '
        f'style="background:{queries.STATUS_COLOURS[status if figures.get(key) else "online"]}">'
        f'<div class="wall-n">{figures.get(key, 0):,}</div>'
        f'<div class="wall-l">{html(t(label))}</div></div>'
        for key, label, status in MONEY
    )
    return f'<div class="wall-row"><div class="wall-label">{html(t("Sales"))}</div>{tiles}</div>'


def _stores(down: pd.DataFrame, now: datetime) -> str:
    if len(down) == 0:
        return f'<div class="wall-ok">{html(t("No store is down."))}</div>'
    head = f'<div class="wall-down">{html(t("Stores down: {n}", n=len(down)))}</div>'
    rows = []
    for r in down.head(ROWS_SHOWN).itertuples(index=False):
        when = _since(from_db(r.since), now) if r.since else ""
        rows.append(
            f"<tr><td>{html(r.site_id)} {html(r.name)}</td><td>{html(r.region_id)}</td>"
            f"<td>{html(r.merchant_name)} {html(r.merchant_contact)}</td><td>{html(when)}</td></tr>"
        )
    more = ""
    if len(down) > ROWS_SHOWN:
        more = f'<div class="wall-l">{html(t("and {n} more", n=len(down) - ROWS_SHOWN))}</div>'
    header = "".join(f"<th>{html(t(label))}</th>" for label in COLUMNS)
    return (
        f'{head}<table class="wall-stores"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


c = ui.ctx()
st.html(CSS)


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    # Read afresh on every refresh: ``c.now`` is as old as the page.
    now = now_from(c.settings)
    minute = now.replace(second=0, microsecond=0)
    counts = queries.totals(ui.load(c, queries.status_by_region, minute))
    down: pd.DataFrame = ui.load(c, queries.down_sites, minute)
    updated = t("updated {time} ({zone})", time=timefmt.local(now, c.zone), zone=c.tz)
    parts = [
        f'<div class="wall-head"><span>{html(t("Fleet wall"))}</span>'
        f"<span>{html(updated)}</span></div>"
    ]
    for subject, label in SUBJECTS:
        sub = counts[counts["subject"] == subject].set_index("status")["n"]
        parts.append(_tiles(t(label), sub))
        overlays = t(
            "maintenance {maintenance} · suspended {suspended}",
            maintenance=int(sub.get("maintenance", 0)),
            suspended=int(sub.get("suspended", 0)),
        )
        parts.append(f'<div class="wall-overlays">{html(overlays)}</div>')
    parts.append(_money(ui.load(c, queries_morning.money_counts, minute)))
    parts.append(_stores(down, now))
    st.html("".join(parts))


body()
