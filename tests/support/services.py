"""A missing real service (Mosquitto, Prometheus, Chromium, ...): a failure under CI and
scripts/test, a skip on a developer's machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("POSFLEET_REQUIRE_SERVICES") == "1"


def missing(what: str, fix: str = "run scripts/install-services") -> NoReturn:
    if required():
        pytest.fail(f"{what} is not installed: {fix}")
    pytest.skip(f"{what} not installed ({fix})")
