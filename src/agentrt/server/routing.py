"""What every route module declares: a :class:`Route` per endpoint, from which the app registers
its handlers, the middleware knows the auth a route needs, metrics take the route's template,
and the OpenAPI document is generated. One declaration, so the four cannot disagree."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from aiohttp import web
from pydantic import BaseModel

from agentrt.server.auth import ApiKey, ApiKeys
from agentrt.server.errors import ErrorInfo

if TYPE_CHECKING:
    from agentrt.calls import Principal
    from agentrt.runtime import Runtime

__all__ = ["API_KEY", "Auth", "ErrorShape", "Handler", "InFlight", "Route", "ServerContext", "principal_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["none", "key", "admin"]
"""``none``: anyone; ``key``: any configured API key; ``admin``: a key with ``admin: true``."""

API_KEY = web.RequestKey("agentrt_api_key", ApiKey)
"""Where the middleware puts the authenticated :class:`~agentrt.server.auth.ApiKey` of a request."""


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How a route writes its errors, when not in OpenAI's shape (Anthropic's, for ``/v1/messages``):
    ``body`` turns an error and the request id into the JSON body, ``model`` describes it in OpenAPI."""

    body: Callable[[ErrorInfo, str | None], bytes]
    model: type[BaseModel]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, path template, handler, and what the OpenAPI document says about it.

    ``responses`` maps a success status to its JSON body model, or to a media
    type for a body that is not JSON (``text/plain``). ``events`` is the model
    of each server-sent event when the route can answer with a stream.
    ``errors`` are the error statuses worth documenting.
    """

    method: str
    path: str
    handler: Handler
    name: str
    summary: str
    tag: str
    auth: Auth = "key"
    scope: str | None = None
    """The scope a key needs here (``chat``, ``agents:write``...); None: any key that passes ``auth``."""
    body: type[BaseModel] | None = None
    responses: Mapping[int, type[BaseModel] | str] = field(default_factory=dict)
    events: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    error_shape: ErrorShape | None = None
    """None: OpenAI's error shape, as every route but the Anthropic-compatible ones."""
    in_openapi: bool = True
    """False leaves the route out of ``/openapi.json`` (the dashboard's HTML pages)."""


class InFlight:
    """Counts the requests being handled, so a graceful shutdown knows when they are all done."""

    __slots__ = ("_idle", "count")

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight, for at most ``timeout`` seconds; True if that happened."""
        if self.count == 0:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        finally:
            self._idle = None
        return True


@dataclass(slots=True)
class ServerContext:
    """What the handlers of one app share: the runtime, the API keys, the requests in flight."""

    rt: Runtime
    keys: ApiKeys
    in_flight: InFlight = field(default_factory=InFlight)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a graceful stop begins: endless streams (agent events) end on it."""
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """What route modules need done when the app is cleaned up, after the drain (the MCP transport's stop)."""
    startups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """What route modules need started with the app (the dashboard's metrics sampler)."""


def principal_of(request: web.Request) -> Principal:
    """The principal of an authenticated request (set by the middleware for ``key`` and ``admin`` routes)."""
    return request[API_KEY].principal
