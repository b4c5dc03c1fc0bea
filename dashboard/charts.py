"""The Overview's two charts, drawn on the server as SVG (pure functions of the query frames).

Why not Vega (``st.bar_chart``, ``st.vega_lite_chart``): in a new browser tab Streamlit then
fetches, parses and compiles about 1 MB of Vega JavaScript before the first chart appears,
0.2-0.3 s of the Overview's first render on a NOC thin client, measured in
``bench/dashboard_render.py``.

- The outage bars (a few dozen bars, each with a native tooltip) are inline SVG, shown with
  ``st.markdown(svg, unsafe_allow_html=True)``: ``st.html`` runs DOMPurify with its HTML-only
  profile, which removes SVG entirely.
- The site map (up to ~1,300 dots at 100,000 terminals) is an image: ``<img>`` with the SVG
  as a data URI, through ``st.html``. Inline, each dot became React elements through the
  Markdown renderer and the Overview took 0.5 s longer; as an image the browser draws it
  natively. The price: no tooltip per dot (the Regions table and the search are the way in).

Every text that comes from the store (ids, statuses, days) is escaped here (``dashboard.text``),
so the markup is ours alone. Words a person reads (labels, tooltips, legend) are passed in by
the page, already in the viewer's language (``dashboard.i18n``); the English defaults are
for tests and the benchmark.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable

import pandas as pd

from dashboard.queries import SEVERITY_RANK, STATUS_COLOURS
from dashboard.text import html as escape
from dashboard.text import md, url_param

FONT = 'font-family="sans-serif" font-size="11" fill="#555"'
SUBJECT_COLOURS = {"gateway": "#1f77b4", "terminal": "#9ecae1"}


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def _mercator(lat: float) -> float:
    lat = max(min(lat, 85.0), -85.0)
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def site_map_svg(
    sites: pd.DataFrame,
    *,
    width: int = 720,
    height: int = 420,
    pad: int = 12,
    label: str = "sites by worst status",
) -> str:
    """One dot per cell of sites (columns lat, lon, status, sites), Mercator, fitted to the fleet; area by the number of sites, colour by the worst status,
    the worst drawn last (on top)."""
    if len(sites) == 0:
        return ""
    rows = list(
        zip(
            [math.radians(v) for v in sites["lon"].tolist()],
            [-_mercator(v) for v in sites["lat"].tolist()],
            sites["status"].astype(str).tolist(),
            sites["sites"].astype(int).tolist(),
            strict=True,
        )
    )
    xs, ys = [r[0] for r in rows], [r[1] for r in rows]
    x0, y0 = min(xs), min(ys)
    dx, dy = max(max(xs) - x0, 1e-6), max(max(ys) - y0, 1e-6)
    scale = min((width - 2 * pad) / dx, (height - 2 * pad) / dy)
    ox = (width - (max(xs) - x0) * scale) / 2  # the fleet centred in the frame
    oy = (height - (max(ys) - y0) * scale) / 2
    biggest = max(max(r[3] for r in rows), 1)
    rows.sort(key=lambda r: SEVERITY_RANK.get(r[2], 0))
    dots = [
        f'<circle cx="{ox + (x - x0) * scale:.1f}" cy="{oy + (y - y0) * scale:.1f}" '
        f'r="{2.0 + 7.0 * math.sqrt(n / biggest):.1f}" '
        f'fill="{STATUS_COLOURS.get(status, "#7f7f7f")}"/>'
        for x, y, status, n in rows
    ]
    # Shared attributes once, on the group (SVG inherits them), not on 1,000+ dots.
    return _svg(
        width,
        height,
        f'<rect width="{width}" height="{height}" fill="#f6f8fa" rx="4"/>'
        f'<g fill-opacity="0.85" stroke="white" stroke-width="0.5">{"".join(dots)}</g>',
        label,
    )


def down_sites_line(
    sites: pd.DataFrame,
    limit: int = 12,
    *,
    none: str = "No store is down.",
    lead: str = "Down:",
    more: Callable[[int], str] = lambda n: f"and {n} more cells",
) -> str:
    """Markdown links to the worst site of the cells that are down (the most sites with a
    problem first): the way from the map to a store's page, since the image has no links."""
    down = sites[sites["status"] == "down"].sort_values(
        ["problem_sites", "site_id"], ascending=[False, True]
    )
    if len(down) == 0:
        return none
    links = " · ".join(
        f"[{md(site)}](/detail?id={url_param(site)})" for site in down["site_id"][:limit]
    )
    rest = f" {more(len(down) - limit)}" if len(down) > limit else ""
    return f"{lead} {links}{rest}"


def as_img(svg: str, alt: str) -> str:
    """An ``<img>`` showing ``svg`` (a data URI: no request, drawn natively by the browser)."""
    data = base64.b64encode(svg.encode()).decode()
    return (
        f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(alt)}" '
        'style="width:100%;height:auto">'
    )


def outage_bars_svg(
    trend: pd.DataFrame,
    *,
    width: int = 720,
    height: int = 200,
    label: str = "new outages per day",
    tooltip: Callable[[str, int, str], str] = lambda day, n, kind: f"{day}: {n} {kind} outages",
    legend: Callable[[str], str] = str,
) -> str:
    """New outages per day (columns day, subject_type, outages), stacked by subject type."""
    if len(trend) == 0:
        return ""
    per_day: dict[str, dict[str, int]] = {}
    for day, kind, n in zip(
        trend["day"].astype(str).tolist(),
        trend["subject_type"].astype(str).tolist(),
        trend["outages"].astype(int).tolist(),
        strict=True,
    ):
        row = per_day.setdefault(day, {})
        row[kind] = row.get(kind, 0) + n
    days = sorted(per_day)
    seen = {k for row in per_day.values() for k in row}
    kinds = [k for k in SUBJECT_COLOURS if k in seen] + sorted(seen - set(SUBJECT_COLOURS))
    top = _nice(max(sum(row.values()) for row in per_day.values()))
    left, right, above, below = 44, 8, 8, 34
    plot_w, plot_h = width - left - right, height - above - below
    step = plot_w / len(days)
    bar = max(step * 0.8, 1.0)
    parts = []
    for tick in [0, top // 2, top] if top % 2 == 0 else [0, top]:  # gridlines, labels
        y = above + plot_h * (1 - tick / top)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{tick}</text>'
        )
    for i, day in enumerate(days):
        x = left + i * step + (step - bar) / 2
        base = 0
        for kind in kinds:
            n = per_day[day].get(kind, 0)
            if not n:
                continue
            y = above + plot_h * (1 - (base + n) / top)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{plot_h * n / top:.1f}"'
                f' fill="{SUBJECT_COLOURS.get(kind, "#7f7f7f")}">'
                f"<title>{escape(tooltip(day, n, kind))}</title></rect>"
            )
            base += n
        if i % max(1, len(days) // 6) == 0:  # about six date labels
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - below + 14}" text-anchor="middle" '
                f"{FONT}>{escape(day[5:])}</text>"
            )
    lx = left
    for kind in kinds:  # legend
        parts.append(
            f'<rect x="{lx}" y="{height - 12}" width="10" height="10" '
            f'fill="{SUBJECT_COLOURS.get(kind, "#7f7f7f")}"/>'
            f'<text x="{lx + 14}" y="{height - 3}" {FONT}>{escape(legend(kind))}</text>'
        )
        lx += 90
    return _svg(width, height, "".join(parts), label)


def _nice(n: int) -> int:
    """The axis top: n rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if n <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(n)))
    for m in (1, 2, 5, 10):
        if n <= m * power:
            return m * power
    return 10 * power
