"""Errors logged by edge_agent (e.g. a handler exception swallowed to keep a connection alive) fail the test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_logged_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="edge_agent")
    yield
    errors = [r for r in caplog.records if r.name.startswith("edge_agent") and r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
