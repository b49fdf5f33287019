from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from server_support import Served, serving

from agentrt.testing import FakeUpstream


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
async def served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(up, tmp_path) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client, for what the openai SDK hides: status codes, headers, raw bodies."""
    async with aiohttp.ClientSession() as session:
        yield session
