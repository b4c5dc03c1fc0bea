"""Streamlit's own command line, in a process that has already imported what the pages need.

Streamlit imports an app's modules during the first script run, that is inside the first
viewer's page load: pandas, pyarrow, altair and the console's queries cost 0.3-1.5 s there
(more on a loaded machine). ``posfleet-dashboard`` starts ``python -m dashboard.serve run
app.py ...`` instead of ``python -m streamlit run ...`` so that this happens before the port
opens and the first tab after a restart waits no longer than the next one.

``dashboard.ui`` is left to the script run: it creates ``st.cache_data`` functions, which
must be made once Streamlit's runtime exists.
"""

from __future__ import annotations

import importlib
import sys
import threading

PRELOAD = (
    "pandas",
    "pyarrow",
    "pyarrow.pandas_compat",  # DataFrame -> Arrow, every table and chart
    "pandas.io.formats.csvs",  # the CSV download buttons
    "altair",
    "narwhals.stable.v1",  # Streamlit's chart data conversion
    "babel.dates",  # relative times (dashboard.timefmt)
    "dashboard.settings",
    "dashboard.timefmt",
    "dashboard.i18n",  # merges the zh-CN catalogs
    "dashboard.queries_local",
    "dashboard.auth",
    "dashboard.queries",
    "dashboard.queries_ops",
)


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def warm(argv: list[str], *, fresh: bool = False) -> None:
    """The Overview's month figure for its finished days (``queries.past_reliability``),
    computed before the port opens, like the imports: 0.3 s at 100,000 terminals that the
    first viewer after a restart would otherwise wait for; ``fresh``: computed again even
    if kept (``keep_warm``). A store that cannot be read is left to the page, which names
    the setting to fix."""
    from collector.store.db import DatabaseError, StoreError

    unreadable: tuple[type[Exception], ...] = (StoreError, *DatabaseError)
    from dashboard.queries import past_reliability
    from dashboard.settings import SettingsError, load_settings, now_from
    from dashboard.timefmt import day_start, month_start

    try:
        settings = load_settings(argv)
    except SettingsError:
        return
    now = now_from(settings)
    # The console's default zone: the month and day most viewers see (--tz / POSFLEET_TZ).
    day, month = day_start(now, settings.tz), month_start(now, settings.tz)
    if day > month:
        try:
            past_reliability(settings.db, month, day, fresh=fresh)
        except unreadable as exc:  # the page will say it; starting must not fail here
            print(f"posfleet-dashboard: month figure not precomputed: {exc}", file=sys.stderr)


def keep_warm(
    argv: list[str], every_s: float | None = None, stop: threading.Event | None = None
) -> threading.Thread:
    """A daemon thread that computes the month figure again every ``every_s`` (half its
    time to live by default), before the kept one expires, and finds the new month's on a
    new day: the viewer who comes after the 10 minutes no longer waits for it in their page
    run. Until ``stop`` is set; a failed pass is said and the next one tries again."""
    from dashboard.queries import PAST_TTL_S

    period = PAST_TTL_S / 2 if every_s is None else every_s
    halt = stop or threading.Event()

    def loop() -> None:
        while not halt.wait(period):
            try:
                warm(argv, fresh=True)
            except Exception as exc:  # the page computes it then; the refresher never dies
                print(f"posfleet-dashboard: month figure not refreshed: {exc}", file=sys.stderr)

    thread = threading.Thread(target=loop, name="posfleet-month-figure", daemon=True)
    thread.start()
    return thread


def main() -> None:
    preload()
    args = sys.argv[1:]
    app_args = args[args.index("--") + 1 :] if "--" in args else []
    warm(app_args)
    keep_warm(app_args)
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
