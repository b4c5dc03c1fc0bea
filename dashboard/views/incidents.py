"""Incidents and SLA: availability, MTTR, MTBF by region/site/model, planned time excluded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from collector.actions import Role, update_incident
from dashboard import queries, queries_ops, ui

INCIDENT_KEYS = ("inc_cause", "inc_day", "inc_time")


def incident_label(r: dict[str, Any]) -> str:
    """An incident in a picker: its subject, class and start, and the cause if known."""
    cause = f" · {r['cause']}" if r["cause"] else ""
    since = str(r["started_at"])[:16].replace("T", " ")
    return f"#{r['id']} {r['subject_type']} {r['subject_id']} · {r['class']}{cause} · since {since} UTC"


c = ui.ctx()
st.title("Incidents & SLA")
ui.flash()
now = c.now.replace(second=0, microsecond=0)
days = int(ui.qp_select("Period (days)", ["1", "7", "30", "90"], "days", all_label="30") or 30)
group = ui.qp_select("Group by", ["region_id", "site_id", "model"], "group", all_label="region_id")
group = group or "region_id"
start = now - timedelta(days=days)

st.subheader(f"SLA by {group}, last {days} days (gateways; planned windows excluded)")
fleet = ui.load(c, queries.reliability, start, now)
a, b, d = st.columns(3)
a.metric("Fleet availability", ui.pct(fleet))
b.metric("MTTR", ui.figure(fleet, "mttr_min", "min"))
d.metric("MTBF", ui.figure(fleet, "mtbf_h", "h"))
ui.table(ui.load(c, queries.reliability, start, now, group), f"sla-by-{group}")

st.subheader("Incidents")
open_only = st.toggle("Open only", value=st.query_params.get("open") == "1", key="inc_open")
if open_only:
    st.query_params["open"] = "1"
elif "open" in st.query_params:
    del st.query_params["open"]
size = c.settings.dashboard_page_size
_, total = ui.load(c, queries_ops.incidents, start, open_only, 1, 0)
offset = ui.pager(total, size, "incidents")
df, total = ui.load(c, queries_ops.incidents, start, open_only, size, offset)
st.caption(f"{total} incidents")
ui.table(df, "incidents", export=ui.all_rows(c, queries_ops.incidents, start, open_only))

st.subheader("Cause and expected recovery (what the merchant is told)")
if ui.need(c, Role.OPERATOR, "edit incidents") and len(df):
    labels = {int(r["id"]): incident_label(r) for r in df.to_dict("records")}
    # The default is a time to come, never one already past: two hours from now, on the
    # quarter hour.
    soon = now + timedelta(hours=2)
    soon = soon.replace(minute=soon.minute - soon.minute % 15)
    with st.form("incident"):
        incident_id = st.selectbox("Incident", list(labels), format_func=labels.__getitem__)
        cause = st.text_input("Cause", key="inc_cause")
        day = st.date_input("Expected recovery date", value=soon.date(), key="inc_day")
        hour = st.time_input(
            "Expected recovery time (UTC)", value=soon.time().replace(tzinfo=None), key="inc_time"
        )
        if st.form_submit_button("Save"):
            recovery = datetime.combine(day, hour, tzinfo=c.now.tzinfo)
            ui.act_and_clear(
                c,
                INCIDENT_KEYS,
                update_incident,
                int(incident_id),
                cause=cause,
                expected_recovery_at=recovery,
                now=c.now,
            )
