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

PRELOAD = (
    "pandas",
    "pyarrow",
    "pyarrow.pandas_compat",  # DataFrame -> Arrow, every table and chart
    "pandas.io.formats.csvs",  # the CSV download buttons
    "altair",
    "narwhals.stable.v1",  # Streamlit's chart data conversion
    "dashboard.settings",
    "dashboard.auth",
    "dashboard.queries",
    "dashboard.queries_ops",
)


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def main() -> None:
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
