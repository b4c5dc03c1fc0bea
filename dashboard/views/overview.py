"""Overview: counts by status with trend, availability, site map, regions at a glance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from collector import sla
from collector.status import STATUSES
from dashboard import charts, queries, queries_local, timefmt, ui
from dashboard.i18n import t, value
from dashboard.queries import past_reliability

c = ui.ctx()
st.title(t("Fleet overview"))


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    minute = c.now.replace(second=0, microsecond=0)
    by_region: pd.DataFrame = ui.load(c, queries.status_by_region, minute)
    counts = queries.totals(by_region)
    # Days on the viewer's clock: "today" starts at local midnight, not at 00:00 UTC.
    trend: pd.DataFrame = ui.load(c, queries_local.outage_days, minute, c.tz)
    today = timefmt.local_day(c.now, c.tz)
    outages_today = trend[trend["day"] == today]["outages"].sum()
    st.caption(
        t(
            "As of {time} ({zone}); refreshed every {seconds} s",
            time=ui.when(c, c.now),
            zone=timefmt.zone_caption(c.now, c.tz),
            seconds=f"{c.settings.dashboard_refresh_s:g}",
        )
    )
    for subject, heading in (("gateways", t("Gateways")), ("terminals", t("Terminals"))):
        st.subheader(heading)
        sub = counts[counts["subject"] == subject].set_index("status")["n"]
        cols = st.columns(len(STATUSES))
        for col, status in zip(cols, STATUSES, strict=True):
            col.metric(value(status), int(sub.get(status, 0)))
    # Elements go out in the order the browser should start on them, slowest read last: each
    # kind of element has its own JavaScript, fetched when the first one arrives, so the
    # table's code loads while the server is still computing the SLA. Their places on the
    # page are fixed by the containers, not by this order. The charts are server-drawn SVG
    # (dashboard/charts.py): no chart library to fetch.
    m1, m2, m3 = st.columns(3)
    day_slot, month_slot = m1.empty(), m2.empty()
    m3.metric(t("New outages today"), int(outages_today))
    st.subheader(t("Outages per day (30 days)"))
    if len(trend):
        st.markdown(
            charts.outage_bars_svg(
                trend,
                label=t("new outages per day"),
                tooltip=lambda day, n, kind: t(
                    "{day}: {n} {kind} outages", day=day, n=n, kind=value(kind)
                ),
                legend=value,
            ),
            unsafe_allow_html=True,
        )
        st.caption(t("Days in {zone}", zone=timefmt.zone_caption(c.now, c.tz)))
    left, right = st.columns([3, 2])
    with right:
        st.subheader(t("Regions at a glance"))
        contacts: pd.DataFrame = ui.load(c, queries.region_contacts, minute)
        regions = queries.with_counts(contacts, by_region)
        ui.table(regions, "regions")
    with left:
        st.subheader(t("Sites by worst status"))
        sites: pd.DataFrame = ui.load(c, queries.site_map, minute)
        if len(sites):
            alt = t("sites by worst status")
            st.html(charts.as_img(charts.site_map_svg(sites, label=alt), alt))
            st.caption(
                t(
                    "one dot per ~10 km cell, its worst site: red down · orange late · "
                    "grey unknown · purple suspended · green online"
                )
            )
            st.markdown(
                charts.down_sites_line(
                    sites,
                    none=t("No store is down."),
                    lead=t("Down:"),
                    more=lambda n: t("and {n} more cells", n=n),
                )
            )
    day_from, month_from = timefmt.day_start(c.now, c.tz), timefmt.month_start(c.now, c.tz)
    # Today up to the last whole minute: none yet in the day's first minute (n/a, not an
    # empty period: the console fell over from 00:00 to 00:01 every day).
    a_day: sla.Reliability | None = None
    if minute > day_from:
        a_day = ui.load(c, queries.fleet_reliability, day_from, minute)
    ui.reliability_metric(day_slot, t("Availability today"), a_day)
    # The month: its finished days (kept 10 minutes per process, see past_reliability),
    # plus today.
    a_month = a_day
    if day_from > month_from:
        past = past_reliability(c.db, month_from, day_from)
        a_month = sla.combine(past, a_day) if a_day else past
    ui.reliability_metric(month_slot, t("Availability this month"), a_month)


body()
