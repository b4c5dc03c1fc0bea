"""What a shortfall case's work is called in the viewer's language: the parties called, the
calls' outcomes, the causes, each audited step said in words (the case page's audit trail
and the Audit log page), and the headers of the columns every table of cases shows. Values are
stored as ids (``duplicated_refund``) and never shown as such."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from dashboard.action_text import ACTION_NAMES
from dashboard.amounts import money
from dashboard.i18n import N_, t
from dashboard.timefmt import local

PARTY_TEXT = {
    "merchant": N_("merchant"),
    "acquirer": N_("acquirer"),
    "store": N_("store"),
    "technician": N_("technician"),
    "other": N_("other"),
}
OUTCOME_TEXT = {
    "reached": N_("reached"),
    "no_answer": N_("no answer"),
    "promised_callback": N_("promised a callback"),
    "resolved": N_("resolved"),
    "escalated": N_("escalated"),
}
CAUSE_TEXT = {
    "": N_("not known yet"),
    "operator_error": N_("operator error"),
    "duplicated_refund": N_("duplicated refund"),
    "system_fault": N_("system fault"),
    "settlement_pending": N_("settlement pending"),
    "other": N_("other"),
}


def case_columns() -> dict[str, Any]:
    """The columns a table of shortfall cases shows alike wherever it stands (the case list,
    the Alerts page's overdue follow-ups): the link to the case, the merchant to call, the
    store, the terminal and the difference. A table adds its own columns to these."""
    return {
        "case": st.column_config.LinkColumn(t("case"), display_text=r"case=(\d+)$", width="small"),
        "merchant": t("merchant and phone"),
        "store": t("store"),
        "terminal": t("terminal"),
        "short": t("difference (terminal - settled)"),
    }


def details_of(raw: object) -> dict[str, Any]:
    try:
        got = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def _when(raw: object, tz: Any) -> str:
    try:
        return local(str(raw), tz) if raw else ""
    except ValueError:  # a time stored by hand or by an older release: shown as it is
        return str(raw)


def audit_step(action: str, details: dict[str, Any], currency: str, tz: Any) -> str:
    """One audited step in the viewer's words: a case's with what was done, any other
    action by its name (never the stored action id where the console knows it)."""
    if action == "case.call":
        text = t(
            "logged a call: {caller} called the {party}, {outcome}",
            caller=details.get("caller", ""),
            party=t(PARTY_TEXT.get(str(details.get("party")), str(details.get("party")))),
            outcome=t(OUTCOME_TEXT.get(str(details.get("outcome")), str(details.get("outcome")))),
        )
        follow = _when(details.get("next_follow_up"), tz)
        return t("{text}; next follow-up {at}", text=text, at=follow) if follow else text
    if action == "case.cause":
        cause = str(details.get("cause", ""))
        return t("set the cause: {cause}", cause=t(CAUSE_TEXT.get(cause, cause)))
    if action == "case.close":
        return t(
            "closed the case: {how}; recovered {amount}",
            how=details.get("resolution", ""),
            amount=money(details.get("recovered_amount"), currency),
        )
    return t(ACTION_NAMES[action]) if action in ACTION_NAMES else action
