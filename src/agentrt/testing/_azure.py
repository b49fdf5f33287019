"""The Azure OpenAI wire format: OpenAI's Chat Completions on deployment URLs, with Azure's errors.

Requests are OpenAI's (validated the same way), sent to
``/openai/deployments/{deployment}/chat/completions?api-version=...`` (the body's
``model`` may be left out: the deployment names it) or to the newer
``/openai/v1/chat/completions``. Credentials: the ``api-key`` header or an Entra
ID bearer token. Errors are Azure's: ``{"error": {"code": "401", "message": ...}}``
for the gateway's own refusals (bad key, unknown resource, missing
``api-version``), OpenAI's shape for the model's, and a 429 carries
``retry-after-ms`` beside ``Retry-After``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from agentrt.testing._neutral import ChatCall, Rejection
from agentrt.testing._openai import OpenAIDialect
from agentrt.testing._script import Api

__all__ = ["AzureDialect"]

_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)


class AzureDialect(OpenAIDialect):
    api: Api = "azure"

    def request_model(self, body: Any, path_model: str | None) -> str | None:
        return path_model or super().request_model(body, path_model)

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        return hmac.compare_digest(headers.get("api-key", ""), api_key) or hmac.compare_digest(
            headers.get("authorization", ""), f"Bearer {api_key}"
        )

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection:
        if isinstance(body, dict) and path_model and "model" not in body:
            body = {**body, "model": path_model}  # a deployment URL names the model
        return super().parse_chat(body, path_model, streaming_path)

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        return 401, {"error": {"code": "401", "message": _DENIED}}

    def not_found(self) -> tuple[int, dict[str, Any]]:
        """Azure's answer to a deployment URL without ``api-version``: the resource is not found."""
        return 404, {"error": {"code": "404", "message": "Resource not found"}}

    def content_filter_error(self) -> tuple[int, dict[str, Any]]:
        message = (
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
            "Please modify your prompt and retry."
        )
        filtered = {"filtered": True, "severity": "high"}
        inner = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": filtered,
            },
        }
        error = {"message": message, "type": None, "param": "prompt", "code": "content_filter", "status": 400}
        return 400, {"error": {**error, "innererror": inner}}
