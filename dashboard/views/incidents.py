"""Incidents and SLA: availability, MTTR, MTBF by region/site/model, planned time excluded."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import streamlit as st

from collector.actions import Role, update_incident
from dashboard import queries, queries_ops, ui
from dashboard.i18n import N_, t

GROUPS = {"region_id": N_("region"), "site_id": N_("store"), "model": N_("model")}
c = ui.ctx()
st.title(t("Incidents & SLA"))
ui.flash()
now = c.now.replace(second=0, microsecond=0)
days = int(ui.qp_select(t("Period (days)"), ["1", "7", "30", "90"], "days", all_label="30") or 30)
group = ui.qp_select(t("Group by"), list(GROUPS), "group", all_label=t(GROUPS["region_id"]))
group = group or "region_id"
start = now - timedelta(days=days)

st.subheader(
    t(
        "SLA by {group}, last {days} days (gateways; planned windows excluded)",
        group=t(GROUPS[group]),
        days=days,
    )
)
fleet = ui.load(c, queries.reliability, start, now)
a, b, d = st.columns(3)
a.metric(t("Fleet availability"), ui.pct(fleet))
b.metric(t("MTTR"), ui.figure(fleet, "mttr_min", t("min")))
d.metric(t("MTBF"), ui.figure(fleet, "mtbf_h", t("h")))
ui.table(ui.load(c, queries.reliability, start, now, group), f"sla-by-{group}")

st.subheader(t("Incidents"))
open_only = st.toggle(t("Open only"), value=st.query_params.get("open") == "1", key="inc_open")
if open_only:
    st.query_params["open"] = "1"
elif "open" in st.query_params:
    del st.query_params["open"]
size = c.settings.dashboard_page_size
_, total = ui.load(c, queries_ops.incidents, start, open_only, 1, 0)
offset = ui.pager(total, size, "incidents")
df, total = ui.load(c, queries_ops.incidents, start, open_only, size, offset)
st.caption(t("{total} incidents", total=total))
ui.table(df, "incidents", export=ui.all_rows(c, queries_ops.incidents, start, open_only))

st.subheader(t("Cause and expected recovery (what the merchant is told)"))
if ui.need(c, Role.OPERATOR, t("edit incidents")) and len(df):
    with st.form("incident"):
        ids = [int(i) for i in df["id"]]
        incident_id = st.selectbox(t("Incident"), ids, format_func=lambda i: f"#{i}")
        cause = st.text_input(t("Cause"))
        here = now.astimezone(c.zone)  # the form speaks the viewer's clock
        day = st.date_input(t("Expected recovery date ({zone})", zone=c.tz), value=here.date())
        hour = st.time_input(
            t("Expected recovery time ({zone})", zone=c.tz), value=time(here.hour, 0)
        )
        if st.form_submit_button(t("Save")):
            recovery = datetime.combine(day, hour, tzinfo=c.zone)
            ui.act(
                c,
                update_incident,
                int(incident_id),
                cause=cause,
                expected_recovery_at=recovery,
                now=c.now,
            )
