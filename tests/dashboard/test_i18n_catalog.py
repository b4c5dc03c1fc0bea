"""Every string a person reads in the console goes through ``t()`` and exists in zh-CN.

An AST scan of dashboard/ (no Streamlit run): a string literal with letters in the text
arguments of a Streamlit element (titles, labels, captions, help, column labels, metric
labels, buttons, ...) or of the console's own helpers that show text (``ui.qp_select``,
``ui.need``) fails unless it is a ``t("...")`` / ``N_("...")`` message id or on the short
allow-list of non-text below. Then every message id used in code has a zh-CN entry with
the same ``{fields}``, and no entry is unused.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.alerts.model import AlertState
from collector.maintenance import DueState, Trigger
from collector.model import DetectedBy, Liveness, SubjectType
from collector.status import STATUSES
from dashboard import i18n

ROOT = Path(__file__).resolve().parents[2] / "dashboard"

# Streamlit elements (and console helpers) whose arguments a person reads.
DISPLAY = {
    "title", "header", "subheader", "caption", "write", "markdown", "text", "info",
    "warning", "error", "success", "toast", "exception", "metric", "button",
    "form_submit_button", "download_button", "link_button", "page_link", "text_input",
    "text_area", "number_input", "selectbox", "multiselect", "radio", "checkbox", "toggle",
    "date_input", "time_input", "file_uploader", "slider", "select_slider", "expander",
    "tabs", "popover", "spinner", "Page", "set_page_config", "Column", "TextColumn",
    "NumberColumn", "LinkColumn", "DatetimeColumn", "CheckboxColumn", "ProgressColumn",
    "SelectboxColumn", "DateColumn", "TimeColumn", "ListColumn", "line_chart", "bar_chart",
    "area_chart", "DataFrame", "qp_select", "need", "html",
}  # fmt: skip
# Keyword arguments that are not text: keys, file names, formats, chart columns, URLs.
NOT_TEXT_KW = {
    "key", "file_name", "mime", "type", "url_path", "page_icon", "icon", "layout", "on_click",
    "format", "display_text", "x", "y", "color", "query_params", "data", "height", "width",
    "index", "value", "step", "options", "format_func", "args", "kwargs", "disabled",
    "unsafe_allow_html", "use_container_width", "hide_index", "column_config", "default",
    "min_value", "max_value", "label_visibility", "delta_color", "delta_arrow", "border", "run_every",
    "columns",  # a frame's column ids: ui.table shows them under translated headers
}  # fmt: skip
# Positional arguments that are not text, by element: a page's script path, a URL key.
NOT_TEXT_POS = {
    "Page": {0},
    "qp_select": {1, 2},
    "need": {0, 1},
    "page_link": {0},
    "link_button": {1},
}
# Literals that are not words: icons, separators, formats.
ALLOWED = {":material/monitor_heart:", "L%d", "#"}
WORD = re.compile(r"[A-Za-z]{2,}")
WORD_FIELDS = re.compile(r"\{\w*\}")
MARKERS = {"t", "N_", "translate"}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _literals(node: ast.AST) -> Iterator[ast.Constant]:
    """String constants a person could read in ``node``: not message ids, not subscripts
    (``row["site_id"]``), not comparisons, not dict keys, not a format_func's options."""
    if isinstance(node, ast.Call) and _name(node.func) in MARKERS:
        # t("id", field=...): the id is translated; the fields are checked like any text.
        for kw in node.keywords:
            yield from _literals(kw.value)
        return
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        if node.value.id.isupper():  # a table of texts (T["title"]): shown without t()
            yield ast.Constant(f"untranslated {ast.unparse(node)}", lineno=node.lineno)
        return
    if isinstance(node, ast.Subscript | ast.Compare):
        return
    if isinstance(node, ast.Call) and _name(node.func) in {"md", "str", "int", "float", "len"}:
        for arg in node.args:
            yield from _literals(arg)
        return
    if isinstance(node, ast.Call):
        return  # another function's arguments are that function's business (and its text)
    if isinstance(node, ast.Dict):
        for v in node.values:
            yield from _literals(v)
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
        return
    for child in ast.iter_child_nodes(node):
        yield from _literals(child)


def untranslated(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name not in DISPLAY:
            continue
        has_format_func = any(kw.arg == "format_func" for kw in node.keywords)
        args = [
            a
            for i, a in enumerate(node.args)
            if i not in NOT_TEXT_POS.get(name, set()) and not (has_format_func and i == 1)
        ]
        args += [kw.value for kw in node.keywords if kw.arg not in NOT_TEXT_KW]
        for arg in args:
            for lit in _literals(arg):
                text = lit.value
                if WORD.search(text) and text not in ALLOWED:
                    found.append((lit.lineno, text))
    return found


def console_files() -> list[Path]:
    """The modules that put text on screen: pages, the app, the shared glue. Queries and
    the pure helpers return data, and charts take their words from the pages."""
    skip = {"i18n.py", "settings.py", "main.py", "serve.py", "text.py", "timefmt.py"}
    return sorted(
        p
        for p in [*ROOT.glob("*.py"), *ROOT.glob("views/*.py")]
        if p.name not in skip and not p.name.startswith("queries")
    )


def test_the_scan_catches_literals_outside_t() -> None:
    bad = untranslated(
        'st.title("Alerts")\n'
        'a.metric("Terminals down", f"{n} of {total}")\n'
        'st.caption(f"{total} entries")\n'
        'st.selectbox(t("Kind"), ["a"], help="Pick one")\n'
        'st.column_config.LinkColumn("subject", display_text="=(.*)$")\n'
        'ui.need(c, Role.OPERATOR, "edit incidents")\n'
        'st.info("x " + ("Log in" if c else "Log out"))\n'
        'st.title(T["title"])\n'
    )
    assert [text for _, text in bad] == [
        "Alerts", "Terminals down", " of ", " entries", "Pick one", "subject",
        "edit incidents", "Log in", "Log out", "untranslated T['title']",
    ]  # fmt: skip
    assert (
        untranslated(
            'st.title(t("Alerts"))\n'
            'st.metric(t("Terminals down"), t("{n} of {total}", n=n, total=total))\n'
            'st.text_input(t("Id"), key="detail_id", value=st.query_params.get("id", ""))\n'
            'st.Page("views/alerts.py", title=t("Alerts"), url_path="alerts")\n'
            'st.selectbox(t("Type"), ["terminal", "gateway"], format_func=value)\n'
            'st.write(row["site_id"])\n'
        )
        == []
    )


@pytest.mark.parametrize("path", console_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_string_a_person_reads_goes_through_t(path: Path) -> None:
    bad = untranslated(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.name}: text not passed through t(): {bad}"


def _msgids() -> dict[str, str]:
    """Every message id in dashboard/ (``t("...")``, ``N_("...")``) -> where it is used."""
    ids: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "locales" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and _name(node.func) in {"t", "N_"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                ids.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
    return ids


def test_every_message_id_has_a_chinese_text_and_every_entry_is_used() -> None:
    used = _msgids()
    zh = i18n.CATALOGS["zh-CN"]
    missing = {m: where for m, where in used.items() if not zh.get(m, "").strip()}
    assert not missing, f"no zh-CN text for: {missing}"
    assert not set(zh) - set(used), f"zh-CN entries no code uses: {sorted(set(zh) - set(used))}"


def test_translations_take_the_same_fields_and_are_chinese() -> None:
    for msgid, text in i18n.CATALOGS["zh-CN"].items():
        assert i18n.fields_of(text) == i18n.fields_of(msgid), msgid
        # "3 / 8" says "3 of 8" in Chinese too; "#" and "MTTR" are not words to translate.
        if WORD.search(WORD_FIELDS.sub("", msgid)) and msgid != "{n} of {total}":
            assert re.search(r"[\u4e00-\u9fff]", text), f"{msgid!r} -> {text!r} is not Chinese"


def test_every_stored_value_a_page_shows_is_translatable() -> None:
    kinds = {k.value for k in __import__("collector.alerts.model", fromlist=["Kind"]).Kind}
    stored = (
        set(STATUSES) | {s.value for s in Liveness} | {s.value for s in SubjectType}
        | {s.value for s in DetectedBy} | {s.value for s in AlertState}
        | {s.value for s in DueState} | {s.value for s in Trigger} | kinds
        | {"fault", "planned", "administrative", "hardware", "software", "network", "power"}
        | {"critical", "warning", "info"}
    )  # fmt: skip
    assert stored <= i18n.VALUES, sorted(stored - i18n.VALUES)


def test_t_fills_fields_and_falls_back_to_english() -> None:
    assert i18n.translate("{n} of {total}", "en", n=3, total=8) == "3 of 8"
    assert i18n.translate("{n} of {total}", "zh-CN", n=3, total=8) == "3 / 8"
    assert i18n.translate("Terminals down", "zh-CN") == "离线终端"
    assert i18n.translate("not a message id", "zh-CN") == "not a message id"


def test_one_id_with_two_texts_in_two_catalog_modules_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboard.locales

    for name, text in (("zh_cn_a", "甲"), ("zh_cn_b", "乙")):
        (tmp_path / f"{name}.py").write_text(f"MESSAGES = {{'Alerts': '{text}'}}\n", "utf-8")
    monkeypatch.setattr(dashboard.locales, "__path__", [str(tmp_path)])
    for name in ("zh_cn_a", "zh_cn_b"):
        monkeypatch.delitem(sys.modules, f"dashboard.locales.{name}", raising=False)
    with pytest.raises(i18n.CatalogError, match="zh_cn_a says '甲', zh_cn_b says '乙'"):
        i18n.load_catalogs()


def test_a_stored_value_or_list_of_values_is_shown_in_the_viewers_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(i18n, "current_lang", lambda: "zh-CN")
    assert i18n.value("gateway_down") == "网关离线"
    assert i18n.value("interval, receipts") == "保养周期到期、打印量达上限"
    assert i18n.value("GW000001") == "GW000001"  # ids are never translated
    assert i18n.value("interval, something else") == "interval, something else"
    assert i18n.value(None) == ""
    monkeypatch.setattr(i18n, "current_lang", lambda: "en")
    assert i18n.value("interval, receipts") == "interval, receipts"


def test_every_inventory_refusal_is_a_message_id_of_the_console() -> None:
    """collector.inventory refuses with message ids; the console marks the same ones."""
    from collector.inventory import MESSAGES
    from dashboard.inventory_text import REFUSALS

    assert sorted(REFUSALS) == sorted(MESSAGES)
