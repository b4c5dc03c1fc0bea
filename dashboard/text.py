"""Text from the store, shown as text: the one place the console escapes what it did not write.

Ids, names, firmware strings, reasons and notes arrive from terminals (telemetry), from
inventory CSVs and from operators. Streamlit reads Markdown in titles, headers, captions,
``st.write``, alerts, metric values and tooltips, and page-link labels; ``st.html`` and the
SVG charts read HTML. A firmware string ``**x** [support](https://evil.example)`` must show
those characters, never bold text nor a live link, on every page.

- ``md``: for any Markdown context. Every character that can open Markdown anywhere on a
  line is backslash-escaped (CommonMark lets any ASCII punctuation be escaped): emphasis,
  code, links and images, HTML tags and entities, tables, strikethrough, directives
  (``:red[...]``), LaTeX (``$``). What only opens a block at the start of a line (``-``,
  ``+``, ``1.``) is escaped there; line breaks become spaces, since every use is one line.
  GitHub's autolinks (``https://``, ``www.``, ``a@b.c``) are found in the text *after*
  escapes are resolved (mdast-util-gfm-autolink-literal), so no backslash stops them: a
  WORD JOINER (U+2060, invisible, zero width) is put inside ``://``, after ``www`` and after
  ``@``. It is the one change a viewer could notice, and only when copying such a string.
  Ids and versions (``gw-0001``, ``2.4.1``) keep their look.
- ``html``: for ``st.html`` and SVG: ``html.escape`` plus line breaks as character
  references, so a value cannot end an HTML block inside ``st.markdown`` either.
- ``url_param``: an id inside a link the console builds (``/detail?id=...``): percent-encoded
  whole, so it stays one parameter of our own relative link.
"""

from __future__ import annotations

import html as _html
import re
from urllib.parse import quote

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>()!|~$:&@{}#^])")
_MD_LINE_START = re.compile(r"^()([-+=]|\d+(?=[.)]))")
# Found in the escaped text: https\:// www. \@
_AUTOLINK = re.compile(r"(https?\\:)(?=//)|(www)(?=\.)|(\\@)", re.IGNORECASE)
WORD_JOINER = "\u2060"
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def md(value: object) -> str:
    """``value`` as literal text inside Markdown (None -> empty)."""
    if value is None:
        return ""
    # Leading blanks would open a code block; Markdown drops them anyway.
    text = _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)).lstrip())
    text = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, text)
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(m: re.Match[str]) -> str:
    lead, mark = m.group(1), m.group(2)
    if mark.isdigit():  # "1." / "1)" opens an ordered list: escape the dot, keep the number
        return lead + mark + "\\"
    return lead + "\\" + mark


def html(value: object) -> str:
    """``value`` as literal text inside HTML or SVG, attributes included (None -> empty)."""
    if value is None:
        return ""
    text = _html.escape(str(value), quote=True)
    return text.replace("\r", "&#13;").replace("\n", "&#10;")


def url_param(value: object) -> str:
    """``value`` percent-encoded for one query-string parameter of a console link."""
    return quote("" if value is None else str(value), safe="")
