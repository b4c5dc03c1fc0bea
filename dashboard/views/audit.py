"""Audit log: every operator action, newest first."""

from __future__ import annotations

import streamlit as st

from dashboard import queries, ui
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
ui.table(df, "audit_log", export=ui.all_rows(c, queries.audit_log, actor))
