"""One gateway or terminal: status timeline, telemetry, incidents, firmware, maintenance;
or one site: its gateways and terminals, contacts, alerts and incidents."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from collector.actions import Role, record_service, set_suspended
from dashboard import queries_ops, ui
from dashboard.settings import now_from
from dashboard.text import md, url_param

c = ui.ctx()
st.title("Gateway / terminal / site")
ui.flash()
ident = st.text_input("Id or serial", value=st.query_params.get("id", ""), key="detail_id")
if ident:
    st.query_params["id"] = ident
if not ident:
    st.info("Pick a gateway or terminal: search in the sidebar, or follow a link from Alerts.")
    st.stop()
minute = c.now.replace(second=0, microsecond=0)
found = ui.load(c, queries_ops.find_subject, ident, minute)
if found is None:
    st.warning(f"No gateway, terminal or site with id or serial {md(repr(ident))}.")
    st.stop()
kind, row = found
since = c.now.replace(second=0, microsecond=0) - timedelta(days=30)


def site_page() -> None:
    """A store: what is down there, who to call, its alerts and incidents."""
    site = row["site_id"]
    st.header(f"site {md(site)} {md(row['name'])}")
    members = ui.load(c, queries_ops.site_members, site, minute)
    alerts = ui.load(c, queries_ops.site_alerts, site)
    gws, terms = members[members["type"] == "gateway"], members[members["type"] == "terminal"]
    a, b, u, d = st.columns(4)
    a.metric("Gateways down", f"{int((gws['status'] == 'down').sum())} of {len(gws)}")
    b.metric("Terminals down", f"{int((terms['status'] == 'down').sum())} of {len(terms)}")
    # Behind a gateway that is not online the collector cannot see a terminal: not down,
    # not online either.
    u.metric("Terminals unknown", f"{int((terms['status'] == 'unknown').sum())} of {len(terms)}")
    d.metric("Active alerts", len(alerts))
    info = pd.DataFrame(
        [
            ("address", row["address"] or ""),
            ("merchant", f"{row['merchant_name'] or ''} ({row['merchant_contact'] or ''})"),
            ("region", f"{row['region_id']} {row['region_name'] or ''}"),
            (
                "technician",
                f"{row['oncall_name'] or ''} ({row['oncall_contact'] or ''}), "
                f"verified {str(row['contact_verified_at'] or 'never')[:10]}",
            ),
            ("time zone", row["tz"] or ""),
        ],
        columns=["field", "value"],
    )
    ui.table(info, f"{site}-info")
    st.subheader("Gateways and terminals")
    ui.table(
        members.assign(link=[f"/detail?id={url_param(i)}" for i in members["id"]]),
        f"{site}-members",
        column_config={"link": st.column_config.LinkColumn("open", display_text=r"id=(.*)$")},
    )
    st.subheader("Active alerts")
    ui.table(alerts, f"{site}-alerts")
    st.subheader("Incidents (30 days)")
    ui.table(ui.load(c, queries_ops.site_incidents, site, since), f"{site}-incidents")


if kind == "site":
    site_page()
    st.stop()
sid = row["gateway_id"] if kind == "gateway" else row["terminal_id"]


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    # Every refresh reads the header and the timeline afresh and together (one read): the
    # script's first read (``found``) would be as old as the page.
    now = now_from(c.settings).replace(second=0, microsecond=0)
    page = ui.load(c, queries_ops.subject_page, ident, now, since)
    if page is None:
        st.warning(f"{md(kind)} {md(sid)} is no longer in the inventory.")
        return
    _, row, changes = page
    st.header(f"{kind} {md(sid)}")
    status = row["effective_status"]
    a, b, d, e = st.columns(4)
    why = row.get("status_reason")
    if status == "unknown" and kind == "terminal" and row["status"] != "unknown":
        why = f"its gateway {row['gateway_id']} is not online: the collector cannot see it"
    a.metric("Status", md(status), help=md(why) or None)
    b.metric("Since", md(str(row["status_since"] or "")[:16].replace("T", " ")))
    d.metric("Last seen", md(str(row["last_seen_at"] or "never")[:16].replace("T", " ")))
    e.metric("Firmware", md(row["firmware_version"] or "unknown"))
    if row["suspended"]:
        st.warning(f"Suspended: {md(row['suspended_reason'])}")
    info = pd.DataFrame(
        [
            ("model / serial", f"{row['model']} / {row['serial']}"),
            ("site", f"{row['site_id']} {row['site_name'] or ''}, {row['address'] or ''}"),
            ("merchant", f"{row['merchant_name'] or ''} ({row['merchant_contact'] or ''})"),
            (
                "technician",
                f"{row['oncall_name'] or ''} ({row['oncall_contact'] or ''}), "
                f"verified {str(row['contact_verified_at'] or 'never')[:10]}",
            ),
            (
                "installed / warranty end",
                f"{row['install_date'] or ''} / {row['warranty_end'] or ''}",
            ),
            ("gateway", row["gateway_id"]),
        ],
        columns=["field", "value"],
    )
    ui.table(info, f"{sid}-info")
    st.subheader("Status timeline (30 days)")
    ui.table(changes, f"{sid}-timeline")
    gw = row["gateway_id"]
    term = sid if kind == "terminal" else ""
    net = ui.load(c, queries_ops.telemetry, gw, term, "network", since)
    hw = ui.load(c, queries_ops.telemetry, gw, term, "hardware", since)
    if len(net) == 0 and len(hw) == 0 and kind == "terminal":
        # Terminal without its own telemetry: show the gateway's link it depends on.
        net = ui.load(c, queries_ops.telemetry, gw, "", "network", since)
        hw = ui.load(c, queries_ops.telemetry, gw, "", "hardware", since)
    st.subheader("Telemetry (30 days)")
    charts = st.columns(5)
    for col, (df, field) in zip(
        charts,
        [
            (net, "rssi_dbm"),
            (net, "latency_ms"),
            (net, "loss_pct"),
            (hw, "battery_pct"),
            (hw, "temperature_c"),
        ],
        strict=True,
    ):
        with col:
            st.caption(field)
            if len(df) and df[field].notna().any():
                st.line_chart(df[field], height=160)
            else:
                st.write("no data")
    st.subheader("Incidents")
    ui.table(ui.load(c, queries_ops.subject_incidents, kind, sid), f"{sid}-incidents")
    st.subheader("Maintenance history")
    ui.table(ui.load(c, queries_ops.services, kind, sid), f"{sid}-services")


body()

st.subheader("Actions")
if ui.need(c, Role.OPERATOR, "suspend or record a service"):
    left, right = st.columns(2)
    with left, st.form("suspend"):
        reason = st.text_input(
            "Suspension reason", value=row["suspended_reason"] or "", key="sus_reason"
        )
        label = "Unsuspend" if row["suspended"] else "Suspend"
        if st.form_submit_button(label):
            ui.act_and_clear(
                c, ("sus_reason",), set_suspended, kind, sid, not row["suspended"], reason, c.now
            )
    with right, st.form("service_detail"):
        work = st.text_input("Work done", key="dsvc_work")
        parts = st.text_input("Parts replaced", key="dsvc_parts")
        cat = st.selectbox(
            "Fault category", ["", "hardware", "software", "network", "power"], key="dsvc_cat"
        )
        if st.form_submit_button("Record service"):
            ui.act_and_clear(
                c,
                ("dsvc_work", "dsvc_parts", "dsvc_cat"),
                record_service,
                subject_type=kind,
                subject_id=sid,
                work=work,
                parts_replaced=parts,
                fault_category=cat,
                now=c.now,
            )
