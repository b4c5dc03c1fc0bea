"""Maintenance: overdue and due soon by region and technician; services and windows."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from collector.actions import (
    SCOPE_TYPES,
    Role,
    create_window,
    edit_window,
    end_window_early,
    record_service,
    reschedule_window,
)
from collector.store.times import from_db, to_db
from dashboard import queries_ops, queries_policies, ui
from dashboard.i18n import t, value
from dashboard.queries_ops import due_summary
from dashboard.text import md

SERVICE_KEYS = ("svc_kind", "svc_id", "svc_task", "svc_work", "svc_parts", "svc_cat")
WINDOW_KEYS = (
    "win_scope", "win_scope_id", "win_day", "win_time", "win_hours", "win_recurrence", "win_reason",
)  # fmt: skip
CONFIRM_END = "confirm_end_window"  # the window whose "End window now" awaits a yes


def window_label(w: Any, c: ui.Ctx) -> str:
    """A window in a picker: what it covers, why, until when (the viewer's clock)."""
    if w.recurrence:
        until = t("recurring {cron}", cron=w.recurrence)
    else:
        until = t("until {time}", time=ui.when(c, w.ends_at))
    reason = f" · {w.reason}" if w.reason else ""
    return f"#{w.id} {value(w.scope_type)} {w.scope_id}{reason} · {until}"


# What the forms show again after a save (the text boxes are emptied: ui.ctx).
ui.FORM_DEFAULTS.update(
    {"win_hours": 2.0, "win_scope": list(SCOPE_TYPES)[2], "svc_kind": "terminal"}
)
c = ui.ctx()
st.title(t("Maintenance"))
ui.flash()
now = c.now.replace(second=0, microsecond=0)
here = now.astimezone(c.zone)  # forms speak the viewer's clock; the store keeps UTC
due: pd.DataFrame = ui.load(c, queries_ops.maintenance_due, now)
counts = due["state"].value_counts()
a, b, d = st.columns(3)
a.metric(t("Overdue"), int(counts.get("overdue", 0)))
b.metric(t("Due soon"), int(counts.get("due_soon", 0)))
d.metric(t("OK"), int(counts.get("ok", 0)))
left, right = st.columns(2)
with left:
    st.subheader(t("By region"))
    ui.table(due_summary(due, "region_id"), "due-by-region")
with right:
    st.subheader(t("By technician"))
    ui.table(due_summary(due, "technician"), "due-by-technician")

st.subheader(t("Terminals to service"))
f1, f2 = st.columns(2)
with f1:
    state = ui.qp_select(
        t("State"), ["overdue", "due_soon"], "state", all_label=t("overdue + due soon")
    )
with f2:
    region = ui.qp_select(t("Region"), sorted(due["region_id"].dropna().unique()), "region")
todo = due[due["state"] == state] if state else due[due["state"].isin(["overdue", "due_soon"])]
if region:
    todo = todo[todo["region_id"] == region]
todo = todo.sort_values("due_at")
size = c.settings.dashboard_page_size
offset = ui.pager(len(todo), size, "due")
ui.table(todo.iloc[offset : offset + size], "maintenance-due", export=lambda: todo)

st.subheader(t("Maintenance windows (active and upcoming)"))
windows: pd.DataFrame = ui.load(c, queries_ops.windows, now)
ui.table(windows, "maintenance-windows")

if ui.need(c, Role.OPERATOR, t("record services and schedule windows")):
    left, right = st.columns(2)
    with left, st.form("service"):
        st.write(t("**Record a service**"))
        kind = st.selectbox(t("Type"), ["terminal", "gateway"], format_func=value, key="svc_kind")
        subject = st.text_input(t("Id"), key="svc_id")
        task = st.selectbox(
            t("Task"),
            ["", *ui.load(c, queries_policies.tasks)],
            format_func=lambda x: value(x) if x else t("full service (every task)"),
            key="svc_task",
        )
        work, parts, cat = ui.service_fields("svc")
        if st.form_submit_button(t("Record service")):
            ui.act_and_clear(
                c,
                SERVICE_KEYS,
                record_service,
                subject_type=kind,
                subject_id=subject.strip(),
                work=work,
                parts_replaced=parts,
                fault_category=cat,
                now=c.now,
                task_type=task or "",
            )
    with right, st.form("window"):
        st.write(t("**Schedule a maintenance window**"))
        scope = st.selectbox(
            t("Scope"), list(SCOPE_TYPES), index=2, format_func=value, key="win_scope"
        )
        scope_id = st.text_input(t("Scope id"), key="win_scope_id")
        day = st.date_input(t("Start date ({zone})", zone=c.tz), value=here.date(), key="win_day")
        start_t = st.time_input(
            t("Start time ({zone})", zone=c.tz), value=time(here.hour, 0), key="win_time"
        )
        hours = st.number_input(t("Duration (hours)"), 0.25, 72.0, 2.0, step=0.25, key="win_hours")
        recurrence = st.text_input(t("Recurrence (cron, optional)"), key="win_recurrence")
        reason = st.text_input(t("Reason"), key="win_reason")
        if st.form_submit_button(t("Schedule window")):
            starts = datetime.combine(day, start_t, tzinfo=c.zone)
            ui.act_and_clear(
                c,
                WINDOW_KEYS,
                create_window,
                scope_type=scope,
                scope_id=scope_id.strip(),
                starts_at=starts,
                ends_at=starts + timedelta(hours=float(hours)),
                reason=reason,
                now=c.now,
                recurrence=recurrence.strip() or None,
            )
    if len(windows):
        labels = {int(r.id): window_label(r, c) for r in windows.itertuples(index=False)}
        with st.form("edit_window"):
            st.write(t("**Change or end a window**"))
            wid = st.selectbox(t("Window"), list(labels), format_func=labels.__getitem__)
            extend = st.number_input(
                t("New end: hours from now"), 0.25, 72.0, 1.0, step=0.25, key="edit_hours"
            )
            change, end_now = st.columns(2)
            if change.form_submit_button(t("Set new end")):
                st.session_state.pop(CONFIRM_END, None)
                new_end = c.now + timedelta(hours=float(extend))
                ui.act_and_clear(
                    c, ("edit_hours",), edit_window, int(wid), now=c.now, ends_at=new_end
                )
            if end_now.form_submit_button(t("End window now")):
                # Ending a window pages whatever is still down in it: asked once more below.
                st.session_state[CONFIRM_END] = int(wid)
        confirm = st.session_state.get(CONFIRM_END)
        if confirm in labels:
            st.warning(
                t(
                    "End window {window} now? Whatever is still down in it will page as new.",
                    window=md(labels[confirm]),
                )
            )
            yes, no = st.columns(2)
            if yes.button(t("Yes, end it now"), key="end_window_yes", type="primary"):
                st.session_state.pop(CONFIRM_END, None)
                ui.act(c, end_window_early, confirm, c.now)
            if no.button(t("Cancel"), key="end_window_no"):
                st.session_state.pop(CONFIRM_END, None)
                st.rerun()
    upcoming = windows[windows["starts_at"] > to_db(c.now)]
    if len(upcoming):
        st.write(t("**Edit a window that has not started**"))
        rows = upcoming.set_index("id")
        wid = int(
            st.selectbox(
                t("Upcoming window"),
                [int(i) for i in rows.index],
                format_func=lambda i: t(
                    "#{id} {scope} {scope_id} from {start}",
                    id=i,
                    scope=value(rows.at[i, "scope_type"]),
                    scope_id=rows.at[i, "scope_id"],
                    start=ui.when(c, rows.at[i, "starts_at"]),
                ),
                key="upcoming_window",
            )
        )
        w = rows.loc[wid]
        # The store's aware UTC timestamps, edited on the viewer's clock.
        start = from_db(w["starts_at"]).astimezone(c.zone)
        end = from_db(w["ends_at"]).astimezone(c.zone)
        # Keys carry the window id: picking another window shows its values, not the last ones.
        with st.form(f"reschedule_{wid}"):
            s1, s2 = st.columns(2)
            new_scope = s1.selectbox(
                t("Scope"),
                list(SCOPE_TYPES),
                SCOPE_TYPES.index(w["scope_type"]),
                key=f"rs_scope_{wid}",
                format_func=value,
            )
            new_scope_id = s2.text_input(t("Scope id"), w["scope_id"], key=f"rs_scope_id_{wid}")
            d1, t1, d2, t2 = st.columns(4)
            zone = c.tz
            start_day = d1.date_input(
                t("Start date ({zone})", zone=zone), start.date(), key=f"rs_start_d_{wid}"
            )
            start_t = t1.time_input(
                t("Start time ({zone})", zone=zone), start.time(), key=f"rs_start_t_{wid}"
            )
            end_day = d2.date_input(
                t("End date ({zone})", zone=zone), end.date(), key=f"rs_end_d_{wid}"
            )
            end_t = t2.time_input(
                t("End time ({zone})", zone=zone), end.time(), key=f"rs_end_t_{wid}"
            )
            new_reason = st.text_input(t("Reason"), w["reason"] or "", key=f"rs_reason_{wid}")
            if st.form_submit_button(t("Save window")):
                ui.act(
                    c,
                    reschedule_window,
                    wid,
                    scope_type=new_scope,
                    scope_id=new_scope_id,
                    starts_at=datetime.combine(start_day, start_t, tzinfo=start.tzinfo),
                    ends_at=datetime.combine(end_day, end_t, tzinfo=end.tzinfo),
                    reason=new_reason,
                    now=c.now,
                )
