"""Fixtures for the deployment tests: the real promtool/amtool/Prometheus/Alertmanager."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.services import missing

from simulators.stack.prometheus import (
    TEST_INTERVALS,
    AlertmanagerProcess,
    StackError,
    amtool,
    find_program,
    promtool,
    render_alertmanager_config,
)
from simulators.stack.webhook import WebhookReceiver


def _need(path: str | None, what: str) -> str:
    if path is None:
        missing(what)
    return path


@pytest.fixture
def promtool_exe() -> str:
    return _need(promtool(), "promtool (Debian package prometheus)")


@pytest.fixture
def amtool_exe() -> str:
    return _need(amtool(), "amtool (Debian package prometheus-alertmanager)")


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: WebhookReceiver) -> Iterator[AlertmanagerProcess]:
    """The shipped Alertmanager config, test intervals, delivering to ``webhook``."""
    _need(
        find_program("prometheus-alertmanager", "alertmanager"),
        "Alertmanager (Debian package prometheus-alertmanager)",
    )
    config = render_alertmanager_config(webhook.url, TEST_INTERVALS, tmp_path / "am")
    try:
        am = AlertmanagerProcess(config, tmp_path / "am")
        am.start()
    except StackError as exc:
        pytest.fail(str(exc))
    try:
        yield am
    finally:
        am.stop()
