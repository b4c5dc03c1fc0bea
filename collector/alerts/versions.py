"""Firmware versions and the fleet policy (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

_TOKEN = re.compile(r"\d+|[A-Za-z]+")


def version_key(version: str) -> tuple[tuple[int, ...], int, tuple[tuple[int, int | str], ...]]:
    """Sort key: numbers compare as numbers ("1.10" > "1.9"), trailing zeros do not count
    ("1.2.0" == "1.2"), a release beats its pre-releases ("2.0" > "2.0-rc1"), a leading "v"
    is ignored."""
    tokens = _TOKEN.findall(version.strip().lower().removeprefix("v"))
    release: list[int] = []
    while tokens and tokens[0].isdigit():
        release.append(int(tokens.pop(0)))
    while release and release[-1] == 0:
        release.pop()
    rest = tuple((1, int(t)) if t.isdigit() else (0, t) for t in tokens)
    return tuple(release), 0 if rest else 1, rest


def compare(a: str, b: str) -> int:
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


@dataclass(frozen=True, slots=True)
class FirmwarePolicy:
    model: str
    min_version: str | None = None
    approved: frozenset[str] = field(default_factory=frozenset)
    end_of_support: datetime | None = None
    target: str | None = None  # the version to roll out (shown, not judged: min/approved are)

    def violation(self, version: str, now: datetime) -> str | None:
        """Why ``version`` breaks the policy, or None when compliant."""
        if self.end_of_support is not None and now >= self.end_of_support:
            return f"model {self.model} is past end of support ({self.end_of_support:%Y-%m-%d})"
        if self.approved and version not in self.approved:
            return f"version {version} is not approved for {self.model}"
        if self.min_version and compare(version, self.min_version) < 0:
            return f"version {version} is below the minimum {self.min_version}"
        return None
