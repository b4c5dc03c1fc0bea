"""dashboard.text: whatever a string holds, Markdown shows its characters (property test)."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from dashboard.text import WORD_JOINER, md

RENDER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
TAG = re.compile(r"<(?!/?p>)[^>]+>")  # any element but the paragraph around the text
ALPHABET = st.sampled_from([*"abc019 .-+=#*_`[]()<>!|~$:&@{}^\\/\"';%?\t", "www", "http"])


def _shown(source: str) -> str:
    out = RENDER.render(source)
    assert not TAG.search(out), (source, out)
    return html.unescape(re.sub(r"</?p>", "", out)).strip().replace(WORD_JOINER, "")


@settings(max_examples=500)
@given(st.lists(ALPHABET, max_size=30).map("".join))
def test_any_text_renders_as_its_own_characters(text: str) -> None:
    assert _shown(md(text)) == text.strip()


def test_html_escapes_tags_quotes_and_line_breaks() -> None:
    from dashboard.text import html as escape_html

    hostile = '"/><script>alert(1)</script>\n\n**x**'
    assert escape_html(hostile) == (
        "&quot;/&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#10;&#10;**x**"
    )
    # a blank line would end an HTML block inside st.markdown and start Markdown again
    assert "\n" not in escape_html("a\r\nb")
