"""Alerts: firing and acknowledged, filtered from the URL, acknowledge with a note; below
them, apart, maintenance due and shortfall cases whose follow-up is overdue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from collector.actions import Role, acknowledge_alert
from dashboard import alert_text, queries, queries_cases, queries_policies, ui
from dashboard.amounts import money
from dashboard.case_text import case_columns
from dashboard.i18n import t, value
from dashboard.settings import now_from
from dashboard.timefmt import duration, local

c = ui.ctx()
st.title(t("Alerts"))
ui.flash()


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    facets: dict[str, list[str]] = ui.load(c, queries.alert_facets)
    f1, f2, f3, f4 = st.columns(4)
    with f1:
        region = ui.qp_select(t("Region"), facets["region_id"], "region")
    with f2:
        severity = ui.qp_select(t("Severity"), facets["severity"], "severity")
    with f3:
        kind = ui.qp_select(t("Kind"), facets["kind"], "kind")
    with f4:
        ack = ui.qp_select(t("Acknowledged"), ["unacked", "acked"], "ack")
    size = c.settings.dashboard_page_size
    _, total = ui.load(c, queries.alerts, region, severity, kind, ack or "all", 1, 0)
    offset = ui.pager(total, size, "alerts")
    df: pd.DataFrame
    df, total = ui.load(c, queries.alerts, region, severity, kind, ack or "all", size, offset)
    st.caption(
        t(
            "{total} active alerts match; showing {shown} from #{first}",
            total=total,
            shown=len(df),
            first=offset + 1,
        )
    )
    df = df.assign(
        # The stored summary is English with UTC times: said again in the viewer's terms.
        summary=alert_text.texts(c, df),
        link=[ui.subject_link(k, s) for k, s in zip(df.subject_type, df.subject_id, strict=True)],
    )
    ui.table(
        df,
        "alerts",
        export=ui.all_rows(c, queries.alerts, region, severity, kind, ack or "all"),
        column_config={
            "link": st.column_config.LinkColumn(t("subject"), display_text=r"=(.*)$"),
            "escalation": st.column_config.NumberColumn(t("escalation"), format="L%d"),
        },
    )
    st.subheader(t("Acknowledge"))
    if not ui.need(c, Role.OPERATOR, t("acknowledge alerts")):
        return
    open_ids = [int(i) for i in df.loc[df["acked_at"].isna(), "id"]]
    if not open_ids:
        st.write(t("Nothing unacknowledged on this page."))
        return
    with st.form("ack"):
        # Its subject and summary: an id alone says nothing to whoever picks it.
        labels = {
            int(
                r.id
            ): f"#{r.id} {value(r.subject_type)} {r.subject_id}: {r.summary or value(r.kind)}"
            for r in df.itertuples()
        }
        alert_id = st.selectbox(t("Alert"), open_ids, format_func=lambda i: labels[i])
        note = st.text_input(t("Note (who is on it, what is known)"), key="ack_note")
        if st.form_submit_button(t("Acknowledge")):
            ui.act_and_clear(c, ("ack_note",), acknowledge_alert, int(alert_id), note, c.now)


body()


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def maintenance_due() -> None:
    """Planning work apart from the outages above: its own count, never paged."""
    st.subheader(t("Maintenance due"))
    region = st.query_params.get("region", "")
    by_region: pd.DataFrame
    by_region, total = ui.load(c, queries_policies.maintenance_due_alerts, region)
    st.metric(t("Maintenance overdue (not paged)"), total)
    st.caption(
        t(
            "Overdue maintenance is planning work: listed here and on the Maintenance page, "
            "routed to the planning queue, never paged nor escalated."
        )
    )
    if total:
        ui.table(by_region, "maintenance-due-by-region")
    st.page_link("views/maintenance.py", label=t("Open the Maintenance page"))


maintenance_due()


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def follow_ups_overdue() -> None:
    """Shortfall cases past their follow-up: what PosfleetShortfallFollowUpOverdue pages in
    Prometheus, read from the cases themselves (the case list's overdue filter), so the
    console shows the cases, not a count, and needs no alert of the collector's own."""
    st.subheader(t("Shortfall follow-ups overdue"))
    region = st.query_params.get("region", "")
    now = now_from(c.settings).replace(second=0, microsecond=0)
    size = c.settings.dashboard_page_size
    df: pd.DataFrame
    df, total, _ = ui.load(c, queries_cases.cases, "open", region, "", now, size, 0, overdue=True)
    st.metric(t("Shortfall cases past their follow-up"), total)
    st.caption(
        t(
            "A merchant is waiting for money nobody has called back about. Logging a call with "
            "the next follow-up on the case clears it here; Prometheus pages the NOC desk after "
            "10 minutes (PosfleetShortfallFollowUpOverdue)."
        )
    )
    if total:
        rows = [
            {
                "case": f"/cases?case={r.id}",
                "merchant": f"{r.merchant_name or r.merchant_id} {r.merchant_contact}".strip(),
                "store": f"{r.site_name or r.site_id}",
                "terminal": r.terminal_id,
                "short": money(r.difference, str(r.currency)),
                "due": local(r.follow_up_due, c.zone),
                "overdue_by": duration(r.follow_up_due, now, c.lang),
            }
            for r in df.itertuples()
        ]
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            use_container_width=True,
            column_config={
                **case_columns(),
                "due": t("follow-up due ({zone})", zone=c.tz),
                "overdue_by": t("overdue by"),
            },
        )
    link = "/cases?status=open&overdue=1" + (f"&region={region}" if region else "")
    st.link_button(t("Open the overdue cases"), link)


follow_ups_overdue()
