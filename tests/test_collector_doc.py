"""docs/collector.md lists every collector and alert setting by its full name and default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from collector.alerts.config import AlertSettings
from collector.config import CollectorSettings

DOC = Path(__file__).resolve().parents[1] / "docs" / "collector.md"
SETTINGS: list[tuple[type[BaseSettings], str]] = [
    (CollectorSettings, "POSFLEET_"),
    (AlertSettings, "POSFLEET_ALERT_"),
]


def _documented() -> dict[str, tuple[str, str]]:
    """variable -> (flag cell, default cell) from every ``| variable | ...`` table."""
    out: dict[str, tuple[str, str]] = {}
    header: list[str] = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not header:
            header = cells
            continue
        if header[0] != "variable" or set(cells[0]) <= {"-"}:
            continue
        row = dict(zip(header, cells, strict=True))
        for name in re.findall(r"`([^`]+)`", cells[0]):  # a shorthand (`_PORT`) names nothing
            out[name] = (row.get("flag", ""), row["default"])
    return out


DOCUMENTED = _documented()


def _shown(value: object) -> str:
    """A default as the doc writes it."""
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return json.dumps([_shown_number(v) for v in value]).replace('"', "")
    return str(value)


def _shown_number(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


FIELDS = [
    (f"{prefix}{name.upper()}", info.get_default(call_default_factory=True))
    for cls, prefix in SETTINGS
    for name, info in cls.model_fields.items()
]


@pytest.mark.parametrize(("variable", "default"), FIELDS, ids=[v for v, _ in FIELDS])
def test_every_setting_is_documented_by_its_full_name_with_its_default(
    variable: str, default: object
) -> None:
    assert variable in DOCUMENTED, f"docs/collector.md does not list {variable}"
    assert DOCUMENTED[variable][1].strip("`") == _shown(default), variable


def test_the_doc_lists_no_setting_that_does_not_exist() -> None:
    known = {v for v, _ in FIELDS}
    listed = {v for v in DOCUMENTED if v.startswith("POSFLEET_") and "*" not in v}
    assert listed <= known, listed - known


def test_documented_flags_are_the_collectors_flags() -> None:
    from collector.main import _parser

    run = _parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    flags = {s for a in run._actions for s in a.option_strings}
    for variable, (flag, _) in DOCUMENTED.items():
        for f in re.findall(r"`(--[\w-]+)`", flag):
            assert f in flags, (variable, f)
            dest = f[2:].replace("-", "_").upper()
            assert variable == f"POSFLEET_{dest}", (variable, f)
