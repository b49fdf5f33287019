"""Shared constants and raw-HTTP helpers for the FakeUpstream tests.

(A plain module, imported as ``fake_upstream_support``: the tests/ folders have no
``__init__.py``, so its basename is unique across the tree.)
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

API_KEY = "test-key-123"

OPENAI_HEADERS = {"Authorization": f"Bearer {API_KEY}"}
ANTHROPIC_HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
GOOGLE_HEADERS = {"x-goog-api-key": API_KEY}

OPENAI_CHAT = "/v1/chat/completions"
ANTHROPIC_MESSAGES = "/v1/messages"
GEMINI_GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def openai_body(text: str = "hi", *, model: str = "gpt-4o-mini", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}


def anthropic_body(text: str = "hi", *, model: str = "claude-haiku-4-5", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}], "stream": stream}


def gemini_body(text: str = "hi") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


async def post_json(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``body`` and return the status and the decoded JSON answer."""
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def sse_data(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> list[str]:
    """POST for a stream and return the payload of each ``data:`` line, in order."""
    async with session.post(url, json=body, headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        return [
            line.decode().removeprefix("data: ").rstrip()
            async for line in response.content
            if line.startswith(b"data: ")
        ]


async def sse_events(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> list[str]:
    """POST for a stream and return the name of each ``event:`` line, in order."""
    async with session.post(url, json=body, headers=headers) as response:
        return [
            line.decode().removeprefix("event: ").rstrip()
            async for line in response.content
            if line.startswith(b"event: ")
        ]
