"""Morning check: what is down now on one screen (1600 px, no sideways scrolling), most
urgent first (``dashboard.queries_morning``), with the down counts in colour; select rows to
acknowledge them or snooze them until a time, each alert audited."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from collector.actions import Role, acknowledge_alerts, snooze_alerts
from dashboard import queries, queries_morning, timefmt, ui
from dashboard.i18n import N_, t, value
from dashboard.settings import now_from
from dashboard.text import html

TABLE_KEY = "morning_rows"
GENERATION = "morning_generation"  # a new table (no selection) after each action
SHOWN_KEY = "morning_shown"  # the rows a selection was made on (see ``body``)
NOTE_KEY = "morning_note"
SNOOZE_DAY, SNOOZE_TIME = "snooze_day", "snooze_time"  # seeded from the clock once

# This page only: a narrow frame so nine columns fit beside the sidebar at 1600 px.
CSS = """<style>
.block-container { padding-left: 1.5rem !important; padding-right: 1.5rem !important;
  max-width: 100% !important; }
.mc-tiles { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 0.2rem 0 0.6rem 0; }
.mc-tile { border-radius: 0.4rem; color: #fff; padding: 0.3rem 0.9rem; min-width: 8rem; }
a.mc-tile, a.mc-tile:hover { color: #fff; text-decoration: none; }
.mc-n { font-size: 1.9rem; font-weight: 800; line-height: 1.1; }
.mc-l { font-size: 0.85rem; }
</style>"""

# (count key, label, colour status): red when something is down, else green.
TILES = (
    ("stores_down", N_("Stores down"), "down"),
    ("gateways_down", N_("Gateways down"), "down"),
    ("terminals_down", N_("Terminals down"), "down"),
    ("terminals_unknown", N_("Terminals unknown"), "unknown"),
    ("gateways_late", N_("Gateways late"), "late"),
    ("paging", N_("Paging, nobody on it"), "down"),
)
# The money (issue #16), under them: terminals online but taking no payment, stores whose
# sales fail at the issuer or time out, shortfall cases nobody followed up in time. Each
# tile opens the list behind it; red (orange for the follow-ups) when there is any.
MONEY_TILES = (
    ("terminals_silent", N_("Terminals online, no sales"), "down", "/alerts?kind=terminal_silent"),
    ("txn_spikes", N_("Stores with failing sales"), "down", "/alerts?kind=txn_failure_spike"),
    ("cases_overdue", N_("Shortfall follow-ups overdue"), "late", "/cases?overdue=1"),
)

# Shown columns and their widths (px): nine columns and the row selector fit 1,200 px, what
# is left beside the sidebar at 1600 px; long cells wrap on up to three lines.
WIDTHS = {
    "what": 150, "store": 150, "merchant": 120, "phone": 115, "since": 115, "cause": 150,
    "recovery": 105, "ack": 110, "hold": 135,
}  # fmt: skip
HEADERS = {
    "what": N_("outage"), "store": N_("store"), "merchant": N_("merchant"),
    "phone": N_("phone"), "since": N_("down for · since"), "cause": N_("cause class"),
    "recovery": N_("expected recovery"), "ack": N_("acknowledged"),
    "hold": N_("snooze · suspension"),
}  # fmt: skip

ROW_H = 76  # px: four lines of wrapped text

c = ui.ctx()
st.html(CSS)
st.title(t("Morning check"))
ui.flash()


def _short(at: Any, now: datetime) -> str:
    """A local time, with the day when it is not today."""
    when = timefmt.parse(at)
    if when is None:
        return ""
    here, then = now.astimezone(c.zone), when.astimezone(c.zone)
    return f"{then:%H:%M}" if then.date() == here.date() else f"{then:%m-%d %H:%M}"


def _what(r: Any) -> str:
    if r.scope == "site":
        return t("Store down ({n}/{total} gateways)", n=r.down_n, total=r.of_n)
    return f"{value(r.scope)} {r.subject_id}"


def _cause(r: Any) -> str:
    if not r["class"]:
        return ""
    parts = [value(r["class"])]
    if r["class"] == "fault" and r.fault_category not in ("", "unknown"):
        parts.append(value(r.fault_category))
    text = " · ".join(parts)
    return f"{text}: {r.cause}" if r.cause else text


def _hold(r: Any, now: datetime) -> str:
    parts = []
    if r.snoozed_until:
        parts.append(
            t("snoozed until {time} ({who})", time=_short(r.snoozed_until, now), who=r.snoozed_by)
        )
    if r.suspended_in_store:
        parts.append(t("{n} suspended in store", n=int(r.suspended_in_store)))
    return "; ".join(parts)


def shown(df: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The rows as the viewer reads them: language, zone, no wide raw ids."""
    out = pd.DataFrame(
        {
            "what": [_what(r) for r in df.itertuples(index=False)],
            "store": [f"{s} {n}".strip() for s, n in zip(df.site_id, df.site_name, strict=True)],
            "merchant": df.merchant_name,
            "phone": df.merchant_contact,
            "since": [
                f"{timefmt.duration(s, now, c.lang)} · {_short(s, now)}" if s else t("never seen")
                for s in df.since
            ],
            "cause": [_cause(r) for _, r in df.iterrows()],
            "recovery": [_short(x, now) for x in df.expected_recovery_at],
            "ack": [
                f"{by} · {_short(at, now)}" if by else ""
                for by, at in zip(df.acked_by, df.acked_at, strict=True)
            ],
            "hold": [_hold(r, now) for r in df.itertuples(index=False)],
        }
    )
    return out


def _tile(figures: dict[str, int], key: str, label: str, status: str, href: str = "") -> str:
    n = figures.get(key, 0)
    colour = queries.STATUS_COLOURS[status if n else "online"]
    body = f'<div class="mc-n">{n:,}</div><div class="mc-l">{html(t(label))}</div>'
    if href:
        return (
            f'<a class="mc-tile" href="{html(href)}" target="_self" data-count="{key}" '
            f'style="background:{colour}">{body}</a>'
        )
    return f'<div class="mc-tile" data-count="{key}" style="background:{colour}">{body}</div>'


def _tiles(figures: dict[str, int]) -> str:
    down = "".join(_tile(figures, *spec) for spec in TILES)
    money = "".join(_tile(figures, *spec) for spec in MONEY_TILES)
    return f'<div class="mc-tiles">{down}</div><div class="mc-tiles">{money}</div>'


def _key() -> str:
    return f"{TABLE_KEY}_{st.session_state.get(GENERATION, 0)}"


def _selected(df: pd.DataFrame) -> pd.DataFrame:
    state = st.session_state.get(_key())
    rows = list(state["selection"]["rows"]) if state else []
    return df.iloc[[i for i in rows if i < len(df)]]


def _ids(rows: pd.DataFrame) -> list[int]:
    return [int(i) for ids in rows["alert_ids"] for i in str(ids).split(",") if i]


def _run(df: pd.DataFrame, act: Any, *args: Any) -> None:
    """An action (``ui.act``: reruns when it is done); done, the next run shows fresh rows
    in a new table without the old selection; refused, the selection stays as it was."""
    generation = st.session_state.get(GENERATION, 0)
    st.session_state.pop(SHOWN_KEY, None)
    st.session_state[GENERATION] = generation + 1
    if not act(*args):
        st.session_state[GENERATION] = generation
        st.session_state[SHOWN_KEY] = df


@st.fragment(run_every=c.settings.dashboard_refresh_s)
def body() -> None:
    now = now_from(c.settings)
    minute = now.replace(second=0, microsecond=0)
    # While rows are selected, the selection points at the rows it was made on: a refresh
    # that reordered them would acknowledge the wrong outage. Those rows stay until the
    # action or until the selection is cleared; the counts stay live.
    held = st.session_state.get(SHOWN_KEY)
    state = st.session_state.get(_key())
    if held is not None and state and state["selection"]["rows"]:
        df: pd.DataFrame = held
    else:
        df = ui.load(c, queries_morning.down_now, minute)
        st.session_state[SHOWN_KEY] = df
    figures: dict[str, int] = dict(ui.load(c, queries_morning.counts, minute))
    figures["paging"] = int((df["attention"] == "paging").sum()) if len(df) else 0
    st.html(_tiles(figures))
    st.caption(
        t(
            "As of {time} ({zone}). Most urgent first: paging and nobody on it, then not "
            "paged yet, then acknowledged, then snoozed; stores before gateways before "
            "terminals; longest down first.",
            time=ui.when(c, now),
            zone=timefmt.zone_caption(now, c.tz),
        )
    )
    if len(df) == 0:
        st.success(t("Nothing is down."))
        return
    table = shown(df, now)
    config = {
        col: st.column_config.TextColumn(t(HEADERS[col]), width=WIDTHS[col]) for col in WIDTHS
    }
    st.dataframe(
        table,
        hide_index=True,
        column_config=config,
        on_select="rerun",
        selection_mode="multi-row",
        key=_key(),
        row_height=ROW_H,  # above 4rem: Streamlit lets cells wrap
        height=min(ROW_H * len(table) + 40, 600),
    )
    if len(df) >= queries_morning.ROWS_MAX:
        st.caption(t("The first {n} rows: filter on the Alerts page for the rest.", n=len(df)))
    _actions(df, now)


def _actions(df: pd.DataFrame, now: datetime) -> None:
    if not ui.need(c, Role.OPERATOR, t("acknowledge and snooze alerts")):
        return
    picked = _selected(df)
    ids = _ids(picked)
    if len(picked) == 0:
        st.caption(t("Select rows (left edge of the table) to acknowledge or snooze them."))
        return
    st.write(t("{n} rows selected ({alerts} alerts).", n=len(picked), alerts=len(ids)))
    left, right = st.columns(2)
    with left, st.form("morning_ack"):
        note = st.text_input(t("Note (who is on it, what is known)"), key=NOTE_KEY)
        if st.form_submit_button(t("Acknowledge selected")):
            _run(df, ui.act_and_clear, c, (NOTE_KEY,), acknowledge_alerts, ids, note,
                 now_from(c.settings))  # fmt: skip
    with right, st.form("morning_snooze"):
        # Keyed, seeded once: a default computed from the clock would change the widgets'
        # identity at each new minute, and the page's refresh would then wipe a time being
        # typed (the browser test caught a snooze stored at the default, not the time typed).
        start = (now + timedelta(hours=1)).astimezone(c.zone)
        st.session_state.setdefault(SNOOZE_DAY, start.date())
        st.session_state.setdefault(SNOOZE_TIME, time(start.hour, start.minute))
        d1, d2 = st.columns(2)
        day = d1.date_input(t("Snooze until: day ({zone})", zone=c.tz), key=SNOOZE_DAY)
        clock = d2.time_input(t("time ({zone})", zone=c.tz), step=300, key=SNOOZE_TIME)
        if st.form_submit_button(t("Snooze selected")):
            until = datetime.combine(day, clock, tzinfo=c.zone)
            fresh = now_from(c.settings)
            if until <= fresh:
                st.error(
                    t(
                        "Snooze until {time} is in the past: pick a later time.",
                        time=until.strftime("%Y-%m-%d %H:%M"),
                    )
                )
                return
            _run(df, ui.act_and_clear, c, (SNOOZE_DAY, SNOOZE_TIME), snooze_alerts, ids, until,
                 fresh)  # fmt: skip


body()
