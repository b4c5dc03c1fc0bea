"""Shortfall cases (少刷钱): the list, most urgent first, and one case's page: the evidence
(the terminal's batch against the acquirer's settlement, its transaction windows around the
batch close), the store and merchant to call, the call log with the next follow-up, the
cause, and closure with the amount recovered. Every action is audited (collector.actions)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from collector.actions import Role, close_case, log_case_call, set_case_cause
from collector.actions.cases import CAUSES, OUTCOMES, PARTIES
from dashboard import amounts, queries, queries_cases, ui
from dashboard.amounts import money
from dashboard.case_text import (
    CAUSE_TEXT,
    OUTCOME_TEXT,
    PARTY_TEXT,
    audit_step,
    case_columns,
    details_of,
)
from dashboard.i18n import N_, t
from dashboard.text import md
from dashboard.timefmt import local, relative, zone

c = ui.ctx()
st.title(t("Shortfall cases"))
ui.flash()

KIND_TEXT = {
    "mismatch": N_("settled amount differs from the terminal's batch"),
    "missing_on_terminal": N_("settled, but no terminal reported the batch"),
    "missing_in_settlement": N_("the terminal closed the batch, the settlement lacks it"),
}
# A case's status in words: "open" is already the catalog's verb (打开), not a case's state.
STATUS_TEXT = {"open": N_("in progress"), "closed": N_("closed")}
# The transaction window's outcomes, as the evidence table's headers.
OUTCOME_HEADERS = {
    "approved": N_("approved"),
    "declined": N_("declined"),
    "reversed": N_("reversed"),
    "timed_out": N_("timed out"),
    "error": N_("error"),
}
SORT_TEXT = {
    "urgent": N_("overdue follow-ups first, then the largest"),
    "amount": N_("largest amount first"),
    "oldest": N_("oldest first"),
    "newest": N_("newest first"),
}


def case_list() -> None:
    facets: dict[str, list[str]] = ui.load(c, queries_cases.case_facets)
    f1, f2, f3, f4 = st.columns([1, 1, 1, 1])
    with f1:
        status = ui.qp_select(t("Status"), ["open", "closed"], "status", labels=STATUS_TEXT)
    with f2:
        cause = ui.qp_select(
            t("Cause"),
            [queries_cases.NO_CAUSE, *CAUSES],
            "cause",
            labels={queries_cases.NO_CAUSE: N_("not known yet"), **CAUSE_TEXT},
        )
    with f3:
        region = ui.qp_select(t("Region"), facets["region_id"], "region")
    with f4:
        sort = ui.qp_select(
            t("Order"),
            list(queries_cases.SORTS[1:]),
            "sort",
            all_label=t(SORT_TEXT["urgent"]),
            labels=SORT_TEXT,
        )
    s1, s2 = st.columns([3, 1])
    with s1:
        search = st.text_input(
            t("Search case number, terminal, batch, merchant or store"),
            value=st.query_params.get("q", ""),
            key="cases_q",
        )
        if search != st.query_params.get("q", ""):
            st.query_params["q"] = search
    with s2:
        overdue = st.checkbox(
            t("Only overdue follow-ups"),
            value=st.query_params.get("overdue", "") == "1",
            key="cases_overdue",
        )
        if overdue:
            st.query_params["overdue"] = "1"
        elif "overdue" in st.query_params:
            del st.query_params["overdue"]
    size = c.settings.dashboard_page_size
    minute = c.now.replace(second=0, microsecond=0)
    order = sort or "urgent"
    _, total, _ = ui.load(
        c, queries_cases.cases, status, region, search, minute, 1, 0,
        cause=cause, overdue=overdue, sort=order,
    )  # fmt: skip
    offset = ui.pager(total, size, "cases")
    df: pd.DataFrame
    df, total, overdue_n = ui.load(
        c, queries_cases.cases, status, region, search, minute, size, offset,
        cause=cause, overdue=overdue, sort=order,
    )  # fmt: skip
    open_df = df[df["status"] == "open"]
    m1, m2, m3 = st.columns(3)
    m1.metric(t("Cases shown"), total)
    m2.metric(t("Follow-up overdue"), overdue_n)
    short = open_df[(open_df["kind"] == "mismatch") & (open_df["difference"] > 0)]
    by_currency = short.groupby("currency")["difference"].sum()
    m3.metric(
        t("Merchants short (open, this page)"),
        " · ".join(money(v, str(k)) for k, v in by_currency.items()) or "—",
    )
    if df.empty:
        st.info(t("No shortfall case matches."))
        return
    tz = zone(c.tz)
    rows = []
    for r in df.itertuples():
        due = ""
        if r.status == "open" and r.follow_up_due is not None:
            due = f"{local(r.follow_up_due, tz)} ({relative(r.follow_up_due, c.now, c.lang)})"
            if r.overdue:
                due = "⚠ " + due
        rows.append(
            {
                "case": f"/cases?case={r.id}",
                "status": t(STATUS_TEXT.get(str(r.status), str(r.status))),
                "what": t(KIND_TEXT.get(str(r.kind), str(r.kind))),
                "business_date": r.business_date,
                "store": f"{r.site_name or r.site_id}",
                "merchant": f"{r.merchant_name or r.merchant_id} {r.merchant_contact}".strip(),
                "terminal": r.terminal_id,
                "short": money(r.difference, str(r.currency)),
                "cause": t(CAUSE_TEXT.get(str(r.cause), str(r.cause))),
                "follow_up": due,
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        use_container_width=True,
        column_config={
            **case_columns(),
            "status": st.column_config.TextColumn(t("status"), width="small"),
            "what": t("what"),
            "business_date": t("business day"),
            "cause": t("cause"),
            "follow_up": t("next follow-up ({zone})", zone=c.tz),
        },
    )


def case_page(case_id: int) -> None:
    detail = ui.load(c, queries_cases.case_detail, case_id)
    if detail is None:
        st.error(t("Shortfall case {id} does not exist.", id=case_id))
        return
    case = detail["case"]
    # What this operator last read of the case: their form acts on that, or is refused.
    seen_key = f"case_seen_{case_id}"
    seen, seen_status = st.session_state.get(seen_key) or (str(case["updated_at"]), "")
    st.session_state[seen_key] = (str(case["updated_at"]), str(case["status"]))
    tz = zone(c.tz)
    store_tz = zone(str(case["site_tz"]))
    cur = str(case["currency"])
    st.subheader(
        t("Case {id}: {what}", id=case_id, what=t(KIND_TEXT.get(case["kind"], case["kind"])))
    )
    st.link_button(t("All cases"), "/cases")
    a, b, d = st.columns(3)
    a.metric(t("Difference (terminal - settled)"), money(case["difference"], cur))
    b.metric(t("Status"), t(STATUS_TEXT.get(case["status"], case["status"])))
    d.metric(t("Cause"), t(CAUSE_TEXT.get(case["cause"], case["cause"])))
    st.markdown(
        "  \n".join(
            [
                f"**{t('Store')}**: {md(case['site_name'] or case['site_id'])} "
                f"({md(case['site_id'])}, {md(case['region_id'])}) {md(case['site_address'])}",
                f"**{t('Merchant')}**: {md(case['merchant_name'] or case['merchant_id'])} "
                f"({t('merchant id')} {md(case['merchant_id'])}) — "
                f"**{t('phone')}** {md(case['merchant_contact'] or '—')}",
                f"**{t('Terminal')}**: {md(case['terminal_id'])} · **{t('Batch')}** "
                f"{md(case['batch_id'])} · **{t('Business day')}** {md(case['business_date'])}",
                f"**{t('Opened')}**: {local(case['opened_at'], tz)} {md(c.tz)} "
                f"({relative(case['opened_at'], c.now, c.lang)})",
            ]
        )
    )
    st.subheader(t("Evidence"))
    closed_at = case["closed_at_terminal"]
    # The settlement's figure in its own currency (the case's amounts are the terminal's).
    settled_cur = str(case["settlement_currency"] or cur)
    settled = case["settled_amount"]
    if case["settlement_amount"] is not None:
        settled = case["settlement_amount"]
    if settled_cur != cur:
        st.warning(
            t(
                "The acquirer settled this batch in {settled_currency} ({settled}), the "
                "terminal's batch is in {currency} ({amount}): the currencies differ, so the "
                "two amounts cannot be subtracted and the whole batch counts as short. Ask the "
                "acquirer why it settled in another currency.",
                settled_currency=settled_cur,
                settled=money(settled, settled_cur),
                currency=cur,
                amount=money(case["terminal_amount"], cur),
            )
        )
    evidence = pd.DataFrame(
        [
            {
                "side": t("terminal's batch"),
                "count": case["terminal_count"],
                "amount": money(case["terminal_amount"], cur),
                "when": (
                    local(closed_at, store_tz) + " " + t("store time ({zone})", zone=store_tz.key)
                    if closed_at
                    else "—"
                ),
            },
            {
                "side": t("acquirer's settlement"),
                "count": case["settled_count"],
                "amount": money(settled, settled_cur),
                "when": str(case["business_date"]),
            },
        ]
    )
    st.dataframe(
        evidence,
        hide_index=True,
        column_config={
            "side": t("side"),
            "count": t("transactions"),
            "amount": t("amount"),
            "when": t("closed / business day"),
        },
    )
    windows: pd.DataFrame = detail["windows"]
    if windows.empty:
        st.caption(t("No transaction window of the terminal around the batch close."))
    else:
        st.caption(
            t(
                "The terminal's transaction windows around the batch close (store time, {zone})",
                zone=store_tz.key,
            )
        )
        shown = windows.assign(
            window_start=[local(v, store_tz) for v in windows["window_start"]],
            window_end=[local(v, store_tz) for v in windows["window_end"]],
            approved_amount=[money(v, cur) for v in windows["approved_amount"]],
            refunded_amount=[money(v, cur) for v in windows["refunded_amount"]],
        ).drop(columns=["currency"])
        st.dataframe(
            shown,
            hide_index=True,
            column_config={
                "window_start": t("window start"),
                "window_end": t("window end"),
                **{k: t(v) for k, v in OUTCOME_HEADERS.items()},
                "approved_amount": t("approved amount"),
                "refunded_amount": t("refunded amount"),
            },
        )
    st.subheader(t("Call log"))
    calls: pd.DataFrame = detail["calls"]
    if calls.empty:
        st.write(t("No call logged yet."))
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "at": [local(v, tz) for v in calls["at"]],
                    "caller": calls["caller"],
                    "party": [t(PARTY_TEXT.get(p, p)) for p in calls["party"]],
                    "outcome": [t(OUTCOME_TEXT.get(o, o)) for o in calls["outcome"]],
                    "note": calls["note"],
                    "next": [local(v, tz) for v in calls["next_follow_up"]],
                }
            ),
            hide_index=True,
            column_config={
                "at": t("when ({zone})", zone=c.tz),
                "caller": t("who called"),
                "party": t("called"),
                "outcome": t("outcome"),
                "note": t("note"),
                "next": t("next follow-up ({zone})", zone=c.tz),
            },
        )
    audit_trail(case, detail["audit"])
    if case["status"] == "open":
        due = case["follow_up_due"]
        if due:
            text = t(
                "Next follow-up: {at} {zone} ({rel})",
                at=local(due, tz),
                zone=c.tz,
                rel=relative(due, c.now, c.lang),
            )
            if str(due) < c.now.isoformat():
                st.warning("⚠ " + text)
            else:
                st.info(text)
        work(case_id, case, seen)
    else:
        if seen_status == "open" and (c.actor is None or case["closed_by"] != c.actor.name):
            # Closed under this operator's eyes (a form they were filling is gone with it).
            st.warning(
                t(
                    "Case {id} was closed by {who} at {at}: nothing more to do on it.",
                    id=case_id,
                    who=case["closed_by"] or "",
                    at=local(case["closed_at"], tz),
                )
            )
        st.success(
            t(
                "Closed by {who} at {at} {zone}: {how}; recovered {amount}.",
                who=case["closed_by"] or "",
                at=local(case["closed_at"], tz),
                zone=c.tz,
                how=case["resolution"],
                amount=money(case["recovered_amount"], cur),
            )
        )


def audit_trail(case: dict[str, Any], audit: pd.DataFrame) -> None:
    """Who did what to the case and when: its opening, then every audited step."""
    tz = zone(c.tz)
    cur = str(case["currency"])
    rows = [
        {
            "at": local(case["opened_at"], tz),
            "who": case["imported_by"] or "reconcile",
            "what": t("opened from the settlement file {name}", name=case["import_name"]),
        }
    ]
    for r in audit.itertuples():
        rows.append(
            {
                "at": local(r.at, tz),
                "who": r.actor,
                "what": audit_step(str(r.action), details_of(r.details), cur, tz),
            }
        )
    if case["status"] == "closed" and case["closed_by"] == "reconcile":
        rows.append(
            {
                "at": local(case["closed_at"], tz),
                "who": "reconcile",
                "what": t("closed by a settlement that matched the terminal's batch"),
            }
        )
    st.subheader(t("Audit trail"))
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        use_container_width=True,
        column_config={
            "at": t("when ({zone})", zone=c.tz),
            "who": t("who"),
            "what": st.column_config.TextColumn(t("what was done"), width="large"),
        },
    )


def refused(case_id: int, seen: str) -> str:
    """Why the case cannot be worked from what this operator read (in their language), or
    '': closed meanwhile, or changed by someone else since the page was drawn. Read fresh,
    not from the cache."""
    with queries.open_ro(c.db) as conn:
        now_state = queries_cases.case_state(conn, case_id)
    if now_state is None:
        return t("Shortfall case {id} does not exist.", id=case_id)
    if now_state["status"] != "open":
        return t(
            "Case {id} was closed by {who} at {at}: nothing more to do on it.",
            id=case_id,
            who=now_state["closed_by"] or "",
            at=local(now_state["closed_at"], zone(c.tz)),
        )
    if now_state["updated_at"] != seen:
        return t(
            "Case {id} was changed by {who} at {at} after you opened it: check it below, "
            "then try again.",
            id=case_id,
            who=now_state["last_actor"] or "—",
            at=local(now_state["updated_at"], zone(c.tz)),
        )
    return ""


def work(case_id: int, case: dict[str, object], seen: str) -> None:
    if not ui.need(c, Role.OPERATOR, t("work shortfall cases")):
        return
    assert c.actor is not None
    tz = zone(c.tz)
    cur = str(case["currency"])
    left, right = st.columns(2)
    with left, st.form("case_call"):
        st.markdown(f"**{t('Log a call')}**")
        caller = st.text_input(t("Who called"), value=c.actor.name, key="call_caller")
        party = st.selectbox(
            t("Called"), list(PARTIES), format_func=lambda p: t(PARTY_TEXT[p]), key="call_party"
        )
        outcome = st.selectbox(
            t("Outcome"),
            list(OUTCOMES),
            format_func=lambda o: t(OUTCOME_TEXT[o]),
            key="call_outcome",
        )
        note = st.text_area(t("What was said"), key="call_note")
        tomorrow = (c.now.astimezone(tz) + timedelta(days=1)).date()
        day = st.date_input(
            t("Next follow-up, day ({zone})", zone=c.tz), value=tomorrow, key="call_day"
        )
        at = st.time_input(
            t("Next follow-up, time ({zone})", zone=c.tz), value=time(10, 0), key="call_time"
        )
        if st.form_submit_button(t("Log the call")):
            follow = datetime.combine(day, at, tzinfo=tz)
            if not caller.strip():
                st.error(t("Say who called."))
            elif follow <= c.now:
                st.error(
                    t(
                        "The next follow-up {time} is in the past: pick a later time.",
                        time=follow.strftime("%Y-%m-%d %H:%M"),
                    )
                )
            elif why := refused(case_id, str(case["updated_at"])):
                st.error(why)  # closed meanwhile: a call is added to what is there, not refused
            else:
                ui.act_and_clear(
                    c,
                    ["call_note"],
                    log_case_call,
                    case_id,
                    party=party,
                    outcome=outcome,
                    note=note,
                    next_follow_up=follow,
                    now=c.now,
                    caller=caller.strip(),
                )
    with right:
        with st.form("case_cause"):
            cause = st.selectbox(
                t("Cause"),
                list(CAUSES),
                format_func=lambda k: t(CAUSE_TEXT[k]),
                key="case_cause",
            )
            if st.form_submit_button(t("Set the cause")):
                if why := refused(case_id, seen):
                    st.error(why)
                else:
                    ui.act(c, set_case_cause, case_id, cause, c.now, seen=seen)
        with st.form("case_close"):
            resolution = st.text_input(t("How it was resolved"), key="close_resolution")
            typed = st.text_input(
                t("Amount recovered ({currency}, e.g. 123.45)", currency=cur),
                key="close_recovered",
            )
            sure = st.checkbox(t("Yes, close this case"), key="close_sure")
            if st.form_submit_button(t("Close the case")):
                recovered = amounts.parse(typed, cur)
                limit = abs(int(str(case["difference"])))
                if not resolution.strip():
                    st.error(t("Say how the case was resolved before closing it."))
                elif isinstance(recovered, amounts.Refused):
                    st.error(t(recovered.msgid, **recovered.fields))
                elif recovered > limit:
                    st.error(
                        t(
                            "The amount recovered ({amount}) is more than the case's "
                            "difference ({limit}).",
                            amount=money(recovered, cur),
                            limit=money(limit, cur),
                        )
                    )
                elif not sure:
                    st.error(t("Tick the box to confirm closing the case."))
                elif why := refused(case_id, seen):
                    st.error(why)
                else:
                    ui.act(
                        c,
                        close_case,
                        case_id,
                        resolution=resolution,
                        recovered_amount=recovered,
                        now=c.now,
                        seen=seen,
                    )


selected = st.query_params.get("case", "")
if selected.isdigit():
    case_page(int(selected))
else:
    case_list()
