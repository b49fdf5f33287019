"""The ``bedrock`` kind: Amazon Bedrock's Converse and ConverseStream APIs, signed with SigV4.

::

    providers:
      bedrock:
        kind: bedrock
        region: eu-west-1                        # else AWS_REGION / AWS_DEFAULT_REGION
        aws_access_key_id: ${AWS_ACCESS_KEY_ID}  # else the AWS_* variables, read at start
        aws_secret_access_key: ${AWS_SECRET_ACCESS_KEY}
        aws_session_token: ${AWS_SESSION_TOKEN}  # temporary credentials only

Or, instead of AWS keys, a Bedrock API key: ``api_key: ${AWS_BEARER_TOKEN_BEDROCK}``
(the variable is also read when no credentials are configured), sent as a
bearer token; requests are then not signed.

``base_url`` defaults to ``https://bedrock-runtime.<region>.amazonaws.com``. A
model's provider-side ``name`` is the model id or an inference profile
(``anthropic.claude-3-5-haiku-20241022-v1:0``, ``eu.amazon.nova-lite-v1:0``, an
ARN); it is sent URL-encoded in the path, ``POST /model/<id>/converse`` or
``/converse-stream``. Every request is signed with our own SigV4
(:mod:`agentrt.providers._sigv4`, tested against AWS's test suite) for the
service ``bedrock``; no AWS SDK is needed. The body mapping is in
:mod:`agentrt.providers._bedrock_wire`.

A stream is AWS's binary event stream (:mod:`agentrt.providers._eventstream`):
``messageStart``, ``contentBlockStart`` (a tool call's id and name),
``contentBlockDelta`` (text, or a tool call's JSON input in fragments),
``contentBlockStop``, ``messageStop`` (the stop reason), ``metadata`` (the
usage). It ended normally when ``messageStop`` arrived; an exception event
(``throttlingException``, ``validationException``, ...) is mapped like the
same error answered over HTTP. Errors: ``ThrottlingException`` (429) →
``ProviderRateLimited``, ``ValidationException`` saying the input is too long →
``ContextLengthExceeded``, ``AccessDeniedException`` (403) and a bad signature →
``ProviderAuthError``, ``ServiceUnavailableException`` (503) and
``ModelErrorException`` (424, the model failed on this request) →
``ProviderUnavailable``.

Embeddings (``InvokeModel`` with each model's own body) are not part of
Converse: ``embed`` raises ``ProviderBadRequest`` saying so.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from pydantic import SecretStr

from agentrt.errors import ConfigError, ConfigProblem, ProviderBadRequest, ProviderError, ProviderUnavailable
from agentrt.providers._base import HttpProviderClient
from agentrt.providers._bedrock_wire import (
    CONTROLLED,
    STATUS_OF_EXCEPTION,
    converse_body,
    finish_reason,
    keep_reasoning,
    read_bedrock_error,
    usage_of,
)
from agentrt.providers._errors import ErrorReader, malformed, stream_ended_early
from agentrt.providers._eventstream import EventStreamError, EventStreamParser, Message
from agentrt.providers._http import RequestSigner
from agentrt.providers._params import ParamGuard, read_drop_params
from agentrt.providers._sigv4 import AwsCredentials, credentials_from_env, sign_request
from agentrt.providers._toolcalls import ToolCallAssembler
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    ProviderEmbeddings,
    ProviderResponse,
    ProviderStreamEvent,
    StreamFinish,
    TextDelta,
    ToolCall,
    Usage,
)

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["BedrockClient"]

_SERVICE = "bedrock"
_EVENT_STREAM = "application/vnd.amazon.eventstream"


class BedrockClient(HttpProviderClient):
    """A client of Bedrock's Converse API for one configured provider."""

    kind = "bedrock"
    default_base_url = ""  # from the region, below
    option_names = frozenset({"drop_params"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        region = section.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"providers.{name}.region",
                        "Bedrock needs an AWS region: set region (e.g. us-east-1) or the AWS_REGION variable",
                    )
                ]
            )
        self._region = region
        self._credentials: AwsCredentials | None = None
        bearer = os.environ.get("AWS_BEARER_TOKEN_BEDROCK") if not _has_aws_keys(section) else None
        if section.api_key is None and bearer:
            section = section.model_copy(update={"api_key": SecretStr(bearer)})
        if section.api_key is None:
            self._credentials = _credentials(name, section)
        elif _has_aws_keys(section):
            problem = "set api_key (a Bedrock API key) or the aws_* keys, not both: each authenticates"
            raise ConfigError([ConfigProblem(f"providers.{name}.api_key", problem)])
        if section.base_url is None:
            section = section.model_copy(update={"base_url": f"https://bedrock-runtime.{region}.amazonaws.com"})
        super().__init__(name, section)
        self._guard = ParamGuard(name, drop_params=read_drop_params(name, self.options), controlled=CONTROLLED)

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        # A Bedrock API key is a bearer token; without one, every request is signed (_request_signer).
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def _error_reader(self) -> ErrorReader:
        return read_bedrock_error

    def _request_signer(self) -> RequestSigner | None:
        credentials = self._credentials
        if credentials is None:
            return None  # an API key authenticates instead

        async def sign(method: str, url: str, body: bytes) -> Mapping[str, str]:
            # content-type is signed: it is fixed for these calls, and AWS's own SDKs sign it too.
            return sign_request(
                method,
                url,
                {"content-type": "application/json"},
                body,
                credentials=credentials,
                region=self._region,
                service=_SERVICE,
            )

        return sign

    @staticmethod
    def _path(model: str, operation: str) -> str:
        return f"/model/{quote(model, safe='')}/{operation}"

    # --- chat -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """One answer (``POST /model/<id>/converse``)."""
        body = converse_body(request, guard=self._guard)
        try:
            data = await self._http.request_json(
                "POST", self._path(request.model, "converse"), model=request.model, body=body
            )
        except ProviderBadRequest as err:
            raise _retryable_if_model_failed(err) from err
        try:
            content = data["output"]["message"]["content"]
            reason = data.get("stopReason")
        except (KeyError, TypeError):
            raise malformed(self.name, request.model, "no output.message.content in the answer") from None
        text: list[str] = []
        calls: list[ToolCall] = []
        reasoning: list[dict[str, Any]] = []
        cut_off = reason in ("max_tokens", "model_context_window_exceeded")
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict):
                continue
            if "reasoningContent" in block:
                reasoning.append(block)
            elif isinstance(block.get("text"), str):
                text.append(block["text"])
            elif isinstance(block.get("toolUse"), dict):
                use = block["toolUse"]
                arguments = use.get("input")
                if not use.get("name") or not isinstance(arguments, dict):
                    raise malformed(self.name, request.model, "a toolUse block without a name or an input object")
                calls.append(
                    ToolCall(
                        id=str(use.get("toolUseId") or f"call_{len(calls)}"), name=use["name"], arguments=arguments
                    )
                )
        keep_reasoning(calls, reasoning)
        return ProviderResponse(
            text="".join(text),
            tool_calls=calls,
            finish_reason=finish_reason(reason, has_calls=bool(calls)) if not cut_off else "length",
            usage=usage_of(data.get("usage")),
            model=request.model,
            raw=data,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """Stream one answer (``POST /model/<id>/converse-stream``); the last event is one ``StreamFinish``."""
        body = converse_body(request, guard=self._guard)
        model = request.model
        tool_calls = ToolCallAssembler(provider=self.name, model=model)
        usage = Usage()
        reason: str | None = None
        reasoning: dict[int, dict[str, Any]] = {}  # block index -> the reasoning block being assembled
        parser = EventStreamParser()
        path = self._path(model, "converse-stream")
        async with aclosing(self._chunks(path, model, body)) as chunks:
            async for chunk in chunks:
                try:
                    messages = parser.feed(chunk)
                except EventStreamError as err:
                    raise malformed(self.name, model, str(err)) from None
                for message in messages:
                    event_type, payload = self._event(message, model)
                    if event_type == "contentBlockStart":
                        use = (payload.get("start") or {}).get("toolUse")
                        if isinstance(use, dict):
                            index = int(payload.get("contentBlockIndex", 0))
                            yield tool_calls.add(index, id=use.get("toolUseId"), name=use.get("name"))
                    elif event_type == "contentBlockDelta":
                        delta = payload.get("delta") or {}
                        if isinstance(delta.get("text"), str) and delta["text"]:
                            yield TextDelta(delta["text"])
                        elif isinstance(delta.get("toolUse"), dict):
                            index = int(payload.get("contentBlockIndex", 0))
                            yield tool_calls.add(index, arguments=str(delta["toolUse"].get("input") or ""))
                        elif isinstance(delta.get("reasoningContent"), dict):
                            _add_reasoning(
                                reasoning, int(payload.get("contentBlockIndex", 0)), delta["reasoningContent"]
                            )
                    elif event_type == "messageStop":
                        reason = str(payload.get("stopReason") or "end_turn")
                    elif event_type == "metadata":
                        usage = usage_of(payload.get("usage"))
        if reason is None:
            raise stream_ended_early(self.name, model)
        cut_off = reason in ("max_tokens", "model_context_window_exceeded")
        finished = tool_calls.finish(cut_off=cut_off)
        keep_reasoning(finished, [{"reasoningContent": reasoning[i]} for i in sorted(reasoning)])
        yield StreamFinish(
            finish_reason="length" if cut_off else finish_reason(reason, has_calls=bool(finished)),
            usage=usage,
            tool_calls=finished,
            model=model,
        )

    async def _chunks(self, path: str, model: str, body: Any) -> AsyncGenerator[bytes, None]:
        async with aclosing(self._http.stream_chunks(path, model=model, body=body, accept=_EVENT_STREAM)) as chunks:
            try:
                async for chunk in chunks:
                    yield chunk
            except ProviderBadRequest as err:
                raise _retryable_if_model_failed(err) from err

    def _event(self, message: Message, model: str) -> tuple[str, dict[str, Any]]:
        """The event's type and JSON payload; an exception or error message raises its error."""
        headers = message.headers
        kind = headers.get(":message-type")
        if kind == "exception":
            name = str(headers.get(":exception-type") or "")
            raise self._stream_error(STATUS_OF_EXCEPTION.get(name, 500), message.payload, model)
        if kind == "error":
            text = str(headers.get(":error-message") or headers.get(":error-code") or "stream error")
            raise self._stream_error(500, orjson.dumps({"message": text}), model)
        payload = self._decode(message.payload, model) if message.payload else {}
        return str(headers.get(":event-type") or ""), payload

    def _stream_error(self, status: int, payload: bytes, model: str) -> ProviderError:
        return self._http.error(status, payload, model=model)

    # --- embeddings and check ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        raise ProviderBadRequest(
            f"{self.name}: model {request.model!r}: embeddings are not part of Bedrock's Converse API, which this "
            "provider speaks; use an OpenAI-compatible or Google provider for embeddings",
            provider=self.name,
            model=request.model,
        )

    async def check(self) -> str:
        """What is configured (endpoint, region, key id). Bedrock's runtime API has no free read-only call to
        prove the credentials with, and a Converse call would be charged, so none is made."""
        who = f"AWS key {self._credentials.access_key_id[:4]}..." if self._credentials else "a Bedrock API key"
        return f"{self._http.display_url}: region {self._region}, {who}"


def _retryable_if_model_failed(err: ProviderBadRequest) -> ProviderError:
    """Bedrock's 424 (ModelErrorException) is the model failing on this request, not a bad request: the same
    request may succeed on retry, so it is ``ProviderUnavailable``; any other 4xx stays as it was."""
    if err.status != 424:
        return err
    return ProviderUnavailable(
        f"{err.provider}: model {err.model!r}: the model failed while processing the request (Bedrock's "
        f"ModelErrorException, HTTP 424: {err}); retry or fall back to another model",
        provider=err.provider,
        model=err.model,
        status=424,
    )


def _add_reasoning(blocks: dict[int, dict[str, Any]], index: int, delta: dict[str, Any]) -> None:
    """Assemble a streamed reasoning block: its text and signature arrive as deltas, redacted content whole."""
    block = blocks.setdefault(index, {})
    if "redactedContent" in delta:
        block["redactedContent"] = delta["redactedContent"]
        return
    text = block.setdefault("reasoningText", {"text": ""})
    if isinstance(delta.get("text"), str):
        text["text"] += delta["text"]
    if isinstance(delta.get("signature"), str):
        text["signature"] = delta["signature"]


def _has_aws_keys(section: ProviderSection) -> bool:
    return section.aws_access_key_id is not None or section.aws_secret_access_key is not None


def _credentials(name: str, section: ProviderSection) -> AwsCredentials:
    key = section.aws_access_key_id.get_secret_value() if section.aws_access_key_id else None
    secret = section.aws_secret_access_key.get_secret_value() if section.aws_secret_access_key else None
    token = section.aws_session_token.get_secret_value() if section.aws_session_token else None
    if key and secret:
        return AwsCredentials(key, secret, token)
    if key or secret:
        missing = "aws_secret_access_key" if key else "aws_access_key_id"
        problem = "set both AWS keys, or neither (then the AWS_* variables are used)"
        raise ConfigError([ConfigProblem(f"providers.{name}.{missing}", problem)])
    from_env = credentials_from_env()
    if from_env is None:
        raise ConfigError(
            [
                ConfigProblem(
                    f"providers.{name}.aws_access_key_id",
                    "no AWS credentials: set aws_access_key_id and aws_secret_access_key "
                    "(e.g. ${AWS_ACCESS_KEY_ID}) or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables",
                )
            ]
        )
    return from_env
