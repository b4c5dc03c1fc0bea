"""Overview: counts by status with trend, availability, site map, regions at a glance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.queries_ops import day_start, month_start

c = ui.ctx()
st.title("Fleet overview")


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    counts: pd.DataFrame = ui.load(c, "q", "status_counts")
    trend: pd.DataFrame = ui.load(c, "q", "outage_trend", c.now.replace(second=0, microsecond=0))
    today = trend[trend["day"] == c.now.date().isoformat()]["outages"].sum()
    for subject in ("gateways", "terminals"):
        st.subheader(subject.capitalize())
        sub = counts[counts["subject"] == subject].set_index("status")["n"]
        cols = st.columns(6)
        for col, status in zip(
            cols, ["online", "late", "down", "unknown", "suspended", "decommissioned"], strict=True
        ):
            col.metric(status, int(sub.get(status, 0)))
    a_day = ui.load(c, "q", "reliability", day_start(c.now), c.now.replace(second=0, microsecond=0))
    a_month = ui.load(
        c, "q", "reliability", month_start(c.now), c.now.replace(second=0, microsecond=0)
    )
    m1, m2, m3 = st.columns(3)
    m1.metric("Availability today", ui.pct(a_day))
    m2.metric("Availability this month", ui.pct(a_month))
    m3.metric("New outages today", int(today))
    st.subheader("Outages per day (30 days)")
    if len(trend):
        st.bar_chart(trend, x="day", y="outages", color="subject_type", height=220)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Sites by worst status")
        sites: pd.DataFrame = ui.load(c, "q", "site_map")
        if len(sites):
            st.map(sites, latitude="lat", longitude="lon", color="colour", size="size", height=420)
            st.caption("red down · orange late · grey unknown · purple suspended · green online")
    with right:
        st.subheader("Regions at a glance")
        regions: pd.DataFrame = ui.load(c, "q", "regions", c.now.replace(second=0, microsecond=0))
        ui.table(regions, "regions")


body()
