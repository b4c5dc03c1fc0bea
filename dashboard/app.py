"""The posfleet NOC console (Streamlit entry point): ``streamlit run app.py -- --db PATH``."""

from __future__ import annotations

import streamlit as st

from dashboard import chrome, ui
from dashboard.i18n import t

c = ui.ctx()  # first: the viewer's language names the tab and the pages
st.set_page_config(
    page_title=t("posfleet NOC"), page_icon=":material/monitor_heart:", layout="wide"
)

PAGES = [
    st.Page("views/overview.py", title=t("Overview"), url_path="overview", default=True),
    st.Page("views/morning.py", title=t("Morning check"), url_path="morning"),
    st.Page("views/alerts.py", title=t("Alerts"), url_path="alerts"),
    st.Page("views/detail.py", title=t("Gateway / terminal / site"), url_path="detail"),
    st.Page("views/incidents.py", title=t("Incidents & SLA"), url_path="incidents"),
    st.Page("views/cases.py", title=t("Shortfall cases"), url_path="cases"),
    st.Page("views/firmware.py", title=t("Firmware"), url_path="firmware"),
    st.Page("views/maintenance.py", title=t("Maintenance"), url_path="maintenance"),
    st.Page("views/policies.py", title=t("Policies"), url_path="policies"),
    st.Page("views/oncall.py", title=t("On-call"), url_path="oncall"),
    st.Page("views/inventory.py", title=t("Inventory"), url_path="inventory"),
    st.Page("views/audit.py", title=t("Audit log"), url_path="audit"),
    st.Page("views/wall.py", title=t("Wall screen"), url_path="wall"),
]

# Every page listed: Streamlit folds a long list behind its own English "View N more".
page = st.navigation(PAGES, expanded=True)
st.html(chrome.css())  # Streamlit's own words in the viewer's language, on every page
if page.url_path != "wall":  # the wall screen owns the whole screen: no sidebar
    ui.sidebar(c)
page.run()
