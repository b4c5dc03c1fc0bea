"""The console's languages: zh-CN and English, gettext style.

The English text is the message id: ``t("Terminals down")``, ``t("{n} of {total} down",
n=3, total=8)``. English is the id itself; zh-CN comes from the catalogs in
``dashboard/locales/``: one module per area (``zh_cn_overview.py``, ``zh_cn_alerts.py``,
...), each with ``MESSAGES: dict[str, str]``, merged here at import, so a new page brings its
own module and no two people edit one file. The same id in two modules with two texts is an
error at import (the console would say one thing on one page and another elsewhere).

``N_("...")`` marks an id defined in data (column labels, option labels) so that the
catalog test finds it; it returns the id unchanged and ``t()`` or ``value()`` translates it
where it is shown. ``value()`` shows a stored value (status ``down``, kind ``gateway_down``,
cause class ``fault``...) in the viewer's language; the stored value never changes.

Which language a viewer sees is chosen per session (``dashboard.ui``: ``?lang=``, the
sidebar, else --lang / POSFLEET_LANG) and kept in ``st.session_state``; ``t()`` reads it
there, so a fragment's refresh speaks the page's language too.
"""

from __future__ import annotations

import importlib
import pkgutil
from string import Formatter
from typing import Any

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "en"
LANG_NAMES = {"zh-CN": "中文", "en": "English"}  # each in its own language, never translated
SESSION_KEY = "lang"


class CatalogError(Exception):
    """Two catalog modules give one message id two different texts."""


def load_catalogs() -> dict[str, dict[str, str]]:
    """lang -> merged messages, from every ``dashboard.locales`` module named ``zh_cn_*``."""
    from dashboard import locales

    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(locales.__path__), key=lambda m: m.name):
        if not info.name.startswith("zh_cn_"):
            continue
        module = importlib.import_module(f"dashboard.locales.{info.name}")
        for msgid, text in module.MESSAGES.items():
            if msgid in merged and merged[msgid] != text:
                raise CatalogError(
                    f"message {msgid!r}: {origin[msgid]} says {merged[msgid]!r}, "
                    f"{info.name} says {text!r}; keep one"
                )
            merged[msgid], origin[msgid] = text, info.name
    return {"zh-CN": merged, "en": {}}


CATALOGS = load_catalogs()


def N_(msgid: str) -> str:  # gettext's name for "mark, translate later"
    return msgid


def translate(msgid: str, lang: str, **fields: Any) -> str:
    """``msgid`` in ``lang`` (the id itself where there is no entry), ``{name}`` filled in."""
    text = CATALOGS.get(lang, {}).get(msgid, msgid)
    return text.format(**fields) if fields else text


def current_lang() -> str:
    """The language of the Streamlit session running now (outside a session: the default)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx(suppress_warning=True)
        if ctx is None:
            return DEFAULT_LANG
        state = ctx.session_state  # SafeSessionState: no .get()
        lang = state[SESSION_KEY] if SESSION_KEY in state else None  # noqa: SIM401
    except Exception:  # no Streamlit, or no session: plain English
        return DEFAULT_LANG
    return lang if lang in LANGS else DEFAULT_LANG


def t(msgid: str, **fields: Any) -> str:
    """``msgid`` in the viewer's language."""
    return translate(msgid, current_lang(), **fields)


def value(stored: object) -> str:
    """A stored value (status, kind, class, ...) as the viewer reads it; '' for none."""
    if stored is None:
        return ""
    text = str(stored)
    if text in VALUES:
        return _value_text(text, current_lang())
    parts = text.split(", ")  # a list of values, e.g. a maintenance due reason
    if len(parts) > 1 and all(p in VALUES for p in parts):
        lang = current_lang()
        return LIST_SEPARATOR[lang].join(_value_text(p, lang) for p in parts)
    return text


def _value_text(stored: str, lang: str) -> str:
    if lang == "en":
        return VALUE_LABELS_EN.get(stored, stored)
    return translate(stored, lang)


LIST_SEPARATOR = {"zh-CN": "、", "en": ", "}


def fields_of(msgid: str) -> set[str]:
    """The ``{names}`` a message id takes (its translation must take the same)."""
    return {name for _, name, _, _ in Formatter().parse(msgid) if name}


# Stored values that pages show as they are: the status, kind, class... of rows. Each needs a
# zh-CN entry (tests/dashboard/test_i18n_catalog.py); ids, names and free text never pass here.
STATUS_VALUES = (
    N_("online"), N_("late"), N_("down"), N_("unknown"), N_("maintenance"), N_("suspended"),
    N_("decommissioned"),
)  # fmt: skip
SUBJECT_VALUES = (
    N_("gateway"), N_("terminal"), N_("site"), N_("region"), N_("model"), N_("merchant"),
    N_("gateways"), N_("terminals"), N_("regions"), N_("sites"),
)  # fmt: skip
ALERT_VALUES = (
    N_("firing"), N_("pending"), N_("suppressed"), N_("resolved"), N_("critical"),
    N_("warning"), N_("info"), N_("site_down"), N_("gateway_down"), N_("terminal_down"),
    N_("flapping"), N_("network_degraded"), N_("firmware_non_compliant"),
    N_("hardware_fault"), N_("clock_skew"), N_("maintenance_overdue"), N_("terminal_silent"),
    N_("txn_failure_spike"),
)  # fmt: skip
INCIDENT_VALUES = (
    N_("fault"), N_("planned"), N_("administrative"), N_("hardware"), N_("software"),
    N_("network"), N_("power"), N_("will"), N_("deadline"), N_("graceful"), N_("children"),
    N_("birth"), N_("heartbeat"), N_("admin"),
)  # fmt: skip
OTHER_VALUES = (
    N_("overdue"), N_("due_soon"), N_("ok"), N_("compliant"), N_("non-compliant"),
    N_("no policy"), N_("rotation"), N_("override"), N_("(nobody)"), N_("scope's zone"),
    N_("unacked"), N_("acked"), N_("viewer"), N_("operator"), N_("interval"), N_("receipts"),
    N_("battery"), N_("errors"), N_("firmware_end_of_support"),
)  # fmt: skip
# Maintenance task types (built-in; operator-defined ones show as typed), interval units and
# usage triggers (collector.schedules).
POLICY_VALUES = (
    N_("printer"), N_("inspection"), N_("cleaning"), N_("days"), N_("weeks"), N_("months"),
    N_("battery_health"),
)  # fmt: skip
VALUES = frozenset(
    (*STATUS_VALUES, *SUBJECT_VALUES, *ALERT_VALUES, *INCIDENT_VALUES, *OTHER_VALUES,
     *POLICY_VALUES)
)  # fmt: skip
# Stored values that are codes rather than words (``terminal_silent``): what an English reader
# sees. zh-CN has every stored value in its catalog; the other ones are their own English.
VALUE_LABELS_EN = {
    "site_down": "store down",
    "gateway_down": "gateway down",
    "terminal_down": "terminal down",
    "network_degraded": "network degraded",
    "firmware_non_compliant": "firmware not compliant",
    "hardware_fault": "hardware fault",
    "clock_skew": "clock skew",
    "maintenance_overdue": "maintenance overdue",
    "terminal_silent": "terminal silent (no sales)",
    "txn_failure_spike": "transaction failure spike",
    "due_soon": "due soon",
    "firmware_end_of_support": "firmware past end of support",
    "battery_health": "battery health",
}
