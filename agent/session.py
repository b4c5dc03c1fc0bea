"""The session number: persisted, and one higher on every connect (the Sparkplug bdSeq rule)."""

from __future__ import annotations

import os
from pathlib import Path


class SessionCounter:
    """A counter in a small file, written atomically so a power cut never rolls it back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def current(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            # A corrupt file must not reuse old numbers: start past anything plausible.
            return 0

    def next(self) -> int:
        value = self.current() + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"{value}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        return value
