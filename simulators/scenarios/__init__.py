"""Scenario files (a timeline of POS faults), their library, and the runner.

``spec`` reads and checks a file, ``plan`` turns it into timed steps and ground truth
(deterministic for a seed), ``run`` plays it against a real broker and collector and scores
the collector's pages. The library lives in ``library/``; see docs/scenarios.md.
"""

from pathlib import Path

LIBRARY = Path(__file__).parent / "library"


def library() -> dict[str, Path]:
    """The shipped scenarios by name."""
    return {p.stem: p for p in sorted(LIBRARY.glob("*.toml"))}
