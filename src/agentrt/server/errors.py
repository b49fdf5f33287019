"""Errors as HTTP answers: each agentrt error mapped to a status and OpenAI's error shape.

Every error response of the server has OpenAI's body::

    {"error": {"message": "...", "type": "...", "param": "...", "code": "...", "request_id": "..."}}

so OpenAI clients in any language raise their usual exception for it (the
official Python SDK: 400 ``BadRequestError``, 401 ``AuthenticationError``, 403
``PermissionDeniedError``, 404 ``NotFoundError``, 409 ``ConflictError``, 413 and
others ``APIStatusError``, 429 ``RateLimitError``, 5xx ``InternalServerError``).

The table, most specific class first (a class not listed takes its nearest
listed base class):

============================  ======  =============================================
error                         status  note
============================  ======  =============================================
UnknownModel                  404     ``code: model_not_found``, ``param: model``
CapabilityError               400     ``context_length_exceeded`` for the context
ModelError, ToolError         400
PromptError                   400     ``prompt_error``; ``invalid_prompt_input`` names the input
PolicyDenied                  403     names the rule and its reason
RateLimitExceeded             429     ``Retry-After`` from the limit's window
BudgetExceeded                429     ``Retry-After`` until the budget period resets
ProviderRateLimited           429     ``Retry-After`` as the provider asked
ProviderQuotaExceeded         429     ``insufficient_quota`` as OpenAI; ``x-should-retry: false``
CallFailed                    503     429 (``Retry-After``) or 504 when the last error was a limit or a timeout
CircuitOpen                   503     ``Retry-After`` when the breaker lets a trial through
ProviderUnavailable           503
ProviderTimeout               504
ContextLengthExceeded         400     ``context_length_exceeded``; ``x-should-retry: false``
ProviderBadRequest            400     the provider refused the request as invalid
ParamsRefused                 400     agentrt refused a parameter before sending (its message, its param)
ProviderAuthError, others     502     the server's upstream failed, not the client
AgentNotFound                 404
AgentTerminated               409
AgentTimeout                  504     an ask got no answer in time (the activity stays queued)
MailboxFull                   429     ``Retry-After: 1``
RuntimeStateError             503     the server is starting or shutting down
another retryable error       503
another agentrt error         500     its message (agentrt messages carry no secrets)
anything else                 500     a generic message with an id; the traceback is logged
============================  ======  =============================================

A provider's error (every ``ProviderError``) is told with a stable message per
code, never the provider's own text nor the configuration paths agentrt's
messages name: those go to the log (``http_upstream_error``, redacted). A
``CallFailed`` takes the status and code of its last attempt's error when
that one is the client's to act on (400, 429, 504). The body also carries
``request_id`` (the ``x-request-id`` of the answer), to quote when asking.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
import structlog

from agentrt import errors as e

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import web

__all__ = ["ErrorInfo", "HttpError", "describe_error", "error_body", "error_response"]

_log = structlog.get_logger("agentrt.server")


class HttpError(Exception):
    """A refusal the server decides itself (bad key, invalid body, unknown route): never leaves the server.

    Raised by routes and turned into an OpenAI-shaped response by the app's
    middleware; users of agentrt meet the response, not this class, so it is
    not part of :mod:`agentrt.errors`.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.info = ErrorInfo(status, message, type, code, param, headers or {}, close)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What an error response says: status, OpenAI's four fields, and extra headers (``Retry-After``)."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False
    """Close the connection after the answer: the request's body is broken or unfinished."""


# (status, OpenAI error type, code); looked up along the error's MRO, so order does not matter here.
_TABLE: dict[type[BaseException], tuple[int, str, str | None]] = {
    e.UnknownModel: (404, "invalid_request_error", "model_not_found"),
    e.CapabilityError: (400, "invalid_request_error", "unsupported_capability"),
    e.ModelError: (400, "invalid_request_error", None),
    e.ToolError: (400, "invalid_request_error", None),
    e.PromptInputError: (400, "invalid_request_error", "invalid_prompt_input"),
    e.PromptError: (400, "invalid_request_error", "prompt_error"),
    e.OutputValidationError: (502, "api_error", "output_validation_failed"),
    e.PolicyDenied: (403, "permission_error", "policy_denied"),
    e.RateLimitExceeded: (429, "rate_limit_error", "rate_limit_exceeded"),
    e.BudgetExceeded: (429, "insufficient_quota", "budget_exceeded"),
    e.PolicyError: (403, "permission_error", None),
    e.ProviderRateLimited: (429, "rate_limit_error", "upstream_rate_limited"),
    e.ProviderQuotaExceeded: (429, "insufficient_quota", "insufficient_quota"),
    e.CallFailed: (503, "server_error", "upstream_failed"),
    e.CircuitOpen: (503, "server_error", "circuit_open"),
    e.ProviderUnavailable: (503, "server_error", "upstream_unavailable"),
    e.ProviderTimeout: (504, "server_error", "upstream_timeout"),
    e.ContextLengthExceeded: (400, "invalid_request_error", "context_length_exceeded"),
    e.ProviderBadRequest: (400, "invalid_request_error", "upstream_rejected_request"),
    e.ProviderAuthError: (502, "api_error", "upstream_auth_failed"),
    e.ProviderError: (502, "api_error", "upstream_error"),
    e.AgentNotFound: (404, "not_found_error", "agent_not_found"),
    e.AgentTerminated: (409, "conflict_error", "agent_terminated"),
    e.AgentTimeout: (504, "server_error", "agent_timeout"),
    e.MailboxFull: (429, "rate_limit_error", "mailbox_full"),
    e.AgentError: (400, "invalid_request_error", None),
    e.RuntimeStateError: (503, "server_error", "not_running"),
}

_INTERNAL = (500, "server_error", "internal_error")


# What a client is told about a provider's failure: a stable message per code. The provider's own
# text (which may quote the request, name the account, or echo a config path such as
# `providers.oai.api_key`) goes only to the server's log, redacted like every log line.
_UPSTREAM_MESSAGES: dict[str | None, str] = {
    # Clients recognise this one by its words (LiteLLM's ContextWindowExceededError, which its
    # context-window fallbacks act on, looks for "is longer than the model's context length").
    "context_length_exceeded": "the input is longer than the model's context length: send fewer or shorter "
    "messages, or use a model with a larger context window",
    "upstream_rejected_request": "the model's provider refused the request as invalid: check the parameters "
    "sent for this model (the server's log has the provider's answer)",
    "insufficient_quota": "the model's provider reports the quota or credit of the server's account used up: "
    "the server's operator must add credit, or the model must be changed",
    "upstream_rate_limited": "the model's provider is rate limiting the server: retry later",
    "upstream_failed": "every model tried for this request failed: retry later (the server's log has the details)",
    "circuit_open": "the model's provider failed repeatedly and is paused: retry later",
    "upstream_unavailable": "the model's provider is unavailable: retry later",
    "upstream_timeout": "the model's provider did not answer in time: retry later",
    "upstream_auth_failed": "the server's credentials for the model's provider were refused: the server's "
    "operator must check them (the server's log has the details)",
    "upstream_error": "the model's provider failed: the server's log has the details",
}


def describe_error(exc: BaseException) -> ErrorInfo:
    """The HTTP answer for ``exc``. Unexpected errors are logged here with their traceback."""
    if isinstance(exc, HttpError):
        return exc.info
    if not isinstance(exc, e.AgentRTError):
        return _unexpected(exc)
    refused = exc.__cause__ if isinstance(exc, e.CallFailed) else exc
    if isinstance(refused, e.ParamsRefused):  # agentrt's own words, never the provider's: the client may read them
        no_resend = {"x-should-retry": "false"}
        message = refused.client_message
        return ErrorInfo(400, message, "invalid_request_error", "invalid_parameter", refused.param, no_resend)
    if isinstance(exc, e.ProviderError):
        return _upstream(exc)
    status, kind, code = _lookup(exc)
    message = exc.message
    param: str | None = None
    headers: dict[str, str] = {}
    if isinstance(exc, e.UnknownModel):
        param = "model"
    elif isinstance(exc, e.CapabilityError) and exc.capability == "context":
        code = "context_length_exceeded"
    elif isinstance(exc, e.RateLimitExceeded):
        _retry_after(headers, exc.retry_after)
    elif isinstance(exc, e.BudgetExceeded):
        if exc.resets_at is not None:
            _retry_after(headers, (exc.resets_at - datetime.now(UTC)).total_seconds())
        else:
            headers["x-should-retry"] = "false"  # a budget without a period never resets: waiting will not help
    elif isinstance(exc, e.MailboxFull):
        _retry_after(headers, 1.0)
    elif status == 500:
        if exc.retryable:
            status, kind, code = 503, "server_error", "temporarily_unavailable"
        else:
            _log.error("http_request_failed", error_type=type(exc).__name__, exc_info=exc)
    return ErrorInfo(status, message, kind, code, param, headers)


def _upstream(exc: e.ProviderError) -> ErrorInfo:
    """A provider's failure: its status and code by class, a stable message; the detail to the log."""
    cause = exc.__cause__ if isinstance(exc, e.CallFailed) else None
    status, kind, code = _lookup(exc)
    if isinstance(cause, e.ProviderError) and not isinstance(cause, e.CallFailed):
        # Every attempt failed; the last one's kind says what the client should do.
        cause_status, cause_kind, cause_code = _lookup(cause)
        if cause_status < 500 or cause_status == 504:
            status, kind, code = cause_status, cause_kind, cause_code
    decisive = cause if isinstance(cause, e.ProviderError) and status != 503 else exc
    headers: dict[str, str] = {}
    if isinstance(decisive, e.ProviderRateLimited | e.CircuitOpen):
        _retry_after(headers, decisive.retry_after)
    if code in ("insufficient_quota", "context_length_exceeded", "upstream_rejected_request"):
        headers["x-should-retry"] = "false"  # the openai SDK would resend it otherwise; the same answer would come
    _log.warning(
        "http_upstream_error",
        status=status,
        code=code,
        error_type=type(exc).__name__,
        cause_type=type(cause).__name__ if cause is not None else None,
        error=str(exc),
        cause=str(cause) if cause is not None else None,
        provider=getattr(decisive, "provider", None),
        model=getattr(decisive, "model", None),
    )
    message = _UPSTREAM_MESSAGES.get(code, _UPSTREAM_MESSAGES["upstream_error"])
    return ErrorInfo(status, message, kind, code, None, headers)


def _lookup(exc: e.AgentRTError) -> tuple[int, str, str | None]:
    for cls in type(exc).__mro__:
        entry = _TABLE.get(cls)
        if entry is not None:
            return entry
    return _INTERNAL


def _retry_after(headers: dict[str, str], seconds: float | None) -> None:
    # Whole seconds, at least 1: HTTP's Retry-After has no fractions, and 0 invites a busy loop.
    if seconds is not None and math.isfinite(seconds):
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))


def _unexpected(exc: BaseException) -> ErrorInfo:
    error_id = secrets.token_hex(6)
    _log.error("http_unexpected_error", error_id=error_id, error_type=type(exc).__name__, exc_info=exc)
    return ErrorInfo(
        500,
        f"internal server error (id {error_id}): the server logged the details under this id",
        *_INTERNAL[1:],
    )


def error_body(info: ErrorInfo, request_id: str | None = None) -> bytes:
    """OpenAI's error JSON for ``info``, and the request's id (to quote when asking about it)."""
    return orjson.dumps(
        {
            "error": {
                "message": info.message,
                "type": info.type,
                "param": info.param,
                "code": info.code,
                "request_id": request_id,
            }
        }
    )


def error_response(
    info: ErrorInfo,
    *,
    request_id: str | None = None,
    body: Callable[[ErrorInfo, str | None], bytes] | None = None,
) -> web.Response:
    """A JSON response in OpenAI's error shape (or the one ``body`` writes), with ``info``'s status and headers."""
    from aiohttp import web

    headers = dict(info.headers)
    if info.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if request_id is not None:
        headers["x-request-id"] = request_id
    response = web.Response(
        status=info.status,
        body=(body or error_body)(info, request_id),
        content_type="application/json",
        headers=headers,
    )
    if info.close:
        response.force_close()  # the rest of a broken or late body would otherwise be read and thrown away
    return response
