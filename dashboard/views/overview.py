"""Overview: counts by status with trend, availability, site map, regions at a glance."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.queries_ops import day_start, month_start

c = ui.ctx()
st.title("Fleet overview")


def site_map(sites: pd.DataFrame) -> alt.Chart:
    """Site cells as dots on a Mercator projection, coloured by their worst status.

    Vega-Lite, not ``st.map``: Vega is loaded for the trend chart anyway, while deck.gl is
    another 3 MB of JavaScript and a software-rendered WebGL context on NOC thin clients,
    ~0.3 s of every new tab. Offline there were no basemap tiles under deck.gl either.
    """
    chart: alt.Chart = (
        alt.Chart(sites)
        .mark_circle(opacity=0.85, stroke="white", strokeWidth=0.5)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            color=alt.Color("colour:N", scale=None),
            size=alt.Size("sites:Q", scale=alt.Scale(range=[15, 250]), legend=None),
            tooltip=[
                alt.Tooltip("status:N", title="worst status"),
                alt.Tooltip("sites:Q"),
                alt.Tooltip("problem_sites:Q", title="sites with a problem"),
                alt.Tooltip("site_id:N", title="e.g. site"),
            ],
        )
        .project(type="mercator")
        .properties(height=420)
    )
    return chart


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
    m1, m2, m3 = st.columns(3)
    # The SLA figures are the slowest reads (collector.sla over the month's incidents): their
    # places are kept here but filled last, so the browser is already loading and drawing the
    # chart, map and table while the server computes them.
    day_slot, month_slot = m1.empty(), m2.empty()
    m3.metric("New outages today", int(today))
    st.subheader("Outages per day (30 days)")
    if len(trend):
        st.bar_chart(trend, x="day", y="outages", color="subject_type", height=220)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Sites by worst status")
        sites: pd.DataFrame = ui.load(c, "q", "site_map")
        if len(sites):
            st.altair_chart(site_map(sites), width="stretch")
            st.caption(
                "one dot per ~10 km cell, its worst site: red down · orange late · "
                "grey unknown · purple suspended · green online"
            )
    with right:
        st.subheader("Regions at a glance")
        regions: pd.DataFrame = ui.load(c, "q", "regions", minute)
        ui.table(regions, "regions")
    a_day = ui.load(c, "q", "reliability", day_start(c.now), minute)
    day_slot.metric("Availability today", ui.pct(a_day))
    a_month = ui.load(c, "q", "reliability", month_start(c.now), minute)
    month_slot.metric("Availability this month", ui.pct(a_month))


body()
