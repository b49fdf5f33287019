"""Fixtures for the logging tests: ``configure`` closes every handle it made, so each test leaves
structlog and the stdlib root logger as it found them; context variables start empty."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
import structlog
from logsupport import Configure, Section

from agentrt.logging import LoggingHandle, configure_logging


@pytest.fixture
def configure() -> Iterator[Configure]:
    """``configure(section, secrets=...)``: configure_logging, closed again at teardown."""
    handles: list[LoggingHandle] = []

    def _configure(section: Section, *, secrets: Iterable[str] = ()) -> LoggingHandle:
        handle = configure_logging(section, secrets=secrets)
        handles.append(handle)
        return handle

    yield _configure
    for handle in handles:
        handle.close()


@pytest.fixture(autouse=True)
def _clean_contextvars() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
