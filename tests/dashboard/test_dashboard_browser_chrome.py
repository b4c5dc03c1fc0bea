"""Streamlit's own words in the console's language (issue #15): the CSV uploader, the hint
under a text box, the skip link; no English menu nor "View N more" (``dashboard.chrome``).

Read as a person reads the page in Chromium: the text of what is drawn, the generated
content (``::before``/``::after``) included and hidden elements left out (``SEEN``), and
Playwright's ``inner_text``. The console serves a store the real collector wrote from a
simulated fleet over a real Mosquitto (tests/support/shift.py); the admin (policies and
inventory imports are theirs) logs in. Every expected text comes from the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import shift

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

UPLOAD_MAX_MB = 200  # what the console takes in one CSV (dashboard.chrome.UPLOAD_MAX_MB)
# Streamlit 1.67's English (frontend FileUploader, InputInstructions, the sidebar's nav,
# the skip link), and the older uploader's.
ENGLISH = ("Upload", "per file", "Drag and drop", "Browse files", "Limit 200MB", "Press Enter",
           "View ", "Skip to main content")  # fmt: skip

# The text a person sees in ``root``: text nodes of drawn elements at a size above 0 and
# generated content, in document order; icons (a glyph drawn from a ligature word) left out.
SEEN = """(root) => {
  const out = [];
  // A box with display: contents has no box of its own (checkVisibility says false): its
  // children are drawn.
  const drawn = (el) => getComputedStyle(el).display === 'contents'
    || el.checkVisibility({opacityProperty: true});
  const pseudo = (el, which) => {
    const style = getComputedStyle(el, which);
    const content = style.content;
    if (!content || content === 'none' || content === 'normal') return;
    if (style.visibility !== 'visible' || parseFloat(style.fontSize) === 0) return;
    out.push(JSON.parse(content));
  };
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const el = node.parentElement;
      const style = getComputedStyle(el);
      const text = node.textContent.trim();
      if (text && style.visibility === 'visible' && parseFloat(style.fontSize) > 0) out.push(text);
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE || !drawn(node)) return;
    if (node.getAttribute('data-testid') === 'stIconMaterial') return;
    pseudo(node, '::before');
    node.childNodes.forEach(walk);
    pseudo(node, '::after');
  };
  walk(root);
  return out.join(' | ');
}"""


def seen(locator: Any) -> str:
    return str(locator.evaluate(SEEN))


def _english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if word in text]


def _drag_a_file_over(page: Any, zone: Any) -> None:
    """A CSV dragged from the desktop onto the zone: the events a browser sends."""
    data = page.evaluate_handle(
        """() => { const dt = new DataTransfer();
            dt.items.add(new File(['model\\n'], 'policies.csv', {type: 'text/csv'}));
            return dt; }"""
    )
    zone.dispatch_event("dragenter", {"dataTransfer": data})


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_csv_uploaders_and_hints_speak_the_viewers_language(
    fleet_store: shift.FleetStore, browser: Any, lang: str, tmp_path: Path
) -> None:
    store = fleet_store.copy(tmp_path / "posfleet.sqlite")
    with shift.console(store.db, tz=shift.VIEWER_TZ[lang]) as url:
        s = shift.Shift(store, browser, url, lang, tmp_path / "shots")
        page = shift._lead(s, "policies", s.tr("Firmware policies"))  # the admin, logged in
        try:
            choose = s.tr("Choose a file")
            size = s.tr("CSV file, at most {mb} MB", mb=UPLOAD_MAX_MB)
            uploaders = page.get_by_test_id("stFileUploader")
            assert uploaders.count() == 2  # firmware policies and maintenance schedules
            for i in range(2):
                box = uploaders.nth(i)
                box.scroll_into_view_if_needed()
                assert box.is_visible()
                text = seen(box)
                assert text == f"{s.tr('CSV with a header row')} | {choose} | {size}", text
                assert s.tr("CSV with a header row") in box.inner_text()
                if lang == "zh-CN":
                    assert _english_in(text) == [] == _english_in(box.inner_text()), text
                # The button is named in the viewer's language (what a screen reader says).
                assert box.get_by_role("button", name=choose, exact=True).count() == 1

            # A file dragged over the zone: the overlay says where to drop it.
            zone = uploaders.first.get_by_test_id("stFileUploaderDropzone")
            _drag_a_file_over(page, zone)
            drop = s.tr("Drop the file here")
            page.wait_for_function(
                f"(el) => ({SEEN})(el).includes({drop!r})", arg=zone.element_handle()
            )
            if lang == "zh-CN":
                assert _english_in(seen(zone)) == [] == _english_in(zone.inner_text())
            zone.dispatch_event("dragleave")

            # The hint under a text box being typed in, in a form and in the sidebar.
            target = page.locator(".st-key-fw_target")
            target.locator("input").fill("9.9")
            hint = target.get_by_test_id("InputInstructions")
            assert seen(hint) == s.tr("Press Enter to submit the form")
            sidebar = page.get_by_test_id("stSidebar")
            search = sidebar.get_by_label(s.tr("Search id, serial or merchant"))
            search.press_sequentially("GW")
            hint = sidebar.get_by_test_id("InputInstructions")
            assert seen(hint) == s.tr("Press Enter to apply")
            if lang == "zh-CN":
                assert _english_in(hint.inner_text()) == []

            # What a keyboard reaches first.
            page.keyboard.press("Escape")
            skip = page.get_by_test_id("stSkipToContent")
            assert seen(skip) == s.tr("Skip to main content")

            # No menu of Streamlit's; every page in the sidebar, none behind "View N more".
            assert page.get_by_test_id("stMainMenu").count() == 0
            nav = page.get_by_test_id("stSidebarNav")
            assert page.get_by_test_id("stSidebarNavViewButton").count() == 0
            for title in ("Inventory", "Audit log", "Wall screen"):  # past the first ten
                assert nav.get_by_role("link", name=s.tr(title), exact=True).is_visible(), title
            if lang == "zh-CN":
                assert _english_in(seen(sidebar)) == [], seen(sidebar)

            # The inventory import: the same uploader, same words.
            page.goto(f"{url}/{shift._lang_query(s, 'inventory')}")
            shift.settled(page, s.tr("Import"))
            box = page.get_by_test_id("stFileUploader")
            assert box.count() == 1
            text = seen(box)
            assert text == f"{s.tr('CSV with a header row')} | {choose} | {size}", text
            if lang == "zh-CN":
                assert _english_in(seen(page.locator("body"))) == [], seen(page.locator("body"))
        finally:
            page.context.close()
