"""One gateway or terminal: status timeline, telemetry, incidents, firmware, maintenance;
or one site: its gateways and terminals, contacts, alerts and incidents."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from collector.actions import Role, record_service, set_suspended
from dashboard import alert_text, queries_ops, timefmt, ui
from dashboard.i18n import N_, t, value
from dashboard.settings import now_from
from dashboard.text import md, url_param

c = ui.ctx()
st.title(t("Gateway / terminal / site"))
ui.flash()
ident = st.text_input(t("Id or serial"), value=st.query_params.get("id", ""), key="detail_id")
if ident:
    st.query_params["id"] = ident
if not ident:
    st.info(t("Pick a gateway or terminal: search in the sidebar, or follow a link from Alerts."))
    st.stop()
minute = c.now.replace(second=0, microsecond=0)
found = ui.load(c, queries_ops.find_subject, ident, minute)
if found is None:
    st.warning(t("No gateway, terminal or site with id or serial {ident}.", ident=md(repr(ident))))
    st.stop()
kind, row = found
since = c.now.replace(second=0, microsecond=0) - timedelta(days=30)
TELEMETRY_LABELS = {
    "rssi_dbm": N_("signal (dBm)"), "latency_ms": N_("latency (ms)"), "loss_pct": N_("loss (%)"),
    "battery_pct": N_("battery (%)"), "temperature_c": N_("temperature (°C)"),
}  # fmt: skip


def of(n: int, total: int) -> str:
    return t("{n} of {total}", n=n, total=total)


def technician(r: dict[str, object]) -> str:
    verified = ui.when(c, r["contact_verified_at"])[:10] or t("never")  # type: ignore[arg-type]
    return t(
        "{name} ({contact}), verified {day}",
        name=r["oncall_name"] or "",
        contact=r["oncall_contact"] or "",
        day=verified,
    )


def day(value: object) -> str:
    """A stored date or time as the viewer's calendar day ('' for none)."""
    text = str(value or "")
    return timefmt.local(text, c.zone, "%Y-%m-%d") if len(text) > 10 else text


def local_axis(series: pd.Series) -> pd.Series:
    """A telemetry series indexed by the viewer's wall time (naive: the chart draws it as
    given, not in the browser's own zone)."""
    return series.set_axis(series.index.tz_convert(c.zone).tz_localize(None))


def site_page() -> None:
    """A store: what is down there, who to call, its alerts and incidents."""
    site = row["site_id"]
    st.header(t("site {id} {name}", id=md(site), name=md(row["name"])))
    members = ui.load(c, queries_ops.site_members, site, minute)
    alerts = ui.load(c, queries_ops.site_alerts, site)
    gws, terms = members[members["type"] == "gateway"], members[members["type"] == "terminal"]
    a, b, u, d = st.columns(4)
    a.metric(t("Gateways down"), of(int((gws["status"] == "down").sum()), len(gws)))
    b.metric(t("Terminals down"), of(int((terms["status"] == "down").sum()), len(terms)))
    # Behind a gateway that is not online the collector cannot see a terminal: not down,
    # not online either.
    u.metric(t("Terminals unknown"), of(int((terms["status"] == "unknown").sum()), len(terms)))
    d.metric(t("Active alerts"), len(alerts))
    # The store's own clock: what the merchant sees on the wall when the NOC calls.
    store_tz = str(row["tz"] or "UTC")
    try:
        store_now = timefmt.local(c.now, timefmt.zone(store_tz))
    except ValueError:
        store_now = t("unknown time zone")
    info = pd.DataFrame(
        [
            (t("address"), row["address"] or ""),
            (t("merchant"), f"{row['merchant_name'] or ''} ({row['merchant_contact'] or ''})"),
            (t("region"), f"{row['region_id']} {row['region_name'] or ''}"),
            (t("technician"), technician(row)),
            (t("time zone"), store_tz),
            (t("store's local time"), store_now),
        ],
        columns=["field", "value"],
    )
    ui.table(info, f"{site}-info")
    st.subheader(t("Gateways and terminals"))
    ui.table(
        members.assign(link=[f"/detail?id={url_param(i)}" for i in members["id"]]),
        f"{site}-members",
        column_config={"link": st.column_config.LinkColumn(t("open"), display_text=r"id=(.*)$")},
    )
    st.subheader(t("Active alerts"))
    ui.table(alerts.assign(summary=alert_text.texts(c, alerts)), f"{site}-alerts")
    st.subheader(t("Incidents (30 days)"))
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
        st.warning(t("{kind} {id} is no longer in the inventory.", kind=value(kind), id=md(sid)))
        return
    _, row, changes = page
    st.header(f"{value(kind)} {md(sid)}")
    status = row["effective_status"]
    a, b, d, e = st.columns(4)
    why = row.get("status_reason")
    if status == "unknown" and kind == "terminal" and row["status"] != "unknown":
        why = t(
            "its gateway {gateway} is not online: the collector cannot see it",
            gateway=row["gateway_id"],
        )
    a.metric(t("Status"), md(value(status)), help=md(why) or None)
    b.metric(t("Since"), md(ui.when(c, row["effective_since"])))
    d.metric(t("Last seen"), md(ui.when(c, row["last_seen_at"]) or t("never")))
    e.metric(t("Firmware"), md(row["firmware_version"] or value("unknown")))
    st.caption(
        t(
            "{status} since {since}; last seen {seen} (times in {zone})",
            status=md(value(status)),
            since=ui.ago(c, row["effective_since"]) or "-",
            seen=ui.ago(c, row["last_seen_at"]) or t("never"),
            zone=timefmt.zone_caption(c.now, c.tz),
        )
    )
    if row["suspended"]:
        st.warning(t("Suspended: {reason}", reason=md(row["suspended_reason"])))
    info = pd.DataFrame(
        [
            (t("model / serial"), f"{row['model']} / {row['serial']}"),
            (t("site"), f"{row['site_id']} {row['site_name'] or ''}, {row['address'] or ''}"),
            (t("merchant"), f"{row['merchant_name'] or ''} ({row['merchant_contact'] or ''})"),
            (t("technician"), technician(row)),
            (
                t("installed / warranty end"),
                f"{day(row['install_date'])} / {day(row['warranty_end'])}",
            ),
            (t("gateway"), row["gateway_id"]),
        ],
        columns=["field", "value"],
    )
    ui.table(info, f"{sid}-info")
    st.subheader(t("Status timeline (30 days)"))
    ui.table(changes, f"{sid}-timeline")
    gw = row["gateway_id"]
    term = sid if kind == "terminal" else ""
    net = ui.load(c, queries_ops.telemetry, gw, term, "network", since)
    hw = ui.load(c, queries_ops.telemetry, gw, term, "hardware", since)
    if len(net) == 0 and len(hw) == 0 and kind == "terminal":
        # Terminal without its own telemetry: show the gateway's link it depends on.
        net = ui.load(c, queries_ops.telemetry, gw, "", "network", since)
        hw = ui.load(c, queries_ops.telemetry, gw, "", "hardware", since)
    st.subheader(t("Telemetry (30 days)"))
    st.caption(t("Time axis in {zone}", zone=timefmt.zone_caption(c.now, c.tz)))
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
            st.caption(t(TELEMETRY_LABELS[field]))
            if len(df) and df[field].notna().any():
                st.line_chart(local_axis(df[field]), height=160, x_label=t("time"), y_label="")
            else:
                st.write(t("no data"))
    st.subheader(t("Incidents"))
    ui.table(ui.load(c, queries_ops.subject_incidents, kind, sid), f"{sid}-incidents")
    st.subheader(t("Maintenance history"))
    ui.table(ui.load(c, queries_ops.services, kind, sid), f"{sid}-services")


body()

st.subheader(t("Actions"))
if ui.need(c, Role.OPERATOR, t("suspend or record a service")):
    left, right = st.columns(2)
    with left, st.form("suspend"):
        reason = st.text_input(
            t("Suspension reason"), value=row["suspended_reason"] or "", key="sus_reason"
        )
        label = t("Unsuspend") if row["suspended"] else t("Suspend")
        if st.form_submit_button(label):
            # Not cleared: the box shows the stored reason (``value``) once the action is done.
            ui.act(c, set_suspended, kind, sid, not row["suspended"], reason, c.now)
    with right, st.form("service_detail"):
        work, parts, cat = ui.service_fields("dsvc")
        if st.form_submit_button(t("Record service")):
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
