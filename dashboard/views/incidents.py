"""Incidents and SLA: availability, MTTR, MTBF by region/site/model, planned time excluded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from collector.actions import Role, update_incident
from dashboard import queries, queries_ops, ui
from dashboard.i18n import N_, t, value

INCIDENT_KEYS = ("inc_cause", "inc_day", "inc_time")
GROUPS = {"region_id": N_("region"), "site_id": N_("store"), "model": N_("model")}


def incident_label(r: dict[str, Any], c: ui.Ctx) -> str:
    """An incident in a picker: its subject, class and start (the viewer's clock), and the
    cause if known."""
    return t(
        "#{id} {subject} {subject_id} · {cls}{cause} · since {since}",
        id=r["id"],
        subject=value(r["subject_type"]),
        subject_id=r["subject_id"],
        cls=value(r["class"]),
        cause=f" · {r['cause']}" if r["cause"] else "",
        since=ui.when(c, r["started_at"]),
    )


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
ui.pct_metric(a, t("Fleet availability"), fleet)
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
    labels = {int(r["id"]): incident_label(r, c) for r in df.to_dict("records")}
    still_open = {int(i) for i in df.loc[df["ended_at"].isna(), "id"]}
    # The default is a time to come, never one already past: two hours from now, on the
    # quarter hour of the viewer's clock (the form speaks it; the store gets UTC).
    soon = (now + timedelta(hours=2)).astimezone(c.zone)
    soon = soon.replace(minute=soon.minute - soon.minute % 15)
    with st.form("incident"):
        incident_id = st.selectbox(t("Incident"), list(labels), format_func=labels.__getitem__)
        cause = st.text_input(t("Cause"), key="inc_cause")
        day = st.date_input(
            t("Expected recovery date ({zone})", zone=c.tz), value=soon.date(), key="inc_day"
        )
        hour = st.time_input(
            t("Expected recovery time ({zone})", zone=c.tz),
            value=soon.time().replace(tzinfo=None),
            key="inc_time",
        )
        if st.form_submit_button(t("Save")):
            recovery = datetime.combine(day, hour, tzinfo=c.zone)
            if int(incident_id) in still_open and recovery <= c.now:
                # The action refuses it too (in English, in UTC); said here on the viewer's
                # clock and in their language, and what was typed stays to be fixed.
                st.error(
                    t(
                        "Expected recovery {time} is already past: the merchant would be told "
                        "a time gone by. Pick a time to come.",
                        time=ui.when(c, recovery),
                    )
                )
            else:
                ui.act_and_clear(
                    c,
                    INCIDENT_KEYS,
                    update_incident,
                    int(incident_id),
                    cause=cause,
                    expected_recovery_at=recovery,
                    now=c.now,
                )
