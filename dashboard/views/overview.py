"""Overview: counts by status with trend, availability, site map, regions at a glance."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.queries_ops import day_start, month_start

c = ui.ctx()
st.title("Fleet overview")

# Site cells as dots on a Mercator projection, coloured by their worst status. Vega-Lite, not
# ``st.map``: Vega is loaded for the trend chart anyway, while deck.gl is another 3 MB of
# JavaScript and a software-rendered WebGL context on NOC thin clients, ~0.3 s of every new
# tab (offline there were no basemap tiles under it either). A plain spec, not an Altair
# chart: Altair validates and inlines the rows as JSON (0.2 s for 1,300 cells); this way
# Streamlit sends them as Arrow.
SITE_MAP: dict[str, Any] = {
    "mark": {"type": "circle", "opacity": 0.85, "stroke": "white", "strokeWidth": 0.5},
    "projection": {"type": "mercator"},
    "height": 420,
    "encoding": {
        "longitude": {"field": "lon", "type": "quantitative"},
        "latitude": {"field": "lat", "type": "quantitative"},
        "color": {"field": "colour", "type": "nominal", "scale": None},
        "size": {
            "field": "sites",
            "type": "quantitative",
            "scale": {"range": [15, 250]},
            "legend": None,
        },
        "tooltip": [
            {"field": "status", "type": "nominal", "title": "worst status"},
            {"field": "sites", "type": "quantitative"},
            {"field": "problem_sites", "type": "quantitative", "title": "sites with a problem"},
            {"field": "site_id", "type": "nominal", "title": "e.g. site"},
        ],
    },
}


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    minute = c.now.replace(second=0, microsecond=0)
    counts: pd.DataFrame = ui.load(c, "q", "status_counts")
    trend: pd.DataFrame = ui.load(c, "q", "outage_trend", minute)
    today = trend[trend["day"] == c.now.date().isoformat()]["outages"].sum()
    for subject in ("gateways", "terminals"):
        st.subheader(subject.capitalize())
        sub = counts[counts["subject"] == subject].set_index("status")["n"]
        cols = st.columns(6)
        for col, status in zip(
            cols, ["online", "late", "down", "unknown", "suspended", "decommissioned"], strict=True
        ):
            col.metric(status, int(sub.get(status, 0)))
    # Elements go out in the order the browser should start on them, slowest read last: each
    # kind of element has its own JavaScript, fetched when the first one arrives, so the
    # table's and the charts' code loads while the server is still computing the SLA. Their
    # places on the page are fixed by the containers, not by this order.
    m1, m2, m3 = st.columns(3)
    day_slot, month_slot = m1.empty(), m2.empty()
    m3.metric("New outages today", int(today))
    st.subheader("Outages per day (30 days)")
    if len(trend):
        st.bar_chart(trend, x="day", y="outages", color="subject_type", height=220)
    left, right = st.columns([3, 2])
    with right:
        st.subheader("Regions at a glance")
        regions: pd.DataFrame = ui.load(c, "q", "regions", minute)
        ui.table(regions, "regions")
    with left:
        st.subheader("Sites by worst status")
        sites: pd.DataFrame = ui.load(c, "q", "site_map")
        if len(sites):
            st.vega_lite_chart(sites, SITE_MAP, width="stretch")
            st.caption(
                "one dot per ~10 km cell, its worst site: red down · orange late · "
                "grey unknown · purple suspended · green online"
            )
    a_day = ui.load(c, "q", "reliability", day_start(c.now), minute)
    day_slot.metric("Availability today", ui.pct(a_day))
    a_month = ui.load(c, "q", "reliability", month_start(c.now), minute)
    month_slot.metric("Availability this month", ui.pct(a_month))


body()
