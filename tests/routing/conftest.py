"""The routing tests' fixture: ``up``, a strict FakeUpstream per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentrt.testing import FakeUpstream


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream
