"""Audit log: every operator action, newest first."""

from __future__ import annotations

import streamlit as st

from dashboard import queries, queries_cases, ui
from dashboard.case_text import audit_step, details_of
from dashboard.i18n import t

c = ui.ctx()
st.title(t("Audit log"))
actor = st.text_input(t("Actor"), value=st.query_params.get("actor", ""), key="audit_actor")
if actor:
    st.query_params["actor"] = actor
elif "actor" in st.query_params:
    del st.query_params["actor"]
size = c.settings.dashboard_page_size
_, total = ui.load(c, queries.audit_log, actor, 1, 0)
offset = ui.pager(total, size, "audit")
df, total = ui.load(c, queries.audit_log, actor, size, offset)
st.caption(t("{total} entries", total=total))
# Each action in words (a case's step with its amount in its currency); the stored action and
# details stay beside it and in the CSV.
cases = tuple(sorted({int(s[5:]) for s in df["subject"] if str(s).startswith("case:")}))
currency: dict[str, str] = ui.load(c, queries_cases.case_currencies, cases) if cases else {}
what = [
    audit_step(str(a), details_of(d), currency.get(str(s), ""), c.zone)
    for a, d, s in zip(df["action"], df["details"], df["subject"], strict=True)
]
shown = df.copy()
shown.insert(2, "what", what)
ui.table(
    shown,
    "audit_log",
    export=ui.all_rows(c, queries.audit_log, actor),
    column_config={"what": st.column_config.TextColumn(t("what was done"), width="large")},
)
