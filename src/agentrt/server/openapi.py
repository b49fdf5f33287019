"""The server's OpenAPI 3.1 document, generated from its routes and their pydantic models.

Nothing here is written by hand per endpoint: paths, methods, auth, request
bodies and responses come from the :class:`~agentrt.server.routing.Route`
declarations the app registers, schemas from the pydantic models they name
(JSON Schema 2020-12, which OpenAPI 3.1 uses as it is).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from agentrt._version import __version__
from agentrt.server.openai_models import ErrorResponse
from agentrt.server.routing import Route

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}/]+)}")
_ERROR_TEXT = {
    400: "Invalid request: the message names the path of each problem",
    401: "Missing or unknown API key",
    403: "Refused by a policy, a key without the route's scope, or an admin route with a non-admin key",
    404: "Unknown model, agent or route (another tenant's agent is unknown here too)",
    408: "The request body did not arrive within server.body_timeout",
    409: "The agent was terminated",
    413: "Request body larger than server.max_body",
    429: "A rate limit or budget (see Retry-After)",
    500: "Internal error",
    502: "The provider failed or refused the server's credentials",
    503: "Providers unavailable, a breaker open, or the server shutting down",
    504: "The provider did not answer in time",
}


def openapi_document(routes: Sequence[Route], *, title: str = "agentrt") -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``routes``."""
    keys, schemas = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, keys)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": "agentrt's HTTP API: OpenAI-compatible model calls through the runtime's policies, "
            "budgets and fallbacks; agents; operations. Authenticate with `Authorization: Bearer <key>` "
            "(keys from `agentrt keys create`).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def _schemas(routes: Sequence[Route]) -> tuple[dict[Any, Any], dict[str, Any]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorResponse, "serialization"): None}
    for route in routes:
        if route.error_shape is not None:
            wanted[(route.error_shape.model, "serialization")] = None
        if route.body is not None:
            wanted[(route.body, "validation")] = None
        for model in route.responses.values():
            if isinstance(model, type):
                wanted[(model, "serialization")] = None
        if route.events is not None:
            wanted[(route.events, "serialization")] = None
    keys, top = models_json_schema(list(wanted), ref_template=_REF)
    return keys, top.get("$defs", {})


def _json_content(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(route: Route, keys: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.name, "summary": route.summary, "tags": [route.tag]}
    if route.description:
        operation["description"] = route.description
    operation["security"] = [] if route.auth == "none" else [{"apiKey": []}]
    if route.scope is not None:
        operation["x-agentrt-scope"] = route.scope  # the API key needs this scope (server.api_keys[].scopes)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _PATH_PARAM.findall(route.path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(keys[(route.body, "validation")])}
    responses: dict[str, Any] = {}
    for status, model in route.responses.items():
        if isinstance(model, str):
            content: dict[str, Any] = {model: {"schema": {"type": "string"}}}
        else:
            content = _json_content(keys[(model, "serialization")])
        if status == 200 and route.events is not None:
            content["text/event-stream"] = {
                "schema": {"type": "string"},
                "description": f"Server-sent events, each `data:` a {route.events.__name__}",
            }
        responses[str(status)] = {
            "description": "Success" if status < 400 else _ERROR_TEXT.get(status, "Error"),
            "content": content,
        }
    errors = set(route.errors) | {500}
    if route.auth != "none":
        errors |= {401}
    if route.auth == "admin" or route.scope is not None:
        errors |= {403}
    if route.body is not None:
        errors |= {400, 408, 413}
    error_model = route.error_shape.model if route.error_shape is not None else ErrorResponse
    error_schema = _json_content(keys[(error_model, "serialization")])
    for status in sorted(errors):
        responses.setdefault(str(status), {"description": _ERROR_TEXT.get(status, "Error"), "content": error_schema})
    operation["responses"] = responses
    return operation
