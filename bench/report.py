"""What a benchmark's result file carries besides its numbers: the headline figures that
docs/benchmarks.md shows (ratios against the same run's ceiling first, then absolute
figures), chosen by the benchmark itself and written with its result."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    label: str
    value: str
    against: str = ""  # ratios: what the figure is divided by


@dataclass
class Headline:
    ratios: list[Figure] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Headline:
        return cls(
            [Figure(**f) for f in data.get("ratios", [])],
            [Figure(**f) for f in data.get("figures", [])],
        )


def write_result(
    out: Path, result: dict[str, Any], headline: Callable[[dict[str, Any]], Headline]
) -> None:
    """Write ``result`` to ``out`` with its headline figures under ``"headline"``."""
    result["headline"] = asdict(headline(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def get(d: Any, path: str) -> Any:
    """``get(d, "a.b.0.c")``; None when any step is missing."""
    for key in path.split("."):
        if isinstance(d, list) and key.isdigit() and int(key) < len(d):
            d = d[int(key)]
        elif isinstance(d, dict) and key in d:
            d = d[key]
        else:
            return None
    return d


def fmt(v: Any, unit: str = "", digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        s = f"{int(v):,}"
    elif isinstance(v, float):
        s = f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    else:
        s = str(v)
    return f"{s} {unit}".strip()


def ratio(a: Any, b: Any, digits: int = 2) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "—"
    return f"{a / b:.{digits}f}"
