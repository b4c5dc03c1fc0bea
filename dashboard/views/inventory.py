"""Inventory: counts, ids awaiting enrolment, CSV export and (admin) import."""

from __future__ import annotations

import streamlit as st

from collector.actions import Role, import_inventory
from collector.inventory import INVENTORY_COLUMNS, CsvRows
from dashboard import queries_ops, ui
from dashboard.i18n import t, value

c = ui.ctx()
st.title(t("Inventory"))
ui.flash()
ui.table(ui.load(c, queries_ops.inventory_counts), "inventory-counts")
st.subheader(t("Reporting but not in the inventory (awaiting enrolment, never paged)"))
ui.table(ui.load(c, queries_ops.unregistered), "unregistered")
st.subheader(t("Export"))
for table_name, cols in INVENTORY_COLUMNS.items():
    ui.full_export(c, table_name, f"SELECT {', '.join(cols)} FROM {table_name} ORDER BY 1")
st.subheader(t("Import"))
if ui.need(c, Role.ADMIN, t("import inventory")):
    with st.form("import"):
        table_name = st.selectbox(t("Table"), list(INVENTORY_COLUMNS), format_func=value)
        upload = ui.csv_uploader(t("CSV with a header row"), key="up_inventory")
        if st.form_submit_button(t("Import")) and upload is not None:
            # Decoded and checked as the command line does it: a refusal names the file.
            rows = CsvRows(table_name, upload.name, upload.getvalue())
            ui.act(c, import_inventory, table_name, rows, c.now)
