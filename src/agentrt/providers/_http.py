"""The HTTP seam of the provider clients: one shared aiohttp session per client.

The session is created lazily, inside the running event loop, on the first
request (a client may be built before any loop runs, e.g. at configuration
time); its connector allows ``max_concurrency`` connections and keeps them
alive, so a busy provider reuses warm connections. Bodies are serialised and
parsed with orjson from bytes, the measured fast path (see DESIGN.md,
"Choices already measured").

Timeouts: a plain request must complete within the provider's ``timeout``; a
stream must connect within it and never stay silent longer than it (a long
answer that keeps streaming is not cut off).

Every failure leaves here as an :mod:`agentrt.errors` class: HTTP error
statuses through :func:`~agentrt.providers._errors.error_for_status`,
refused/reset/dropped connections and truncated bodies as
``ProviderUnavailable``, timeouts as ``ProviderTimeout``, a 200 that is not
JSON as ``ProviderUnavailable("malformed response ...")``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import aiohttp
import orjson
from yarl import URL

from agentrt._version import __version__
from agentrt.errors import ProviderBadRequest, ProviderError, ProviderTimeout, ProviderUnavailable, RuntimeStateError
from agentrt.providers._errors import ErrorReader, Redactor, error_for_status, malformed
from agentrt.providers._sse import SSEEvent, SSEParser

__all__ = ["HttpTransport", "RequestSigner"]

RequestSigner: TypeAlias = Callable[[str, str, bytes], Awaitable[Mapping[str, str]]]
"""``(method, url, body) -> headers`` added to one request: credentials that depend on the request
(AWS SigV4 signs the URL and the exact body) or that expire (a refreshed OAuth token)."""

_KEEPALIVE_SECONDS = 30.0
# Sent with every request (session defaults); a stream only changes what it accepts.
_DEFAULT_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class HttpTransport:
    """Sends JSON requests to one provider and maps every failure into agentrt's errors.

    States: idle (no session yet) → open (session created on first use) →
    closed (:meth:`aclose`; closing again is harmless, using it again raises
    ``RuntimeStateError``).
    """

    __slots__ = (
        "_base_url",
        "_closed",
        "_display_url",
        "_headers",
        "_loop",
        "_max_concurrency",
        "_plain_timeout",
        "_provider",
        "_reader",
        "_redact",
        "_session",
        "_signer",
        "_stream_timeout",
    )

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        max_concurrency: int,
        reader: ErrorReader,
        redact: Redactor,
        signer: RequestSigner | None = None,
    ) -> None:
        self._provider = provider
        self._signer = signer
        self._base_url = base_url.rstrip("/")
        # For messages: a URL may carry credentials (user:password@, ?key=); they never appear.
        self._display_url = str(URL(self._base_url).with_user(None).with_query(None))
        self._headers = {"user-agent": f"agentrt/{__version__}", **_DEFAULT_HEADERS, **headers}
        self._max_concurrency = max_concurrency
        self._reader = reader
        self._redact = redact
        # A timeout of 0 means "none" in the configuration's spirit of "no limit"; aiohttp wants None.
        limit = timeout or None
        self._plain_timeout = aiohttp.ClientTimeout(total=limit)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def display_url(self) -> str:
        """The base URL without credentials, fit for messages."""
        return self._display_url

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeStateError(
                f"provider client {self._provider!r} is closed; create a new one (or a new runtime)"
            )
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeStateError(
                    f"provider client {self._provider!r} is in use by another event loop; "
                    "create one client per event loop"
                )
            self._session = None  # its loop is gone, and its connections with it
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_concurrency, keepalive_timeout=_KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                json_serialize_bytes=orjson.dumps,
                raise_for_status=False,
            )
            self._loop = loop
        return self._session

    async def request_json(self, method: str, path: str, *, model: str | None, body: Any = None) -> Any:
        """Send ``body`` (JSON) to ``path`` and return the decoded JSON answer."""
        session = self._session_for_loop()
        data = self._serialise(body, model) if body is not None else None
        url = self._base_url + path
        headers = await self._signed(method, url, data, model)
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._plain_timeout,
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise self._status_error(response, raw, model)
        except ProviderError:
            raise
        except TimeoutError as err:  # aiohttp's timeouts are TimeoutError subclasses
            raise self._timeout(model) from err
        except (aiohttp.ClientError, OSError) as err:
            raise self._connection_error(err, model) from err
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise malformed(self._provider, model, "the body is not valid JSON") from None

    async def stream_events(self, path: str, *, model: str | None, body: Any) -> AsyncGenerator[SSEEvent, None]:
        """POST ``body`` and yield the server-sent events of the answer as they arrive.

        Use it inside ``contextlib.aclosing`` so that leaving early releases the
        connection at once. The caller checks the stream's own terminator: this
        generator just ends when the body ends.
        """
        parser = SSEParser()
        async with contextlib.aclosing(self.stream_chunks(path, model=model, body=body)) as chunks:
            async for chunk in chunks:
                for event in parser.feed(chunk):
                    yield event

    async def stream_chunks(
        self, path: str, *, model: str | None, body: Any, accept: str = "text/event-stream"
    ) -> AsyncGenerator[bytes, None]:
        """POST ``body`` and yield the answer's body in the pieces the network delivers.

        For streams that are not server-sent events (NDJSON, AWS event streams);
        failures are mapped as for :meth:`stream_events`.
        """
        session = self._session_for_loop()
        data = self._serialise(body, model)
        url = self._base_url + path
        headers = {**(await self._signed("POST", url, data, model) or {}), "accept": accept}
        try:
            async with session.post(url, data=data, headers=headers, timeout=self._stream_timeout) as response:
                if response.status >= 400:
                    raise self._status_error(response, await response.read(), model)
                async for chunk in response.content.iter_any():
                    yield chunk
        except ProviderError:
            raise
        except TimeoutError as err:
            raise self._timeout(model) from err
        except (aiohttp.ClientError, OSError) as err:
            raise self._connection_error(err, model) from err

    def error(self, status: int, body: bytes, *, model: str | None) -> ProviderError:
        """The error for an error object met inside a 200 answer (e.g. in the middle of a stream)."""
        return error_for_status(
            status, {}, body, provider=self._provider, model=model, reader=self._reader, redact=self._redact
        )

    async def aclose(self) -> None:
        """Close the session and its connections. Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # --- helpers ------------------------------------------------------------------

    async def _signed(self, method: str, url: str, data: bytes | None, model: str | None) -> Mapping[str, str] | None:
        if self._signer is None:
            return None
        try:
            # As aiohttp will send it: yarl normalises the escapes (%3A goes out as ":"), and a signature
            # covers the path exactly as sent.
            return await self._signer(method, str(URL(url)), data or b"")
        except ProviderError:
            raise
        except (OSError, ValueError) as err:  # e.g. a token endpoint that cannot be reached
            raise self._connection_error(err, model) from err

    def _serialise(self, body: Any, model: str | None) -> bytes:
        try:
            return orjson.dumps(body)
        except TypeError as err:  # orjson.JSONEncodeError is a TypeError
            raise ProviderBadRequest(
                f"{self._provider}: the request cannot be sent as JSON ({err}); "
                "pass only JSON values (str, numbers, bools, None, lists, dicts with str keys) in params",
                provider=self._provider,
                model=model,
            ) from None

    def _status_error(self, response: aiohttp.ClientResponse, raw: bytes, model: str | None) -> ProviderError:
        return error_for_status(
            response.status,
            response.headers,
            raw,
            provider=self._provider,
            model=model,
            reader=self._reader,
            redact=self._redact,
        )

    def _timeout(self, model: str | None) -> ProviderTimeout:
        where = f"{self._provider}: model {model!r}" if model else self._provider
        return ProviderTimeout(
            f"{where}: no answer from {self._display_url} within the timeout; "
            f"raise providers.{self._provider}.timeout or retry",
            provider=self._provider,
            model=model,
        )

    def _connection_error(self, err: BaseException, model: str | None) -> ProviderUnavailable:
        where = f"{self._provider}: model {model!r}" if model else self._provider
        if isinstance(err, aiohttp.ClientPayloadError):
            what = "the connection broke while the answer was being received"
        elif isinstance(err, aiohttp.ServerDisconnectedError):
            what = "the server closed the connection without answering"
        elif isinstance(err, aiohttp.ClientConnectorError):
            what = f"cannot connect ({err.os_error.strerror or type(err.os_error).__name__})"
        else:
            what = f"{type(err).__name__}: {self._redact(str(err)) or 'connection failed'}"
        return ProviderUnavailable(
            f"{where}: {what} at {self._display_url}; retry, and check that the provider is reachable",
            provider=self._provider,
            model=model,
        )
