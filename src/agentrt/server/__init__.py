"""agentrt's HTTP server: an OpenAI-compatible gateway, the agents API, and operations endpoints.

::

    from agentrt import Runtime
    from agentrt.server import serve

    Runtime.run(serve, "agentrt.yaml")   # what `agentrt serve` does

- ``POST /v1/chat/completions`` (streaming too), ``POST /v1/embeddings``,
  ``GET /v1/models``: any OpenAI client, with its base URL pointed here, gets
  the runtime's policies, budgets, fallbacks and logs;
- ``POST /v1/messages`` (Anthropic's Messages API: the anthropic SDK, Claude Code) and
  ``POST /v1/responses`` (OpenAI's Responses API, stored responses for
  ``previous_response_id``), for any configured model;
- ``/v1/agents``: create, tell, ask, read, terminate agents; their events as SSE;
- ``/healthz``, ``/readyz``, ``/metrics``, ``POST /admin/reload``, ``/openapi.json``.

Requests authenticate with ``Authorization: Bearer <key>``; keys are listed
under ``server.api_keys`` as SHA-256 hashes (``agentrt keys create``) and each
maps to the principal that policies see.

Names resolve on first use, so ``agentrt.server.keys`` (what ``agentrt keys``
needs) loads without aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentrt.server.app import create_app
    from agentrt.server.auth import ApiKey, ApiKeys
    from agentrt.server.errors import ErrorInfo, describe_error
    from agentrt.server.keys import config_line, hash_key, new_api_key
    from agentrt.server.openapi import openapi_document
    from agentrt.server.serving import HttpServer, serve

__all__ = [
    "ApiKey",
    "ApiKeys",
    "ErrorInfo",
    "HttpServer",
    "config_line",
    "create_app",
    "describe_error",
    "hash_key",
    "new_api_key",
    "openapi_document",
    "serve",
]

_EXPORTS = {
    "ApiKey": "agentrt.server.auth",
    "ApiKeys": "agentrt.server.auth",
    "ErrorInfo": "agentrt.server.errors",
    "HttpServer": "agentrt.server.serving",
    "config_line": "agentrt.server.keys",
    "create_app": "agentrt.server.app",
    "describe_error": "agentrt.server.errors",
    "hash_key": "agentrt.server.keys",
    "new_api_key": "agentrt.server.keys",
    "openapi_document": "agentrt.server.openapi",
    "serve": "agentrt.server.serving",
}


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'agentrt.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
