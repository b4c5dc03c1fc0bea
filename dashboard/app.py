"""The posfleet NOC console (Streamlit entry point): ``streamlit run app.py -- --db PATH``."""

from __future__ import annotations

import streamlit as st

from dashboard import ui

st.set_page_config(page_title="posfleet NOC", page_icon=":material/monitor_heart:", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", url_path="overview", default=True),
    st.Page("views/alerts.py", title="Alerts", url_path="alerts"),
    st.Page("views/detail.py", title="Gateway / terminal / site", url_path="detail"),
    st.Page("views/incidents.py", title="Incidents & SLA", url_path="incidents"),
    st.Page("views/firmware.py", title="Firmware", url_path="firmware"),
    st.Page("views/maintenance.py", title="Maintenance", url_path="maintenance"),
    st.Page("views/oncall.py", title="On-call", url_path="oncall"),
    st.Page("views/inventory.py", title="Inventory", url_path="inventory"),
    st.Page("views/audit.py", title="Audit log", url_path="audit"),
    st.Page("views/wall.py", title="Wall screen", url_path="wall"),
]

page = st.navigation(PAGES)
c = ui.ctx()
if page.url_path != "wall":  # the wall screen owns the whole screen: no sidebar
    ui.sidebar(c)
page.run()
