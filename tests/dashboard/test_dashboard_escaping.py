"""Strings from the store are shown as text on every page, never as Markdown or HTML.

AppTest hands us the Markdown source of each element; it is rendered here with markdown-it
(CommonMark, raw HTML allowed, as a browser would meet it) to see what a viewer would get.
GitHub-only constructs (autolinks) and Streamlit's directives are checked on the source.
tests/dashboard/test_dashboard_browser.py checks the same store in Chromium.
"""

from __future__ import annotations

import html
import re

import hostile
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from collector.store import db as store_db
from dashboard import charts

RENDER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# What hostile data would turn into if it were read as Markdown / HTML.
FORBIDDEN = re.compile(
    r"<(strong|em|b|a|script|svg|img|h[1-6]|li|del|table|code)[\s>]|<[a-z][^>]*\son\w+=",
    re.IGNORECASE,
)
# Constructs markdown-it's CommonMark does not know but Streamlit's renderer does: GitHub's
# autolinks are found in the text once escapes are resolved, directives and LaTeX in the source.
AUTOLINK = re.compile(r"https?://|www\.|[\w.+-]@[\w-]", re.IGNORECASE)
UNESCAPED = (":red[", "$x^2$")
JOINER = "\u2060"  # dashboard.text's autolink breaker: invisible, ignored when reading


def _sources(at: AppTest) -> list[tuple[str, str]]:
    """(what, markdown source) of every element Streamlit renders as Markdown."""
    out: list[tuple[str, str]] = []
    for kind in ("title", "header", "subheader", "markdown", "caption"):
        out += [(kind, str(e.value)) for e in at.get(kind)]
    for kind in ("error", "warning", "info", "success"):
        out += [(kind, str(e.value)) for e in at.get(kind)]
    for m in at.metric:
        out += [("metric label", m.proto.label), ("metric value", m.proto.body)]
        out += [("metric help", m.proto.help)] if m.proto.help else []
    out += [("page link", e.proto.label) for e in at.get("page_link")]
    return out


def _text(source: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", RENDER.render(source))).strip()


def _assert_literal(at: AppTest, where: str) -> list[str]:
    """No element of the page turns data into markup; returns the texts a viewer reads."""
    assert not at.exception, (where, at.exception)
    texts = []
    for what, source in _sources(at):
        if "PWNED" not in source and "evil" not in source:
            continue
        rendered = RENDER.render(source)
        assert not FORBIDDEN.search(rendered), (where, what, source, rendered)
        for construct in UNESCAPED:
            assert construct not in source, (where, what, construct, source)
        assert not AUTOLINK.search(_text(source)), (where, what, source)
        texts.append(_text(source).replace(JOINER, ""))
    return texts


@pytest.fixture
def planted(fleet):
    hostile.plant(fleet)
    return fleet


PAGES = (
    "views/overview.py",
    "views/alerts.py",
    "views/incidents.py",
    "views/firmware.py",
    "views/maintenance.py",
    "views/inventory.py",
    "views/audit.py",
)


def test_every_page_shows_hostile_store_strings_as_text(open_page, planted) -> None:
    for page in PAGES:
        _assert_literal(open_page(page, login="olga"), page)
    gw, term = planted.gateway_ids[0], planted.terminal_ids[0]
    at = open_page("views/detail.py", {"id": gw}, login="olga")
    texts = _assert_literal(at, gw)
    assert hostile.FIRMWARE in texts  # the Firmware metric, character for character
    assert f"Suspended: {hostile.REASON}" in texts
    info = at.dataframe[0].value.set_index("field")["value"]
    assert hostile.MERCHANT in info["merchant"]  # tables show text already
    at = open_page("views/detail.py", {"id": term}, login="olga")
    assert hostile.TERMINAL_FIRMWARE in _assert_literal(at, term)
    at = open_page("views/detail.py", {"id": hostile.SITE}, login="olga")
    assert f"site {hostile.SITE} {hostile.SITE_NAME}" in _assert_literal(at, hostile.SITE)


def test_a_hostile_id_in_the_url_is_echoed_as_text(open_page, planted) -> None:
    ident = "[PWNED](https://evil.example/u)**x**"
    at = open_page("views/detail.py", {"id": ident})
    assert f"No gateway, terminal or site with id or serial {ident!r}." in _assert_literal(
        at, "url"
    )


def test_sidebar_search_labels_are_text(open_page, planted) -> None:
    at = open_page("views/overview.py", {"q": "**PWNED-serial"})  # ids, serials: by prefix
    labels = [_text(e.proto.label).replace(JOINER, "") for e in at.sidebar.get("page_link")]
    assert any(hostile.SERIAL in label for label in labels), labels
    _assert_literal(at, "sidebar")


def test_down_sites_line_links_only_to_the_console() -> None:
    import pandas as pd

    sites = pd.DataFrame(
        {
            "site_id": ["S1](https://evil.example/s) **PWNED**", "S2&x=1#frag"],
            "status": ["down", "down"],
            "problem_sites": [2, 1],
        }
    )
    rendered = RENDER.render(charts.down_sites_line(sites))
    hrefs = re.findall(r'href="([^"]*)"', rendered)
    assert hrefs == [
        "/detail?id=S1%5D%28https%3A%2F%2Fevil.example%2Fs%29%20%2A%2APWNED%2A%2A",
        "/detail?id=S2%26x%3D1%23frag",
    ]
    assert "<strong>" not in rendered
    assert (
        _text(charts.down_sites_line(sites))
        .replace(JOINER, "")
        .startswith("Down: S1](https://evil.example/s) **PWNED** · S2&x=1#frag")
    )


def test_the_wall_shows_a_hostile_store_name_as_text(open_page, planted) -> None:

    conn = store_db.connect(planted.path)
    try:
        with conn:  # every gateway of the hostile store down, as the collector would say
            conn.execute(
                "UPDATE gateways SET status = 'down', suspended = 0 WHERE site_id = ?",
                (hostile.SITE,),
            )
    finally:
        conn.close()
    at = open_page("views/wall.py")
    assert not at.exception
    body = "".join(str(e.proto.body) for e in at.get("html"))
    assert f"{hostile.SITE} {html.escape(hostile.SITE_NAME)}</td>" in body
    assert html.escape(hostile.MERCHANT) in body
    assert "<img" not in body
