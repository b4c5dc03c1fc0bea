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


# Imported once by the parent before it forks a child per module: other projects' packages
# (slow to import, and a cycle among them is not ours to find). Ours stay out of it, so each
# child imports its module first, as a fresh interpreter would.
THIRD_PARTY = (
    "pydantic",
    "pydantic_settings",
    "sqlalchemy",
    "alembic",
    "paho.mqtt.client",
    "prometheus_client",
    "psycopg",
    "influxdb_client",
    "pandas",
    "streamlit",
    "hypothesis",
)

# One child per module, forked from a parent that holds none of ours: a cycle only shows when
# its module comes first. A fresh interpreter per module took 6.5 minutes under load (each
# one importing pydantic, SQLAlchemy, Streamlit ... again); a fork shares what is imported.
_SCRIPT = """
import importlib, os, sys
for lib in THIRD_PARTY:
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
ours = [m for m in sys.modules if m.split(".")[0] in PACKAGES]
assert not ours, ours
bad = []
for m in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(m)
            code = 0
        except BaseException as exc:
            os.write(w, f"{type(exc).__name__}: {exc}".encode()[:2000])
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        why = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status:
        bad.append(m + ": " + (why or f"exit status {status}"))
print("\\n".join(bad))
"""


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert "collector.reconcile" in modules  # the list is the tree's, not an empty walk
    script = f"THIRD_PARTY = {THIRD_PARTY!r}\nPACKAGES = {PACKAGES!r}\n" + _SCRIPT
    r = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=280,
        check=True,
    )
    if r.stdout.strip():
        pytest.fail("modules that fail when imported first:\n" + r.stdout)


def test_a_module_with_an_import_cycle_is_found(tmp_path: Path) -> None:
    """The check itself: a cycle that only shows when one module is imported first."""
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg.b import B\nA = 1\n")
    (pkg / "b.py").write_text("from cyclepkg.a import A\nB = 2\n")
    script = "THIRD_PARTY = ()\nPACKAGES = ('cyclepkg',)\n" + _SCRIPT
    r = subprocess.run(
        [sys.executable, "-c", script, "cyclepkg.a", "cyclepkg.b"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert "cyclepkg.a: ImportError" in r.stdout
    assert "cyclepkg.b: ImportError" in r.stdout
