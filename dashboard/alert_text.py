"""An alert's text in the viewer's language and zone, composed from its stored fields.

The collector stores a summary in English with UTC times (for chat and the logs); the
console says the same from ``kind``, subject, place, ``started_at`` and ``details``
through ``t()``, and falls back to the stored summary for a kind it does not know."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from dashboard import queries, timefmt, ui
from dashboard.i18n import LIST_SEPARATOR, N_, current_lang, t, value


def _details(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        got = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def _place(site_id: str, site_name: str, region_id: str) -> str:
    store = f"{site_name} ({site_id})" if site_name and site_id else site_id
    if store and region_id:
        return t("store {store}, {region}", store=store, region=region_id)
    if store:
        return t("store {store}", store=store)
    return region_id


def compose(alert: Mapping[str, Any], zone: ZoneInfo) -> str:
    """``alert``: an ``alerts`` row (kind, subject_type, subject_id, site_id, region_id,
    gateway_id, started_at, details, summary) and ``site_name``."""
    kind = str(alert.get("kind") or "")
    subject = value(alert.get("subject_type"))
    sid = str(alert.get("subject_id") or "")
    place = _place(
        str(alert.get("site_id") or ""),
        str(alert.get("site_name") or ""),
        str(alert.get("region_id") or ""),
    )
    since = timefmt.local(alert.get("started_at"), zone)
    details = _details(alert.get("details"))
    how = value(details.get("detected_by")) if details.get("detected_by") else ""
    if kind == "gateway_down":
        text = t("Gateway {id} ({place}) down since {since}", id=sid, place=place, since=since)
        return t("{text} ({how})", text=text, how=how) if how else text
    if kind == "terminal_down":
        text = t(
            "Terminal {id} behind gateway {gateway} ({place}) down since {since}",
            id=sid,
            gateway=str(alert.get("gateway_id") or ""),
            place=place,
            since=since,
        )
        return t("{text} ({how})", text=text, how=how) if how else text
    if kind == "site_down":
        return t("{place}: all gateways down since {since}", place=place, since=since)
    if kind == "flapping":
        return t(
            "{subject} {id} ({place}) flapping: going down and up again and again since {since}",
            subject=subject,
            id=sid,
            place=place,
            since=since,
        )
    if kind == "firmware_non_compliant" and details.get("version") is not None:
        return t(
            "{subject} {id} ({place}) firmware {version} is not compliant (since {since})",
            subject=subject,
            id=sid,
            place=place,
            version=str(details["version"]),
            since=since,
        )
    if kind == "terminal_silent" and details.get("last_txn_at"):
        return t(
            "{subject} {id} ({place}) is online but has taken no transaction since {last} "
            "({expected} expected since, usually {usual} an hour now)",
            subject=subject,
            id=sid,
            place=place,
            last=timefmt.local(details["last_txn_at"], zone),
            expected=f"{float(details.get('expected') or 0):.0f}",
            usual=f"{float(details.get('usual_per_hour') or 0):.0f}",
        )
    if kind == "txn_failure_spike" and details.get("categories"):
        what = LIST_SEPARATOR[current_lang()].join(
            t(SPIKE_CATEGORIES.get(str(cat), str(cat))) for cat in details["categories"]
        )
        return t(
            "{place}: sales failing since {since}: {what} ({attempted} attempts in the window)",
            place=place,
            since=since,
            what=what,
            attempted=details.get("attempted", ""),
        )
    return str(alert.get("summary") or value(kind))


# The failure categories of a store's spike (collector.alerts.spikes.CATEGORIES).
SPIKE_CATEGORIES = {
    "issuer_unavailable": N_("issuer or network declines"),
    "timed_out": N_("time-outs"),
    "reversed": N_("reversals"),
}


def texts(c: ui.Ctx, df: pd.DataFrame) -> list[str]:
    """``compose`` for every row of a frame of alerts (``queries.alerts`` columns), in the
    viewer's language and zone."""
    if not len(df):
        return []
    ids = tuple(int(i) for i in df["id"])
    extra: pd.DataFrame = ui.load(c, queries.alert_context, ids).set_index("id")
    out = []
    for row in df.to_dict("records"):
        more = extra.loc[int(row["id"])].to_dict() if int(row["id"]) in extra.index else {}
        out.append(compose({**row, **more}, c.zone))
    return out
