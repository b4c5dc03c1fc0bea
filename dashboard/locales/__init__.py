"""zh-CN catalogs of the console, one module per area (``zh_cn_<area>.py``, each with
``MESSAGES: dict[str, str]``, English id -> Chinese text), merged by ``dashboard.i18n``.
See docs/dashboard.md "Languages" for how to add one."""
