"""Streamlit glue shared by the pages: context, cached reads, URL filters, tables, actions."""

from __future__ import annotations

import inspect
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, available_timezones

import pandas as pd
import streamlit as st

from collector import sla
from collector.actions import ActionError, Actor, Bulk, Role
from collector.inventory import InventoryError
from collector.store import db as store_db
from dashboard import auth, chrome, queries, session, timefmt
from dashboard.action_text import done_name
from dashboard.i18n import LANG_NAMES, LANGS, N_, SESSION_KEY, t, value
from dashboard.settings import DashboardSettings, SettingsError, load_settings, now_from
from dashboard.text import md, url_param

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Ctx:
    settings: DashboardSettings
    db: str
    now: datetime
    actor: Actor | None
    lang: str = "en"  # the viewer's language (dashboard.i18n.LANGS)
    tz: str = "UTC"  # the viewer's time zone (IANA), for every time shown

    @property
    def zone(self) -> ZoneInfo:
        return timefmt.zone(self.tz)


TZ_KEY = "tz"  # the viewer's own zone (sidebar), when they picked one
_TZ_SHOWN = "tz_shown"  # the zone in force this run, for helpers without a Ctx (``table``)


# session_state keys: this tab's session token (None once it logged out or its token was
# refused: the cookie the tab was opened with is then stale), a cookie value waiting to be
# written by the browser ('' deletes it), the widgets to empty after a successful action.
TOKEN = "session_token"
COOKIE_WRITE = "session_cookie_write"
CLEAR = "clear_after_success"
SESSION_NOTE = "session_note"  # why this tab was logged out, said once above the login form
# What a new form shows in a widget that is not a text box (a number, a check box, a choice),
# registered by the page that draws it: after a successful save the widget is set back to it.
# Only forgetting the value would leave the old one on the browser's screen (the browser keeps
# what the server forgot; only a value the server sets reaches it), to be submitted again.
FORM_DEFAULTS: dict[str, Any] = {}


def ctx() -> Ctx:
    """Settings read once per run (argv after ``--``, then POSFLEET_* env); who is logged in
    (``session``); the viewer's language (``?lang=``, else the one picked before, else
    --lang) and zone."""
    try:
        settings = load_settings(sys.argv[1:])
    except SettingsError as exc:
        st.error(t("The console is misconfigured: {error}", error=exc))
        st.stop()
    # Widget values are reset before the widgets exist, on the run after a successful submit.
    # A text box is set to empty, not only forgotten: the browser keeps showing a value the
    # server forgot (only a value the server sets reaches it; AppTest cannot tell the two).
    for key in st.session_state.pop(CLEAR, ()):
        if key in FORM_DEFAULTS:  # a number, box or choice: set back to what a new form shows
            st.session_state[key] = FORM_DEFAULTS[key]
        elif isinstance(st.session_state.get(key), str):
            st.session_state[key] = ""
        else:
            st.session_state.pop(key, None)
    lang = _viewer_lang(settings.lang)
    tz = st.session_state.get(TZ_KEY) or settings.tz
    st.session_state[_TZ_SHOWN] = tz
    now = now_from(settings)
    return Ctx(settings, str(settings.db), now, _session(settings, now), lang, tz)


def _session(settings: DashboardSettings, now: datetime) -> Actor | None:
    """The user this tab acts as at ``now``: its own token, or for a new tab, a reload or a
    shared link the browser's cookie; checked against the store every time (expiry, idle
    time, user removed, password reset, logout elsewhere)."""
    if TOKEN in st.session_state:
        token = st.session_state[TOKEN]
    else:
        token = st.context.cookies.get(session.COOKIE)
    if not token:
        return None
    policy = session.SessionPolicy(
        idle=timedelta(seconds=settings.dashboard_idle_timeout_s),
        max_age=timedelta(seconds=settings.dashboard_session_max_s),
    )
    with queries.open_ro(settings.db) as conn:
        got = session.resume(conn, str(token), now, policy, settings.session_secret())
    if isinstance(got, session.Rejected):
        st.session_state[TOKEN] = None
        st.session_state[COOKIE_WRITE] = ""
        if got.reason in ("idle", "expired"):
            # A message id: shown in the language of the run that shows it (``_login``).
            st.session_state[SESSION_NOTE] = N_(
                "Your session ended (no activity for too long, or too long since the login). "
                "Log in again."
            )
        return None
    if got.token != token:  # activity moved ``seen``: the browser keeps the new token
        st.session_state[COOKIE_WRITE] = got.token
    st.session_state[TOKEN] = got.token
    return got.actor


def _viewer_lang(default: str) -> str:
    """``?lang=`` wins and is remembered in the session; a page switch (which drops the
    URL's parameters) gets it back from the session, so a shared link keeps its language."""
    asked = st.query_params.get("lang")
    if asked in LANGS:
        st.session_state[SESSION_KEY] = asked
    lang = st.session_state.get(SESSION_KEY)
    if lang not in LANGS:
        lang = st.session_state[SESSION_KEY] = default
    if lang != default and asked != lang:
        st.query_params["lang"] = lang
    return str(lang)


def viewer_tz() -> str:
    """The zone of this run (``ctx``), for helpers that are not handed a Ctx."""
    return str(st.session_state.get(_TZ_SHOWN) or "UTC")


def when(c: Ctx, at: datetime | str | None) -> str:
    """A stored time as the viewer reads it: local wall time to the minute."""
    return timefmt.local(at, c.zone)


def ago(c: Ctx, at: datetime | str | None) -> str:
    """A stored time relative to now, in the viewer's language."""
    return timefmt.relative(at, c.now, c.lang)


@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def _cached(
    db: str,
    _query: Callable[..., Any],  # not hashable by Streamlit: ``name`` stands for it in the key
    name: str,
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
    cycle: int,
) -> Any:
    with queries.open_ro(db) as conn:
        return _query(conn, *args, **dict(kwargs))


def load(
    c: Ctx,
    query: Callable[Concatenate[store_db.Connection, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """A read through the cache, fresh once per refresh cycle.

    ``cycle`` (wall-clock time / refresh interval) is part of the key: every viewer and every
    rerun within one cycle share one query, and an auto-refresh always sees new data. Callers
    round ``now`` to the minute so that arguments do not defeat the cache.
    """
    cycle = int(time.time() // c.settings.dashboard_refresh_s)
    name = f"{query.__module__}.{query.__qualname__}"
    try:
        result: R = _cached(c.db, query, name, args, tuple(sorted(kwargs.items())), cycle)
    except store_db.StoreError as exc:
        # The store cannot be opened (a PostgreSQL server down or refusing us): the message
        # names --db / POSFLEET_DB and never the password; the page stops here.
        st.error(md(exc))
        st.stop()
    return result


def qp_select(
    label: str,
    options: list[str],
    key: str,
    *,
    all_label: str = "",
    labels: dict[str, str] | None = None,
) -> str:
    """A selectbox whose value lives in the URL (``?key=value``), so links can be shared.
    Options are stored values (shown translated, kept as they are in the URL); ``labels``
    gives an option's message id where the stored value is not one (a case's ``open``)."""
    choices = ["", *options]
    current = st.query_params.get(key, "")
    index = choices.index(current) if current in choices else 0
    everything = all_label or t("all")

    def shown(v: str) -> str:
        if not v:
            return everything
        return t(labels[v]) if labels and v in labels else value(v)

    picked = st.selectbox(label, choices, index=index, key=f"qp_{key}", format_func=shown)
    if picked:
        st.query_params[key] = picked
    elif key in st.query_params:
        del st.query_params[key]
    return str(picked)


def csv_uploader(label: str, key: str) -> Any:
    """A CSV file picker, as ``dashboard.chrome`` describes it in the viewer's language (one
    CSV file of at most ``UPLOAD_MAX_MB``): every uploader of the console is this one."""
    return st.file_uploader(label, type=["csv"], key=key, max_upload_size=chrome.UPLOAD_MAX_MB)


def service_fields(key: str) -> tuple[str, str, str]:
    """A service record's work done, parts replaced and fault category, in boxes keyed
    ``{key}_work``, ``{key}_parts`` and ``{key}_cat`` (for the caller to clear once saved)."""
    work = st.text_input(t("Work done"), key=f"{key}_work")
    parts = st.text_input(t("Parts replaced"), key=f"{key}_parts")
    cat = st.selectbox(
        t("Fault category"),
        ["", "hardware", "software", "network", "power"],
        format_func=value,
        # Streamlit's own placeholder for the empty choice is English only.
        placeholder=t("(not given)"),
        key=f"{key}_cat",
    )
    return work, parts, cat


def pager(total: int, page_size: int, key: str) -> int:
    """Page number kept in the URL; returns the SQL offset."""
    pages = max(1, -(-total // page_size))
    try:
        start = min(max(1, int(st.query_params.get(f"{key}_page", "1"))), pages)
    except ValueError:
        start = 1
    label = t("page (of {pages})", pages=pages)
    page = int(st.number_input(label, 1, pages, start, key=f"page_{key}", step=1))
    if page > 1:
        st.query_params[f"{key}_page"] = str(page)
    elif f"{key}_page" in st.query_params:
        del st.query_params[f"{key}_page"]
    return (page - 1) * page_size


# Numbers shown with a fixed count of decimals (the frames round or floor them to it): a column
# of availabilities reads 92.012, 100.000, not 92.0127, 100.
NUMBER_FORMATS = {"availability_pct": "%.3f", "on_target_pct": "%.1f", "compliant_pct": "%.1f"}


def column(col: str) -> Any:
    """A known column's header in the viewer's language, and its number format if it has one."""
    label = t(COLUMN_LABELS[col])
    if col in NUMBER_FORMATS:
        return st.column_config.NumberColumn(label, format=NUMBER_FORMATS[col])
    return st.column_config.Column(label)


def table(
    df: pd.DataFrame,
    name: str,
    *,
    export: Callable[[], pd.DataFrame] | None = None,
    **kwargs: Any,
) -> None:
    """A table with its CSV export: of the rows shown, or, for a paged table, of every row
    its filters match (``export``, built only when clicked: ``all_rows``).

    On screen: headers in the viewer's language, stored times as local wall time, stored
    values (status, kind, ...) translated. The CSV keeps the stored data as it is (ids as
    headers, ISO UTC times with their offset): the same file in every language and zone."""
    config = {col: column(col) for col in df.columns if col in COLUMN_LABELS}
    config.update(kwargs.pop("column_config", {}))
    st.dataframe(shown(df), hide_index=True, column_config=config, **kwargs)
    data: str | Callable[[], str] = df.to_csv(index=False)
    if export is not None:
        build = export

        def data() -> str:
            return str(build().to_csv(index=False))

    st.download_button(
        t("Download {name}.csv", name=name)
        if export is None
        else t("Download all {name} (CSV)", name=name),
        data=data,
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"dl_{name}",
        on_click="ignore",
    )


EXPORT_ROWS_MAX = 1_000_000  # a bound, not a page: beyond it, narrow the filters


def all_rows(
    c: Ctx,
    query: Callable[..., tuple[pd.DataFrame, int]],
    *args: Any,
) -> Callable[[], pd.DataFrame]:
    """Every row of a paged ``query(conn, *filters, limit, offset)``, read when called."""

    def read() -> pd.DataFrame:
        with queries.open_ro(c.db) as conn:
            df, _ = query(conn, *args, EXPORT_ROWS_MAX, 0)
        return df

    return read


def full_export(c: Ctx, name: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """A CSV of the whole result, built only when clicked (the page stays fast)."""

    def build() -> str:
        with queries.open_ro(c.db) as conn:
            return str(queries.frame(conn, sql, params).to_csv(index=False))

    st.download_button(
        t("Export all {name}.csv", name=name), data=build, file_name=f"{name}.csv", mime="text/csv",
        key=f"dlall_{name}", on_click="ignore",
    )  # fmt: skip


def availability_metric(
    slot: Any, label: str, avail: float | None, downtime_s: float = 0.0
) -> None:
    """An availability as a metric: the percentage (``queries.availability_text``: 3 decimals
    floored, never rounded up) as its value, the downtime in minutes on the grey line under
    it (no arrow: not a change), or n/a for an empty fleet. The downtime is not part of the
    value: at a console's width a metric cuts a long value off, and the zh-CN downtime after
    the percentage showed as "…"."""
    if avail is None:
        slot.metric(label, t("n/a"))
        return
    down = None
    if downtime_s >= 60:
        down = t("{minutes} min down", minutes=f"{downtime_s / 60:.0f}")
    elif downtime_s > 0:
        down = t("<1 min down")
    slot.metric(
        label, queries.availability_text(avail, 0), delta=down, delta_color="off",
        delta_arrow="off",
    )  # fmt: skip


def pct_metric(slot: Any, label: str, frame: pd.DataFrame) -> None:
    """The first row's availability as a metric (``availability_metric``); n/a when the frame
    has none (an empty fleet has no availability)."""
    if len(frame) == 0 or pd.isna(frame["availability_pct"].iloc[0]):
        availability_metric(slot, label, None)
        return
    avail = float(frame["availability_pct"].iloc[0]) / 100
    availability_metric(slot, label, avail, 60 * float(frame["downtime_min"].iloc[0]))


def figure(frame: pd.DataFrame, column: str, unit: str) -> str:
    """The first row's ``column`` with its unit, or n/a (no repair, no failure yet)."""
    if len(frame) == 0 or pd.isna(frame[column].iloc[0]):
        return t("n/a")
    return f"{frame[column].iloc[0]} {unit}"


def reliability_metric(slot: Any, label: str, r: sla.Reliability | None) -> None:
    """A period's availability (``collector.sla``) as a metric (``availability_metric``)."""
    if r is None:
        availability_metric(slot, label, None)
    else:
        availability_metric(slot, label, r.availability, r.downtime_s)


def can(c: Ctx, role: Role) -> bool:
    return c.actor is not None and c.actor.role >= role


def need(c: Ctx, role: Role, what: str) -> bool:
    if can(c, role):
        return True
    st.info(t("Log in as {role} or above (sidebar) to {what}.", role=value(role.label), what=what))
    return False


def _refusal(exc: ActionError) -> str:
    """What a refused action says: an inventory file's refusal (a message id and its fields,
    dashboard/inventory_text.py) in the viewer's language, any other as the action says it."""
    cause = exc.__cause__
    if isinstance(cause, InventoryError):
        return t(cause.msgid, **cause.fields)
    return str(exc)


def act(c: Ctx, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run one operator action on a read-write connection; report, refresh reads, rerun.

    The session is checked again now: a page body is a fragment that may have been drawn
    hours ago, by a login that has since timed out or been ended."""
    actor = _session(c.settings, now_from(c.settings))
    if actor is None:
        st.error(t("Your session has ended: log in again (sidebar)."))
        return False
    conn = store_db.connect(c.db, timeout=10)
    try:
        result = fn(conn, actor, *args, **kwargs)
    except ActionError as exc:
        st.error(md(_refusal(exc)))  # messages quote ids and reasons from the store
        return False
    finally:
        conn.close()
    _cached.clear()
    called = inspect.signature(fn).bind(conn, actor, *args, **kwargs).arguments
    action = done_name(fn.__name__, called)
    st.session_state["flash"] = t("{action}: done, recorded in the audit log.", action=t(action))
    if isinstance(result, Bulk) and result.refused:  # several alerts: some changed meanwhile
        st.session_state["flash_warning"] = t(
            "Applied to {done}, not to {n}: {why}",
            done=len(result.done),
            n=len(result.refused),
            why=md("; ".join(result.refused.values())),
        )
    st.rerun()
    return True  # not reached: st.rerun raises


def act_and_clear(
    c: Ctx, keys: Iterable[str], fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> bool:
    """``act``, then the widgets ``keys`` are emptied (after a success only: a refused form
    keeps what was typed, to be fixed)."""
    st.session_state[CLEAR] = tuple(keys)
    if act(c, fn, *args, **kwargs):
        return True  # not reached: act reruns
    st.session_state.pop(CLEAR, None)
    return False


def flash() -> None:
    msg = st.session_state.pop("flash", None)
    if msg:
        st.success(msg)
    warning = st.session_state.pop("flash_warning", None)
    if warning:
        st.warning(warning)


def subject_link(kind: str, ident: str) -> str:
    """Where an alert's subject is shown: its page (gateway, terminal, site), or the region's
    alerts."""
    if kind in ("gateway", "terminal", "site"):
        return f"/detail?id={url_param(ident)}"
    if kind == "region":
        return f"/alerts?region={url_param(ident)}"
    return f"/?q={url_param(ident)}"


SEARCH_PAGE = 20  # hits shown at first; "more" adds as many
SEARCH_MAX = 500  # beyond: type more of the name


def sidebar(c: Ctx) -> None:
    with st.sidebar:
        q = st.text_input(t("Search id, serial or merchant"), value=st.query_params.get("q", ""))
        if q:
            if st.query_params.get("q") != q:
                st.query_params.pop("qn", None)  # a new search starts from its first hits
            st.query_params["q"] = q
            try:
                shown = max(SEARCH_PAGE, min(SEARCH_MAX, int(st.query_params.get("qn", ""))))
            except ValueError:
                shown = SEARCH_PAGE
            minute = c.now.replace(second=0, microsecond=0)
            hits, total = load(c, queries.search, q, minute, shown)
            if total == 0:
                st.caption(t("no match"))
            for row in hits.itertuples(index=False):
                target = row.id if row.type != "site" else row.site_id
                label = md(f"{value(row.type)} {row.id} {row.serial or ''} {value(row.status)}")
                st.page_link("views/detail.py", label=label, query_params={"id": target})
            if total > len(hits):
                st.caption(t("{shown} of {total} matches", shown=len(hits), total=total))
                if len(hits) < SEARCH_MAX and st.button(t("more"), key="search_more"):
                    st.query_params["qn"] = str(min(SEARCH_MAX, len(hits) + SEARCH_PAGE))
                    st.rerun()
        elif "q" in st.query_params:
            del st.query_params["q"]
            st.query_params.pop("qn", None)
        st.divider()
        _login(c)
        st.divider()
        _language_and_zone(c)
        # Last: a rerun asked by the sidebar above would drop this run's script.
        _write_cookie(c)


_COOKIE_SCRIPT = (
    "<script>document.cookie = {cookie} + "
    "(location.protocol === 'https:' ? '; Secure' : '');</script>"
)


def _write_cookie(c: Ctx) -> None:
    """Hand the browser the session cookie (or its deletion). Streamlit can read cookies
    (``st.context.cookies``, sent when a tab connects) but not set them: a script does,
    in the page itself. Not HttpOnly, for that reason; every string from the store is
    escaped (``dashboard.text``), so no script of anyone else's runs in this page."""
    token = st.session_state.pop(COOKIE_WRITE, None)
    if token is None:
        return
    max_age = int(c.settings.dashboard_session_max_s) if token else 0
    cookie = f"{session.COOKIE}={token}; Path=/; Max-Age={max_age}; SameSite=Strict"
    st.html(_COOKIE_SCRIPT.format(cookie=json.dumps(cookie)), unsafe_allow_javascript=True)


@cache
def _zones() -> list[str]:
    return sorted(available_timezones())


def _language_and_zone(c: Ctx) -> None:
    """The viewer's own language and zone (this session; the language also in the URL)."""
    lang = st.selectbox(
        t("Language"), LANGS, index=LANGS.index(c.lang), format_func=LANG_NAMES.__getitem__
    )
    if lang != c.lang:
        st.session_state[SESSION_KEY] = lang
        if lang == c.settings.lang:
            st.query_params.pop("lang", None)
        else:
            st.query_params["lang"] = lang
        st.rerun()
    zones = _zones()
    zone = st.selectbox(t("Time zone"), zones, index=zones.index(c.tz) if c.tz in zones else None)
    if zone and zone != c.tz:
        st.session_state[TZ_KEY] = zone
        st.rerun()
    st.caption(t("Times shown in {zone}", zone=timefmt.zone_caption(c.now, c.tz)))


def _login(c: Ctx) -> None:
    if c.actor is not None:
        st.write(
            t(
                "Logged in: **{name}** ({role})",
                name=md(c.actor.name),
                role=value(c.actor.role.label),
            )
        )
        if st.button(t("Log out"), key="logout"):
            conn = store_db.connect(c.db, timeout=10)
            try:
                auth.logout(conn, c.actor.name, c.now)
            finally:
                conn.close()
            st.session_state[TOKEN] = None
            st.session_state[COOKIE_WRITE] = ""
            _cached.clear()
            st.rerun()
        return
    note = st.session_state.pop(SESSION_NOTE, None)
    if note:
        st.info(t(note))
    with st.form("login"):
        name = st.text_input(t("User"), key="login_user")
        password = st.text_input(t("Password"), type="password", key="login_password")
        if st.form_submit_button(t("Log in")):
            conn = store_db.connect(c.db, timeout=10)
            try:
                result = auth.login(conn, name, password, client_address(c), c.now)
            finally:
                conn.close()
            _cached.clear()
            if result.actor is not None:
                _start_session(c, result.actor)
                st.rerun()
            elif result.locked_until is not None:
                again = result.locked_until.astimezone(c.zone).strftime("%H:%M:%S %Z")
                st.error(t("Too many failed logins. Try again after {time}.", time=again))
            else:
                st.error(t("Wrong user or password."))


def _start_session(c: Ctx, actor: Actor) -> None:
    """A token for the user who has just logged in, for this tab and, as a cookie, for the
    tabs, reloads and links of this browser."""
    conn = store_db.connect(c.db, timeout=10)
    try:
        started = session.start(conn, actor.name, c.now, c.settings.session_secret())
    finally:
        conn.close()
    if isinstance(started, session.Rejected):  # the account was removed meanwhile
        st.error(t("Wrong user or password."))
        st.stop()
    st.session_state[TOKEN] = started.token
    st.session_state[COOKIE_WRITE] = started.token


def client_address(c: Ctx) -> str:
    """Who is trying to log in, for the per-client throttle: the connection's address, or,
    behind a reverse proxy that says so (POSFLEET_DASHBOARD_TRUST_FORWARDED_FOR), the
    address that proxy appended last to X-Forwarded-For (earlier ones are the client's say)."""
    if c.settings.dashboard_trust_forwarded_for:
        forwarded = st.context.headers.get("X-Forwarded-For")
        if isinstance(forwarded, str) and forwarded.strip():
            return forwarded.split(",")[-1].strip()
    address = st.context.ip_address  # None for 127.0.0.1 and ::1 (and in AppTest)
    return address if isinstance(address, str) and address else "loopback"


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as a table shows it: stored times as local wall time (the viewer's zone),
    stored values (status, kind, class...) in the viewer's language."""
    out = _blank_missing(timefmt.frame(df, viewer_tz()))
    for col in out.columns:
        if col in VALUE_COLUMNS and not pd.api.types.is_numeric_dtype(out[col]):
            if out is df:
                out = df.copy()
            out[col] = [value(v) if isinstance(v, str) else v for v in out[col]]
    return out


def _blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    """Missing cells (NULL, NaN, NaT) as empty cells: Streamlit draws them as the English
    word "None", in every language. A column of numbers with a gap becomes text (Streamlit
    draws a mixed column as text), its numbers as they were."""
    out = df
    for col in df.columns:
        missing = df[col].isna()
        if not missing.any():
            continue
        if out is df:
            out = df.copy()
        numbers = pd.api.types.is_float_dtype(df[col])  # ints with a gap are floats: 3.0
        out[col] = [
            "" if gap else str(int(v)) if numbers and float(v).is_integer() else v
            for v, gap in zip(df[col], missing, strict=True)
        ]
    return out


# Columns whose cells are stored values that ``dashboard.i18n.value`` translates for display.
VALUE_COLUMNS = frozenset(
    ("status", "from_status", "to_status", "effective_status", "kind", "severity", "state",
     "class", "fault_category", "detected_by", "subject_type", "type", "compliance", "target",
     "source", "on_call", "zone", "tbl", "role", "scope_type", "last_kind", "reason",
     "task_type", "every_unit", "usage_metric")
)  # fmt: skip

# Every column the console's tables show, by id: the header in the viewer's language.
COLUMN_LABELS = {
    "id": N_("id"), "subject": N_("subject"), "subject_type": N_("subject type"),
    "subject_id": N_("subject id"), "kind": N_("kind"), "severity": N_("severity"),
    "state": N_("state"), "escalation": N_("escalation"), "region_id": N_("region"),
    "site_id": N_("store"), "gateway_id": N_("gateway"), "terminal_id": N_("terminal"),
    "summary": N_("summary"), "started_at": N_("started"), "fired_at": N_("paged"),
    "acked_by": N_("acknowledged by"), "acked_at": N_("acknowledged at"),
    "ack_note": N_("acknowledgement note"), "inhibited_by": N_("inhibited by"),
    "link": N_("open"), "name": N_("name"), "oncall_name": N_("on-call technician"),
    "oncall_contact": N_("technician contact"), "contact_verified_at": N_("contact verified"),
    "gateways": N_("gateways"), "gateways_down": N_("gateways down"),
    "terminals": N_("terminals"), "terminals_down": N_("terminals down"),
    "terminals_unknown": N_("terminals unknown"), "alerts_firing": N_("alerts firing"),
    "contact_stale": N_("contact stale"), "at": N_("time"), "actor": N_("by"),
    "action": N_("action"), "details": N_("details"), "field": N_("field"),
    "value": N_("value"), "type": N_("type"), "serial": N_("serial"), "model": N_("model"),
    "status": N_("status"), "status_since": N_("since"), "last_seen_at": N_("last seen"),
    "from_status": N_("from"), "to_status": N_("to"), "reason": N_("reason"),
    "ended_at": N_("ended"), "class": N_("cause class"), "cause": N_("cause"),
    "expected_recovery_at": N_("expected recovery"), "fault_category": N_("fault category"),
    "detected_by": N_("detected by"), "performed_at": N_("performed"),
    "performed_by": N_("performed by"), "work": N_("work done"),
    "parts_replaced": N_("parts replaced"), "fleet": N_("fleet"),
    "availability_pct": N_("availability %"), "downtime_min": N_("downtime (min)"),
    "failures": N_("failures"), "mttr_min": N_("MTTR (min)"), "mtbf_h": N_("MTBF (h)"),
    "version": N_("version"), "target": N_("target"), "compliance": N_("compliance"),
    "on_target_pct": N_("on target %"), "compliant_pct": N_("compliant %"),
    "technician": N_("technician"), "due_at": N_("due"), "last_service_at": N_("last service"),
    "overdue": N_("overdue"), "due_soon": N_("due soon"), "scope_type": N_("scope"),
    "scope_id": N_("scope id"), "starts_at": N_("starts"), "ends_at": N_("ends"),
    "recurrence": N_("recurrence"), "zone": N_("zone"), "created_by": N_("created by"),
    "ended_early_at": N_("ended early"), "tbl": N_("table"), "n": N_("count"),
    "behind_gateway": N_("behind gateway"), "first_seen_at": N_("first seen"),
    "messages": N_("messages"), "last_kind": N_("last message"), "region": N_("region"),
    "tier": N_("tier"), "on_call": N_("on call"), "phone": N_("mobile"),
    "chat_id": N_("chat user id"), "source": N_("source"), "local_time": N_("local time"),
    "tz": N_("time zone"), "at_local": N_("at (local)"), "to": N_("handed to"),
    "order": N_("order"), "starts": N_("starts (local)"), "ends": N_("ends (local)"),
    "shift_h": N_("shift (h)"), "override_id": N_("override #"), "address": N_("address"),
    "merchant_name": N_("merchant"), "install_date": N_("installed"),
    "target_version": N_("target version"), "min_version": N_("minimum version"),
    "approved_versions": N_("approved versions"), "end_of_support": N_("end of support"),
    "updated_by": N_("updated by"), "updated_at": N_("updated"), "task_type": N_("task type"),
    "every_n": N_("every"), "every_unit": N_("unit"), "usage_metric": N_("usage trigger"),
    "usage_limit": N_("usage limit"), "due_soon_days": N_("due soon (days)"),
    "next_start": N_("now or next: starts"), "next_end": N_("now or next: ends"),
    "zone_hours": N_("hours in that zone"),
}  # fmt: skip
