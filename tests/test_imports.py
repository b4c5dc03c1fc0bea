"""Every module of the product imports on its own, first, in a fresh interpreter.

A module imported first is how a command line (``python -m collector.reconcile``), a test file
run alone or a plugin meets it; an import cycle that only the usual order hides (the whole
suite imports ``collector.actions`` early) breaks them there. Found so: ``collector.reconcile``
imported first failed on its cycle through ``collector.actions.cases``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "collector", "dashboard", "notify", "simulators", "telemetry", "bench")


def _modules() -> list[str]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            if (
                parts[:2] == ("collector", "store")
                and "migrations" in parts[2:]
                and ("versions" in parts or parts[-1] == "env")
            ):
                continue  # Alembic runs these by path inside its own context, never imports
            if parts == ("dashboard", "app") or parts[:2] == ("dashboard", "views"):
                continue  # Streamlit page scripts: importing one runs the page
            out.append(".".join(parts))
    return out


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert "collector.reconcile" in modules  # the list is the tree's, not an empty walk
    # One interpreter per module (a cycle only shows when its module comes first), run in
    # one child that reports every failure, not just the first.
    script = (
        "import subprocess, sys\n"
        "bad = []\n"
        "for m in sys.argv[1:]:\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True,"
        " text=True)\n"
        "    if r.returncode:\n"
        "        bad.append(m + ': ' + (r.stderr.strip().splitlines() or ['?'])[-1])\n"
        "print('\\n'.join(bad))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        check=True,
    )
    if r.stdout.strip():
        pytest.fail("modules that fail when imported first:\n" + r.stdout)
