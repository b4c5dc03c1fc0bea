"""The Overview's server-drawn SVG charts (pure functions)."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import pandas as pd

from dashboard.charts import _nice, as_img, outage_bars_svg, site_map_svg

NS = {"s": "http://www.w3.org/2000/svg"}


def sites(*cells: tuple[float, float, str, int]) -> pd.DataFrame:
    return pd.DataFrame(cells, columns=["lat", "lon", "status", "sites"])


def test_site_map_north_is_up_east_is_right_and_the_worst_is_drawn_on_top() -> None:
    svg = site_map_svg(
        sites(
            (48.1, 11.5, "down", 1),  # Munich: south-east
            (53.5, 10.0, "online", 4),  # Hamburg: north
            (50.9, 6.9, "late", 2),  # Cologne: west
        )
    )
    root = ET.fromstring(svg)  # well-formed XML
    dots = [
        (float(c.get("cx", "")), float(c.get("cy", "")), float(c.get("r", "")), c.get("fill"))
        for c in root.iter("{http://www.w3.org/2000/svg}circle")
    ]
    hamburg, cologne, munich = dots  # drawn online, late, down: the worst on top
    assert (hamburg[3], cologne[3], munich[3]) == ("#2ca02c", "#ff7f0e", "#d62728")
    assert hamburg[1] < munich[1]  # north is up
    assert cologne[0] < munich[0]  # east is right
    assert hamburg[2] > cologne[2] > munich[2]  # area by sites
    viewbox = [float(v) for v in root.get("viewBox", "").split()]
    for cx, cy, r, _ in dots:  # inside the frame
        assert r <= cx <= viewbox[2] - r
        assert r <= cy <= viewbox[3] - r


def test_site_map_of_one_cell_and_of_none() -> None:
    (dot,) = ET.fromstring(site_map_svg(sites((1.0, 2.0, "down", 1)))).iter(
        "{http://www.w3.org/2000/svg}circle"
    )
    assert (float(dot.get("cx", "")), float(dot.get("cy", ""))) == (360.0, 210.0)  # centred
    assert site_map_svg(sites()) == ""


def test_the_map_goes_out_as_an_image_with_the_svg_inside() -> None:
    svg = site_map_svg(sites((1.0, 2.0, "online", 1)))
    img = as_img(svg, 'sites "by" status')
    m = re.fullmatch(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)" [^>]*>', img)
    assert m
    assert base64.b64decode(m.group(1)).decode() == svg
    assert m.group(2) == "sites &quot;by&quot; status"


def test_outage_bars_stack_per_day_and_label_the_axis() -> None:
    trend = pd.DataFrame(
        [
            ("2026-11-01", "gateway", 3),
            ("2026-11-01", "terminal", 4),
            ("2026-11-02", "terminal", 12),
        ],
        columns=["day", "subject_type", "outages"],
    )
    svg = outage_bars_svg(trend)
    root = ET.fromstring(svg)
    bars = [r for r in root.findall("s:rect", NS) if r.find("s:title", NS) is not None]
    assert [b.find("s:title", NS).text for b in bars] == [  # type: ignore[union-attr]
        "2026-11-01: 3 gateway outages",
        "2026-11-01: 4 terminal outages",
        "2026-11-02: 12 terminal outages",
    ]
    h = [float(b.get("height", "")) for b in bars]
    assert h[2] > h[0] + h[1]  # 12 > 3 + 4
    assert abs((h[0] + h[1]) / h[2] - 7 / 12) < 0.01  # one scale for all bars
    # stacked: the terminal part sits on the gateway part
    assert abs(float(bars[1].get("y", "")) + h[1] - float(bars[0].get("y", ""))) < 0.2
    labels = [t.text for t in root.findall("s:text", NS)]
    assert "20" in labels  # the axis top: 12 rounded up to 20
    assert {"gateway", "terminal"} <= set(labels)  # the legend
    assert outage_bars_svg(trend.iloc[0:0]) == ""


def test_nice_axis_tops() -> None:
    assert [_nice(n) for n in (0, 1, 2, 3, 7, 12, 99, 101, 4_999)] == [
        1, 1, 2, 5, 10, 20, 100, 200, 5_000,
    ]  # fmt: skip


def test_svg_is_one_element_for_st_html() -> None:
    svg = site_map_svg(sites((1.0, 2.0, "online", 1)))
    assert re.fullmatch(r"<svg [^>]*>.*</svg>", svg, re.S)


def test_down_sites_line_links_the_worst_cells_first() -> None:
    from dashboard.charts import down_sites_line

    cells = pd.DataFrame(
        [
            ("S3", "down", 1),
            ("S1", "online", 0),
            ("S2", "down", 4),
            ("S4", "late", 2),
            ("S 5", "down", 1),
        ],
        columns=["site_id", "status", "problem_sites"],
    )
    assert down_sites_line(cells) == (
        "Down: [S2](/detail?id=S2) · [S 5](/detail?id=S%205) · [S3](/detail?id=S3)"
    )
    assert down_sites_line(cells, limit=1) == "Down: [S2](/detail?id=S2) and 2 more cells"
    assert down_sites_line(cells[cells["status"] != "down"]) == "No store is down."
