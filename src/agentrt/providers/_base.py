"""What the HTTP clients share: configuration, the transport, secrets to keep out of messages."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from agentrt.config._catalog import PROVIDER_SECRET_FIELDS
from agentrt.errors import ConfigError, ConfigProblem
from agentrt.providers._errors import ErrorReader, Redactor, malformed
from agentrt.providers._http import HttpTransport, RequestSigner

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["HttpProviderClient", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """The usual rough token count of a text: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


class HttpProviderClient:
    """Base of the clients that speak a provider's HTTP API.

    Subclasses set ``kind``, ``default_base_url`` and ``option_names`` (the
    ``options`` they take: any other is a typo, refused as a ``ConfigError``) and
    implement the protocol methods; ``_auth_headers`` gives the credential
    headers, ``_request_signer`` the credentials computed per request, and
    ``_error_reader`` the provider's error shape.
    """

    kind: ClassVar[str]
    default_base_url: ClassVar[str]
    option_names: ClassVar[frozenset[str]] = frozenset({"drop_params"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        self.name = name
        self.section = section
        _check_option_names(name, section.options, self.option_names)
        api_key = section.api_key.get_secret_value() if section.api_key is not None else None
        self._api_key = api_key
        extra = {key.lower(): value.get_secret_value() for key, value in section.headers.items()}
        # Configured headers come last: a user may override what we send (e.g. anthropic-version).
        headers = {**self._auth_headers(api_key), **extra}
        # Every credential field, not only api_key (azure's ad_token, bedrock's AWS keys).
        fields = (getattr(section, field, None) for field in PROVIDER_SECRET_FIELDS)
        secrets = [*extra.values(), *(secret.get_secret_value() for secret in fields if secret is not None)]
        self._redact = Redactor(secrets)
        self._http = HttpTransport(
            provider=name,
            base_url=section.base_url or self.default_base_url,
            headers=headers,
            timeout=section.timeout,
            max_concurrency=section.max_concurrency,
            reader=self._error_reader(),
            redact=self._redact,
            signer=self._request_signer(),
        )

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        raise NotImplementedError

    def _error_reader(self) -> ErrorReader:
        raise NotImplementedError

    def _request_signer(self) -> RequestSigner | None:
        """Per-request credential headers (SigV4, refreshed tokens); None when the static headers suffice."""
        return None

    @property
    def options(self) -> Mapping[str, Any]:
        return self.section.options

    def _decode(self, data: bytes, model: str) -> dict[str, Any]:
        """One stream event's JSON object; anything else is a malformed response."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise malformed(self.name, model, "a stream event is not valid JSON") from None
        if not isinstance(event, dict):
            raise malformed(self.name, model, "a stream event is not a JSON object")
        return event

    async def aclose(self) -> None:
        """Close the connections. Idempotent."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self._http.display_url!r})"


def _check_option_names(provider: str, options: Mapping[str, Any], known: frozenset[str]) -> None:
    problems = []
    for key in options:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            ConfigProblem(
                f"providers.{provider}.options.{key}",
                f"unknown option; {hint}this kind takes: {', '.join(sorted(known))}",
            )
        )
    if problems:
        raise ConfigError(problems)
