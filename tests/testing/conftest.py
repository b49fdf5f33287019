"""Fixtures for the FakeUpstream tests: a fresh server per test, with an API key to check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from fake_upstream_support import API_KEY

from agentrt.testing import FakeUpstream


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(api_key=API_KEY) as up:
        yield up


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client, for what the SDKs hide: the raw wire, dropped connections, cut streams."""
    async with aiohttp.ClientSession() as s:
        yield s
