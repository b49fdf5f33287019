"""The ``azure`` kind: Azure OpenAI, the OpenAI client's wire format on Azure's deployment URLs.

::

    providers:
      azure:
        kind: azure
        base_url: https://my-resource.openai.azure.com   # the resource endpoint
        api_key: ${AZURE_OPENAI_API_KEY}                  # the api-key header; or:
        # ad_token: ${AZURE_OPENAI_AD_TOKEN}              # a Microsoft Entra ID token (bearer)
        options:
          api_version: 2024-10-21                        # the default; "v1" for the /openai/v1/ API

A model's provider-side ``name`` is the *deployment* name. Requests go to
``/openai/deployments/<deployment>/chat/completions?api-version=<version>``
(and ``/embeddings``); with ``api_version: v1`` they go to Azure's newer
OpenAI-compatible ``/openai/v1/chat/completions``, the deployment named by the
body's ``model``. Bodies, streams and answers are OpenAI's
(:class:`~agentrt.providers.openai.OpenAIClient` does all of it; this class only
changes paths, credentials and error reading).

Credentials: ``api_key`` is sent as the ``api-key`` header; ``ad_token`` (an
Entra ID access token, e.g. from ``az account get-access-token --resource
https://cognitiveservices.azure.com``) as ``Authorization: Bearer``; or
``options.ad_token_provider: "my_module:get_token"``, a function (plain or
async, no arguments) called before every request for the current token, which
it is expected to cache and renew. Exactly one of the three. Entra tokens expire
(about an hour), so long-running processes want the provider; with the
``azure-identity`` package it is two lines::

    from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    get_token = get_bearer_token_provider(DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default")

agentrt itself pulls in no token-fetching dependency. A synchronous provider
runs in a worker thread, so a token refresh never blocks the event loop.

Errors: Azure's own ``{"error": {"code": "429", "message": "... Please retry
after 6 seconds."}}`` are read as well as OpenAI's; a 429's ``retry-after-ms``
and ``Retry-After`` headers, or the "retry after N seconds" in its message, set
``retry_after``; a ``content_filter`` refusal of the prompt is a
``ProviderBadRequest`` that says so (not retried: the same prompt is filtered
again).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agentrt.errors import ConfigError, ConfigProblem, ProviderAuthError
from agentrt.providers._errors import ErrorInfo, ErrorReader
from agentrt.providers._http import RequestSigner
from agentrt.providers.openai import OpenAIClient, read_openai_error

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIClient", "read_azure_error"]

DEFAULT_API_VERSION = "2024-10-21"
"""The latest generally available data-plane version of Azure OpenAI when this was written."""

_VERSION = re.compile(r"^(v1|\d{4}-\d{2}-\d{2}(-preview)?|preview|latest)$")
_RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


class AzureOpenAIClient(OpenAIClient):
    """A client of one Azure OpenAI resource."""

    kind = "azure"
    default_base_url = ""  # a resource endpoint is required
    option_names = OpenAIClient.option_names | {"api_version", "ad_token_provider"}

    def __init__(self, name: str, section: ProviderSection) -> None:
        problems = []
        if not section.base_url:
            problems.append(
                ConfigProblem(
                    f"providers.{name}.base_url",
                    "Azure OpenAI needs the resource endpoint, e.g. https://my-resource.openai.azure.com",
                )
            )
        given = [key for key in ("api_key", "ad_token") if getattr(section, key) is not None]
        given += ["options.ad_token_provider"] if "ad_token_provider" in section.options else []
        if len(given) > 1:
            problems.append(
                ConfigProblem(
                    f"providers.{name}.{given[1]}",
                    f"set one of api_key, ad_token, options.ad_token_provider, not {' and '.join(given)}: "
                    "each authenticates",
                )
            )
        self._token_provider: Callable[[], Any] | None = None
        if "ad_token_provider" in section.options:
            provider = _import_token_provider(name, section.options["ad_token_provider"])
            if isinstance(provider, ConfigProblem):
                problems.append(provider)
            else:
                self._token_provider = provider
        version = section.options.get("api_version", DEFAULT_API_VERSION)
        if not isinstance(version, str) or not _VERSION.match(version):
            problems.append(
                ConfigProblem(
                    f"providers.{name}.options.api_version",
                    f"expected an Azure OpenAI API version such as {DEFAULT_API_VERSION}, 2025-04-01-preview or v1, "
                    f"got {version!r}",
                )
            )
        if problems:
            raise ConfigError(problems)
        self._api_version = str(version)
        base = str(section.base_url).rstrip("/")
        # An endpoint given with its /openai suffix (as some portals show it) is the same resource.
        section = section.model_copy(update={"base_url": base.removesuffix("/openai")})
        super().__init__(name, section)

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        token = self.section.ad_token
        if token is not None:
            return {"authorization": f"Bearer {token.get_secret_value()}"}
        return {"api-key": api_key} if api_key else {}

    def _error_reader(self) -> ErrorReader:
        return read_azure_error

    def _request_signer(self) -> RequestSigner | None:
        provider = self._token_provider
        if provider is None:
            return None

        async def authorize(method: str, url: str, body: bytes) -> Mapping[str, str]:
            try:
                token = await provider() if inspect.iscoroutinefunction(provider) else await asyncio.to_thread(provider)
            except Exception as err:  # the user's code (e.g. azure-identity) could not get a token
                raise ProviderAuthError(
                    f"{self.name}: options.ad_token_provider failed ({type(err).__name__}: {err}); check the Entra ID "
                    "credentials it uses",
                    provider=self.name,
                ) from err
            if not isinstance(token, str) or not token:
                raise ProviderAuthError(
                    f"{self.name}: options.ad_token_provider returned {type(token).__name__}, not a token (a str)",
                    provider=self.name,
                )
            return {"authorization": f"Bearer {token}"}

        return authorize

    def _path(self, operation: str, model: str | None) -> str:
        if self._api_version == "v1":
            return "/openai/v1" + operation
        if model is None:  # the resource's model list
            return f"/openai{operation}?api-version={self._api_version}"
        return f"/openai/deployments/{quote(model, safe='')}{operation}?api-version={self._api_version}"


def _import_token_provider(name: str, target: Any) -> Callable[[], Any] | ConfigProblem:
    path = f"providers.{name}.options.ad_token_provider"
    module_name, _, attribute = str(target).partition(":")
    if not module_name or not attribute:
        return ConfigProblem(path, f"expected 'module:function', got {target!r}")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except ImportError as err:
        return ConfigProblem(path, f"cannot import module {module_name!r} ({err})")
    except AttributeError:
        return ConfigProblem(path, f"module {module_name!r} has no {attribute!r}")
    if not callable(value):
        return ConfigProblem(path, f"{target!r} is a {type(value).__name__}, not a function returning a token")
    return value  # type: ignore[no-any-return]


def read_azure_error(body: Any) -> ErrorInfo | None:
    """Azure's error bodies: OpenAI's shape, or Azure's own ``{"error": {"code": "429", "message": ...}}``."""
    info = read_openai_error(body)
    if info is None:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = info.message
    if code == "content_filter":
        message = f"Azure's content filter refused the prompt: {message}"
    hint = _RETRY_AFTER.search(info.message)
    retry_after = float(hint.group(1)) if hint and info.retry_after is None else info.retry_after
    return ErrorInfo(
        message=message,
        code=info.code,
        context_length=info.context_length,
        retry_after=retry_after,
        quota_exhausted=info.quota_exhausted,
        bad_key=info.bad_key,
    )
