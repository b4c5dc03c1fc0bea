"""Firmware: versions by model, compliance against policy, rollout progress."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries_ops, ui
from dashboard.queries_ops import rollout

c = ui.ctx()
st.title("Firmware")
fw: pd.DataFrame = ui.load(c, queries_ops.firmware)
model = ui.qp_select("Model", sorted(fw["model"].unique().tolist()), "model")
shown = fw[fw["model"] == model] if model else fw
st.subheader("Rollout progress")
ui.table(rollout(shown), "firmware-rollout")
st.subheader("Versions by model")
st.bar_chart(shown, x="model", y="terminals", color="version", height=260)
ui.table(shown.drop(columns=["approved_versions"]), "firmware-versions")
bad = shown[shown["compliance"] == "non-compliant"]
st.metric("Non-compliant terminals", int(bad["terminals"].sum()))
