"""OAuth access tokens for Vertex AI from google-auth credentials, refreshed off the event loop.

google-auth (the ``vertex`` extra) is imported only here, when a ``vertex``
provider is built. Its credentials refresh through a transport; rather than
require ``requests``, they get a small one over :mod:`urllib.request`, run in a
worker thread so the event loop never blocks on the token endpoint. One lock
makes concurrent calls share one refresh.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["CLOUD_PLATFORM", "TokenSource", "load_credentials"]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _transport() -> Any:
    from google.auth import exceptions, transport

    class _Response(transport.Response):
        def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
            self._status, self._headers, self._data = status, dict(headers), data

        @property
        def status(self) -> int:
            return self._status

        @property
        def headers(self) -> Mapping[str, str]:
            return self._headers

        @property
        def data(self) -> bytes:
            return self._data

    class _Request(transport.Request):
        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> _Response:
            request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            try:
                with urllib.request.urlopen(request, timeout=timeout or 30) as answer:
                    return _Response(answer.status, dict(answer.headers.items()), answer.read())
            except urllib.error.HTTPError as err:  # an error status is an answer google-auth reads
                return _Response(err.code, dict(err.headers.items()), err.read())
            except (OSError, ValueError) as err:
                raise exceptions.TransportError(f"cannot reach {url}: {err}") from err  # type: ignore[no-untyped-call]

    return _Request()


def load_credentials(credentials_file: str | None) -> tuple[Any, str | None]:
    """Service-account (or other) credentials from a JSON file, else Application Default Credentials;
    and the project they name, if any."""
    import google.auth
    from google.oauth2 import service_account

    if credentials_file:
        credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            credentials_file, scopes=[CLOUD_PLATFORM]
        )
        return credentials, credentials.project_id
    credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM])
    return credentials, project


class TokenSource:
    """A valid access token on demand: refreshed when missing or about to expire."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._lock = asyncio.Lock()
        self._request = _transport()

    async def token(self) -> str:
        if not self._credentials.valid:  # google-auth counts a token expiring within a few minutes as invalid
            async with self._lock:
                if not self._credentials.valid:
                    await asyncio.to_thread(self._credentials.refresh, self._request)
        return str(self._credentials.token)
