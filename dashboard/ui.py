"""Streamlit glue shared by the pages: context, cached reads, URL filters, tables, actions."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from collector import sla
from collector.actions import ActionError, Actor, Role
from collector.store import db as store_db
from dashboard import auth, queries
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


def ctx() -> Ctx:
    """Settings read once per run (argv after ``--``, then POSFLEET_* env)."""
    try:
        settings = load_settings(sys.argv[1:])
    except SettingsError as exc:
        st.error(str(exc))
        st.stop()
    actor = st.session_state.get("actor")
    return Ctx(settings, settings.db, now_from(settings), actor)


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
    """Run one operator action on a read-write connection; report, refresh reads, rerun."""
    assert c.actor is not None
    conn = store_db.connect(c.db, timeout=10)
    try:
        fn(conn, c.actor, *args, **kwargs)
    except ActionError as exc:
        st.error(md(exc))  # messages quote ids and reasons from the store
        return False
    finally:
        conn.close()
    _cached.clear()
    st.session_state["flash"] = f"{fn.__name__.replace('_', ' ')}: done, recorded in the audit log."
    st.rerun()
    return True  # not reached: st.rerun raises


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


def _login(c: Ctx) -> None:
    if c.actor is not None:
        st.write(f"Logged in: **{md(c.actor.name)}** ({c.actor.role.label})")
        if st.button("Log out", key="logout"):
            del st.session_state["actor"]
            st.rerun()
        return
    with st.form("login"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        if st.form_submit_button("Log in"):
            conn = store_db.connect(c.db, timeout=10)
            try:
                result = auth.login(conn, name, password, client_address(c), c.now)
            finally:
                conn.close()
            _cached.clear()
            if result.actor is not None:
                st.session_state["actor"] = result.actor
                st.rerun()
            elif result.locked_until is not None:
                again = result.locked_until.astimezone(c.now.tzinfo).strftime("%H:%M:%S %Z")
                st.error(f"Too many failed logins. Try again after {again}.")
            else:
                st.error("Wrong user or password.")


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
