"""Policies: firmware policies per model and maintenance schedules per task type and scope,
set one at a time or by CSV (admins; everyone else reads them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from collector.actions import (
    Role,
    add_task_type,
    delete_firmware_policy,
    delete_schedule,
    import_firmware_policies,
    import_schedules,
    set_firmware_policy,
    set_schedule,
)
from collector.actions.policies import FIRMWARE_CSV, SCHEDULE_CSV
from collector.schedules import SCOPE_TYPES, UNITS, USAGE_METRICS
from dashboard import queries, queries_policies, ui
from dashboard.i18n import t, value
from dashboard.text import md

# What the forms show again after a save (the text boxes are emptied: ui.ctx).
ui.FORM_DEFAULTS.update({"sc_every": 0, "sc_limit": 0.0, "fw_has_eos": False})
c = ui.ctx()
st.title(t("Policies"))
ui.flash()
admin = ui.can(c, Role.ADMIN)
if not admin:
    ui.need(c, Role.ADMIN, t("change policies"))


def export_button(name: str, build: str) -> None:
    """The whole set as the CSV the import reads (docs/dashboard.md "Policies")."""

    def data() -> str:
        from collector.actions import policies as actions

        with queries.open_ro(c.db) as conn:
            return str(getattr(actions, build)(conn))

    st.download_button(
        t("Export all {name}.csv", name=name), data=data, file_name=f"{name}.csv",
        mime="text/csv", key=f"export_{name}", on_click="ignore",
    )  # fmt: skip


def import_form(name: str, columns: tuple[str, ...], action: Callable[..., Any]) -> None:
    with st.form(f"import_{name}"):
        st.write(t("**Import {name}.csv**", name=name))
        st.caption(t("Columns: {columns}", columns=", ".join(columns)))
        upload = ui.csv_uploader(t("CSV with a header row"), key=f"up_{name}")
        if st.form_submit_button(t("Check and import")) and upload is not None:
            ui.act(c, action, upload.getvalue().decode("utf-8-sig", "replace"), c.now)


# ------------------------------------------------------------------ firmware
st.header(t("Firmware policies"))
fw: pd.DataFrame = ui.load(c, queries_policies.firmware_policies)
ui.table(fw, "firmware-policies")
models: list[str] = ui.load(c, queries_policies.models)
# A model without a policy has no row above: said, so that it is not taken as set.
unset = sorted(set(models) - set(fw["model"]))
if unset:
    st.caption(t("No policy (no target version) for: {models}", models=md(", ".join(unset))))
export_button("firmware-policies", "export_firmware_policies")
if admin:
    left, right = st.columns(2)
    with left, st.form("firmware_policy"):
        st.write(t("**Set a model's policy**"))
        model = st.selectbox(t("Model"), models, key="fw_model")
        target = st.text_input(t("Target version"), key="fw_target")
        minimum = st.text_input(t("Minimum version"), key="fw_min")
        approved = st.text_input(t("Approved versions (space-separated, optional)"), key="fw_ok")
        has_eos = st.checkbox(t("End of support"), key="fw_has_eos")
        eos = st.date_input(t("End of support date (UTC)"), key="fw_eos")
        if st.form_submit_button(t("Save firmware policy")):
            ui.act_and_clear(
                c,
                ("fw_target", "fw_min", "fw_ok", "fw_has_eos"),
                set_firmware_policy,
                model=model or "",
                target_version=target,
                min_version=minimum,
                approved_versions=tuple(approved.split()),
                end_of_support=datetime.combine(eos, datetime.min.time(), UTC) if has_eos else None,
                now=c.now,
            )
    with right:
        if len(fw):
            with st.form("firmware_delete"):
                st.write(t("**Delete a model's policy**"))
                gone = st.selectbox(t("Model"), list(fw["model"]), key="fw_delete")
                if st.form_submit_button(t("Delete firmware policy")):
                    ui.act(c, delete_firmware_policy, str(gone), c.now)
        import_form("firmware-policies", FIRMWARE_CSV, import_firmware_policies)

# ------------------------------------------------------------------ schedules
st.header(t("Maintenance schedules"))
st.caption(
    t(
        "Per task type and scope (a store's schedule wins over its region's, a region's over "
        "its model's). Usage triggers are the counters terminals report: receipts printed and "
        "errors since the task was last done, battery health below a floor."
    )
)
sched: pd.DataFrame = ui.load(c, queries_policies.schedules)
ui.table(sched, "maintenance-schedules")
export_button("maintenance-schedules", "export_schedules")
if admin:
    tasks: list[str] = ui.load(c, queries_policies.tasks)
    left, right = st.columns(2)
    with left, st.form("schedule"):
        st.write(t("**Set a schedule**"))
        task = st.selectbox(t("Task type"), tasks, format_func=value, key="sc_task")
        s1, s2 = st.columns(2)
        scope = s1.selectbox(t("Scope"), list(SCOPE_TYPES), format_func=value, key="sc_scope")
        scope_id = s2.text_input(t("Scope id"), key="sc_scope_id")
        i1, i2 = st.columns(2)
        every = i1.number_input(t("Every (0: no calendar interval)"), 0, 3650, 0, key="sc_every")
        unit = i2.selectbox(t("Unit"), list(UNITS), index=2, format_func=value, key="sc_unit")
        u1, u2 = st.columns(2)
        metric = u1.selectbox(
            t("Usage trigger"),
            ["", *USAGE_METRICS],
            format_func=lambda m: value(m) if m else t("(none)"),
            key="sc_metric",
        )
        limit = u2.number_input(t("Usage limit"), 0.0, 1e9, 0.0, key="sc_limit")
        soon = st.number_input(t("Due soon (days before)"), 0, 365, 14, key="sc_soon")
        if st.form_submit_button(t("Save schedule")):
            ui.act_and_clear(
                c,
                ("sc_scope_id", "sc_every", "sc_metric", "sc_limit"),
                set_schedule,
                task_type=task or "",
                scope_type=scope or "",
                scope_id=scope_id,
                every_n=int(every) or None,
                every_unit=unit if every else "",
                usage_metric=metric or "",
                usage_limit=float(limit) if metric else None,
                due_soon_days=int(soon),
                now=c.now,
            )
    with right:
        if len(sched):
            labels = {
                int(r.id): f"#{r.id} {value(r.task_type)} · {value(r.scope_type)} {r.scope_id}"
                for r in sched.itertuples(index=False)
            }
            with st.form("schedule_delete"):
                st.write(t("**Delete a schedule**"))
                sid = st.selectbox(t("Schedule"), list(labels), format_func=labels.__getitem__)
                if st.form_submit_button(t("Delete schedule")):
                    ui.act(c, delete_schedule, int(sid), c.now)
        with st.form("task_type"):
            st.write(t("**Add a task type**"))
            name = st.text_input(t("Task type name (e.g. pinpad-seal)"), key="tt_name")
            if st.form_submit_button(t("Add task type")):
                ui.act_and_clear(c, ("tt_name",), add_task_type, name, c.now)
        import_form("maintenance-schedules", SCHEDULE_CSV, import_schedules)
