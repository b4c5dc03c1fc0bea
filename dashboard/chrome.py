"""Streamlit's own texts in the viewer's language.

Streamlit draws some words itself, in English only: the file uploader's button and size line
and its drop overlay, the "Press Enter to ..." hint under a text box, the skip link a
keyboard user reaches first. Streamlit 1.67 has no setting for them, so one style block
(``css()``, drawn by app.py on every page) hides each English text and shows the catalog's
instead as generated content (``::after``): a viewer and a screen reader get the
console's language; the element and its behaviour stay Streamlit's. The selectors are
Streamlit 1.67's ``data-testid`` names (frontend ``FileUploader``, ``InputInstructions``,
``stSkipToContent``); tests/dashboard/test_dashboard_browser_chrome.py reads the page as
Chromium draws it, so a Streamlit upgrade that renames them fails there.

What a viewer needs no text for is switched off instead: the top-right menu (Streamlit's
theme, print and screencast options; ``--client.toolbarMode minimal`` in dashboard.main)
and the sidebar's "View N more" (every page listed: ``st.navigation(expanded=True)``).
"""

from __future__ import annotations

from dashboard.i18n import t

# Every uploader in the console takes one CSV file of at most this size (``ui.csv_uploader``),
# which is what the size line says for it.
UPLOAD_MAX_MB = 200

_DROPZONE = '[data-testid="stFileUploaderDropzone"]'
_HINT = '[data-testid="InputInstructions"]'
# Streamlit's text sizes (theme fontSizes.sm), for a text whose element is set to size 0.
_SMALL = "0.875rem"


def css_string(text: str) -> str:
    """``text`` as a CSS string literal: everything but letters, digits and spaces as a hex
    escape, so no quote, backslash or ``</style>`` in a translation can end it."""
    out = "".join(ch if ch.isalnum() or ch == " " else f"\\{ord(ch):x} " for ch in text)
    return f'"{out}"'


def _replace(selector: str, text: str, size: str) -> str:
    """Hide ``selector``'s own text and show ``text`` after it, in the element's colour and
    weight. Hidden, not only shrunk: a hidden text is not read out nor copied."""
    return (
        f"{selector} {{ font-size: 0; visibility: hidden; }}\n"
        f"{selector}::after {{ content: {css_string(text)}; font-size: {size}; "
        "visibility: visible; }\n"
    )


def css() -> str:
    """The style block, in the language of this run (``t``)."""
    rules = [
        # The uploader's button: an icon, then its label in a Markdown container.
        f'{_DROPZONE} button [data-testid="stMarkdownContainer"] p {{ display: none; }}\n'
        f'{_DROPZONE} button [data-testid="stMarkdownContainer"]::after '
        f"{{ content: {css_string(t('Choose a file'))}; }}\n",
        # "200MB per file • CSV": a span in the instructions.
        _replace(
            f'{_DROPZONE} [data-testid="stFileUploaderDropzoneInstructions"] span',
            t("CSV file, at most {mb} MB", mb=UPLOAD_MAX_MB),
            _SMALL,
        ),
        # "Drag and drop a file here": drawn over the zone while a file is dragged over it,
        # in the zone's only child div without a test id.
        _replace(f"{_DROPZONE} > div:not([data-testid]) > span", t("Drop the file here"), _SMALL),
        # Under a text box being typed in: one span with the hint (none when Enter does
        # nothing); the box's own size and colour are kept (the text moves to the parent).
        f"{_HINT} > span:first-child {{ display: none; }}\n"
        f"{_HINT}:has(> span)::after {{ content: {css_string(t('Press Enter to apply'))}; }}\n"
        f'[data-testid="stForm"] {_HINT}:has(> span)::after '
        f"{{ content: {css_string(t('Press Enter to submit the form'))}; }}\n"
        f'[data-testid="stForm"] [data-testid="stTextArea"] {_HINT}:has(> span)::after '
        f"{{ content: {css_string(t('Press Ctrl+Enter (⌘+Enter on a Mac) to submit the form'))}; }}\n",
        _replace('[data-testid="stSkipToContent"]', t("Skip to main content"), "1rem"),
    ]
    return "<style>\n" + "".join(rules) + "</style>"
