"""Streamlit glue shared by the pages: context, cached reads, URL filters, tables, actions."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from collector import sla
from collector.actions import ActionError, Actor, Role
from dashboard import auth, queries, session
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


# session_state keys: this tab's session token (None once it logged out or its token was
# refused: the cookie the tab was opened with is then stale), a cookie value waiting to be
# written by the browser ('' deletes it), the widgets to empty after a successful action.
TOKEN = "session_token"
COOKIE_WRITE = "session_cookie_write"
CLEAR = "clear_after_success"


def ctx() -> Ctx:
    """Settings read once per run (argv after ``--``, then POSFLEET_* env), and who is
    logged in (``session``)."""
    try:
        settings = load_settings(sys.argv[1:])
    except SettingsError as exc:
        st.error(str(exc))
        st.stop()
    # Widget values are reset before the widgets exist, on the run after a successful submit.
    for key in st.session_state.pop(CLEAR, ()):
        st.session_state.pop(key, None)
    now = now_from(settings)
    return Ctx(settings, str(settings.db), now, _session(settings, now))


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
            st.session_state["session_note"] = (
                "Your session ended (no activity for too long, or too long since the login). "
                "Log in again."
            )
        return None
    if got.token != token:  # activity moved ``seen``: the browser keeps the new token
        st.session_state[COOKIE_WRITE] = got.token
    st.session_state[TOKEN] = got.token
    return got.actor


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
    query: Callable[Concatenate[sqlite3.Connection, P], R],
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
    result: R = _cached(c.db, query, name, args, tuple(sorted(kwargs.items())), cycle)
    return result


def qp_select(label: str, options: list[str], key: str, *, all_label: str = "all") -> str:
    """A selectbox whose value lives in the URL (``?key=value``), so links can be shared."""
    choices = ["", *options]
    current = st.query_params.get(key, "")
    index = choices.index(current) if current in choices else 0
    value = st.selectbox(
        label, choices, index=index, key=f"qp_{key}", format_func=lambda v: v or all_label
    )
    if value:
        st.query_params[key] = value
    elif key in st.query_params:
        del st.query_params[key]
    return str(value)


def pager(total: int, page_size: int, key: str) -> int:
    """Page number kept in the URL; returns the SQL offset."""
    pages = max(1, -(-total // page_size))
    try:
        start = min(max(1, int(st.query_params.get(f"{key}_page", "1"))), pages)
    except ValueError:
        start = 1
    page = int(st.number_input(f"page (of {pages})", 1, pages, start, key=f"page_{key}", step=1))
    if page > 1:
        st.query_params[f"{key}_page"] = str(page)
    elif f"{key}_page" in st.query_params:
        del st.query_params[f"{key}_page"]
    return (page - 1) * page_size


def table(
    df: pd.DataFrame,
    name: str,
    *,
    export: Callable[[], pd.DataFrame] | None = None,
    **kwargs: Any,
) -> None:
    """A table with its CSV export: of the rows shown, or, for a paged table, of every row
    its filters match (``export``, built only when clicked: ``all_rows``)."""
    st.dataframe(df, hide_index=True, **kwargs)
    data: str | Callable[[], str] = df.to_csv(index=False)
    if export is not None:
        build = export

        def data() -> str:
            return str(build().to_csv(index=False))

    st.download_button(
        f"Download {name}.csv" if export is None else f"Download all {name} (CSV)",
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
        f"Export all {name}.csv", data=build, file_name=f"{name}.csv", mime="text/csv",
        key=f"dlall_{name}", on_click="ignore",
    )  # fmt: skip


def pct(frame: pd.DataFrame, column: str = "availability_pct") -> str:
    """The first row's availability (``queries.availability_text``), or n/a (an empty fleet
    has no availability)."""
    if len(frame) == 0 or pd.isna(frame[column].iloc[0]):
        return "n/a"
    avail = float(frame[column].iloc[0]) / 100
    return queries.availability_text(avail, 60 * float(frame["downtime_min"].iloc[0]))


def figure(frame: pd.DataFrame, column: str, unit: str) -> str:
    """The first row's ``column`` with its unit, or n/a (no repair, no failure yet)."""
    if len(frame) == 0 or pd.isna(frame[column].iloc[0]):
        return "n/a"
    return f"{frame[column].iloc[0]} {unit}"


def availability(r: sla.Reliability) -> str:
    """A figure's availability as the pages show it, or n/a for an empty fleet."""
    return queries.availability_text(r.availability, r.downtime_s)


def can(c: Ctx, role: Role) -> bool:
    return c.actor is not None and c.actor.role >= role


def need(c: Ctx, role: Role, what: str) -> bool:
    if can(c, role):
        return True
    st.info(f"Log in as {role.label} or above (sidebar) to {what}.")
    return False


def act(c: Ctx, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run one operator action on a read-write connection; report, refresh reads, rerun.

    The session is checked again now: a page body is a fragment that may have been drawn
    hours ago, by a login that has since timed out or been ended."""
    actor = _session(c.settings, now_from(c.settings))
    if actor is None:
        st.error("Your session has ended: log in again (sidebar).")
        return False
    conn = sqlite3.connect(c.db, timeout=10)
    try:
        fn(conn, actor, *args, **kwargs)
    except ActionError as exc:
        st.error(md(exc))  # messages quote ids and reasons from the store
        return False
    finally:
        conn.close()
    _cached.clear()
    st.session_state["flash"] = f"{fn.__name__.replace('_', ' ')}: done, recorded in the audit log."
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
        q = st.text_input("Search id, serial or merchant", value=st.query_params.get("q", ""))
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
                st.caption("no match")
            for row in hits.itertuples(index=False):
                target = row.id if row.type != "site" else row.site_id
                label = md(f"{row.type} {row.id} {row.serial or ''} {row.status or ''}")
                st.page_link("views/detail.py", label=label, query_params={"id": target})
            if total > len(hits):
                st.caption(f"{len(hits)} of {total} matches")
                if len(hits) < SEARCH_MAX and st.button("more", key="search_more"):
                    st.query_params["qn"] = str(min(SEARCH_MAX, len(hits) + SEARCH_PAGE))
                    st.rerun()
        elif "q" in st.query_params:
            del st.query_params["q"]
            st.query_params.pop("qn", None)
        st.divider()
        _login(c)
        _write_cookie(c)


def _write_cookie(c: Ctx) -> None:
    """Hand the browser the session cookie (or its deletion). Streamlit can read cookies
    (``st.context.cookies``, sent when a tab connects) but not set them: a script does,
    in the page itself. Not HttpOnly, for that reason; every string from the store is
    escaped (``dashboard.text``), so no script of anyone else's runs in this page."""
    value = st.session_state.pop(COOKIE_WRITE, None)
    if value is None:
        return
    max_age = int(c.settings.dashboard_session_max_s) if value else 0
    cookie = f"{session.COOKIE}={value}; Path=/; Max-Age={max_age}; SameSite=Strict"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)} + "
        "(location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def _login(c: Ctx) -> None:
    if c.actor is not None:
        st.write(f"Logged in: **{md(c.actor.name)}** ({c.actor.role.label})")
        if st.button("Log out", key="logout"):
            conn = sqlite3.connect(c.db, timeout=10)
            try:
                auth.logout(conn, c.actor.name, c.now)
            finally:
                conn.close()
            st.session_state[TOKEN] = None
            st.session_state[COOKIE_WRITE] = ""
            _cached.clear()
            st.rerun()
        return
    note = st.session_state.pop("session_note", None)
    if note:
        st.info(note)
    with st.form("login"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        if st.form_submit_button("Log in"):
            conn = sqlite3.connect(c.db, timeout=10)
            try:
                result = auth.login(conn, name, password, client_address(c), c.now)
            finally:
                conn.close()
            _cached.clear()
            if result.actor is not None:
                _start_session(c, result.actor)
                st.rerun()
            elif result.locked_until is not None:
                again = result.locked_until.astimezone(c.now.tzinfo).strftime("%H:%M:%S %Z")
                st.error(f"Too many failed logins. Try again after {again}.")
            else:
                st.error("Wrong user or password.")


def _start_session(c: Ctx, actor: Actor) -> None:
    """A token for the user who has just logged in, for this tab and, as a cookie, for the
    tabs, reloads and links of this browser."""
    conn = sqlite3.connect(c.db, timeout=10)
    try:
        started = session.start(conn, actor.name, c.now, c.settings.session_secret())
    finally:
        conn.close()
    if isinstance(started, session.Rejected):  # the account was removed meanwhile
        st.error("Wrong user or password.")
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
