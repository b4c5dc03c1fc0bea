"""Firmware: versions by model (gateways and terminals), compliance against policy, rollout
progress towards the policy's target ("no policy" where a model has none); the whole fleet
or one region, every model or one (``?region=&model=``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries_oncall, queries_ops, ui
from dashboard.i18n import t
from dashboard.queries_ops import rollout

c = ui.ctx()
st.title(t("Firmware"))
minute = c.now.replace(second=0, microsecond=0)
left, right = st.columns(2)
with left:
    region = ui.qp_select(t("Region"), ui.load(c, queries_oncall.regions), "region")
fw: pd.DataFrame = ui.load(c, queries_ops.firmware, minute, region)
with right:
    model = ui.qp_select(t("Model"), sorted(fw["model"].unique().tolist()), "model")
shown = fw[fw["model"] == model] if model else fw
st.subheader(t("Rollout progress"))
ui.table(rollout(shown), "firmware-rollout")
st.subheader(t("Versions by model"))
if len(shown):
    # The legend's title is the colour column's name: named in the viewer's language.
    version = t("version")
    st.bar_chart(
        shown.assign(devices=shown["gateways"] + shown["terminals"]).rename(
            columns={"version": version}
        ),
        x="model",
        y="devices",
        color=version,
        x_label=t("model"),
        y_label=t("devices"),
        height=260,
    )
ui.table(shown, "firmware-versions")
bad = shown[shown["compliance"] == "non-compliant"]
a, b = st.columns(2)
a.metric(t("Non-compliant gateways"), int(bad["gateways"].sum()))
b.metric(t("Non-compliant terminals"), int(bad["terminals"].sum()))
