"""The ``ollama`` kind: Ollama's native API (``/api/chat``, ``/api/embed``, ``/api/tags``).

``base_url`` defaults to ``http://127.0.0.1:11434``; no key is needed (an
``api_key``, for a server behind an authenticating proxy, is sent as a bearer
token). Ollama also serves an OpenAI-compatible ``/v1``; the native API is
used here because it reports the token counts of streams without asking and
takes the model options (``num_ctx``) the compatible one cannot.

How a :class:`~agentrt.types.ChatRequest` maps to the wire:

- messages with their roles; images → the message's ``images`` (base64, no
  ``data:`` prefix; Ollama fetches no URL, so a remote URL is refused);
  assistant tool calls → ``tool_calls`` with object arguments; tool results →
  role ``tool`` with ``tool_name`` (found from the matching call when the
  message does not name it);
- tools → OpenAI-style function tools; ``tool_choice`` has no Ollama equivalent:
  ``auto`` is what it does, ``none`` sends no tools, a forced choice is adjusted
  (a warning, or refused with ``drop_params: false``);
- ``response_format`` → ``format`` (the JSON schema, or ``"json"``);
- ``max_output_tokens``, ``temperature``, ``top_p``, ``stop`` → ``options``
  ``num_predict``, ``temperature``, ``top_p``, ``stop``; ``params``: ``options``
  (a dict, merged into ours), ``keep_alive`` and ``think`` at the top level, the
  model options by name (``num_ctx``, ``top_k``, ``seed``, ...) into ``options``;
  OpenAI-only names are dropped with a warning.

Answers: ``done_reason`` ``stop`` → ``stop`` (``tool_calls`` with calls),
``length`` → ``length``; usage from ``prompt_eval_count`` and ``eval_count``.
A stream is NDJSON, one object per line; it ended normally at ``done: true``.
Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson

from agentrt.providers._base import HttpProviderClient
from agentrt.providers._errors import ErrorInfo, ErrorReader, malformed, stream_ended_early
from agentrt.providers._media import inline_image
from agentrt.providers._params import CHAT_ONLY, OPENAI_ONLY, ParamGuard, read_drop_params
from agentrt.providers._toolcalls import ToolCallAssembler
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    ImagePart,
    Message,
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

__all__ = ["OllamaClient", "read_ollama_error"]

_TOP_LEVEL = frozenset({"keep_alive", "think", "options"})
_CONTEXT_WORDS = ("exceeds the context length", "context length", "input length exceeds")


class OllamaClient(HttpProviderClient):
    """A client of one Ollama server's native API."""

    kind = "ollama"
    default_base_url = "http://127.0.0.1:11434"
    option_names = frozenset({"drop_params"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name, section)
        self._guard = ParamGuard(
            name, drop_params=read_drop_params(name, self.options), controlled=("model", "messages", "stream")
        )

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def _error_reader(self) -> ErrorReader:
        return read_ollama_error

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        model = request.model
        params, cap = self._guard.split(request.params, request.max_output_tokens, model=model)
        options: dict[str, Any] = {}
        extra_options = params.pop("options", None)
        if isinstance(extra_options, dict):
            extra_options = dict(extra_options)
            own = {"num_predict": extra_options.pop("num_predict")} if "num_predict" in extra_options else {}
            cap = self._guard.cap(cap, own, model=model)
            options.update(extra_options)
        if cap is not None:
            options["num_predict"] = cap
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.top_p is not None:
            options["top_p"] = request.top_p
        stop = request.stop or params.pop("stop", None)
        if stop:
            options["stop"] = [stop] if isinstance(stop, str) else list(stop)
        seed = params.pop("seed", None)
        if seed is not None:
            options["seed"] = seed
        self._guard.drop(params, OPENAI_ONLY, model=model)
        for key in [key for key in params if key not in _TOP_LEVEL]:
            options[key] = params.pop(key)  # a model option by name (num_ctx, top_k, ...)
        body: dict[str, Any] = {"model": model, "messages": _messages(request.messages, self._guard, model)}
        tools = self._tools(request)
        if tools:
            body["tools"] = tools
        format_ = request.response_format
        if format_ is not None:
            body["format"] = format_.schema if format_.schema is not None else "json"
        if options:
            body["options"] = options
        body.update(params)
        body["stream"] = stream
        return body

    def _tools(self, request: ChatRequest) -> list[dict[str, Any]]:
        choice = request.tool_choice
        if not request.tools or choice == "none":
            return []
        if choice not in (None, "auto"):
            self._guard.relax(
                "tool_choice",
                f"Ollama cannot force a tool choice ({choice!r}); the tools are offered and the model chooses",
                model=request.model,
            )
        return [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in request.tools
        ]

    # --- chat -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """One answer (``POST /api/chat`` with ``stream: false``)."""
        body = self._body(request, stream=False)
        data = await self._http.request_json("POST", "/api/chat", model=request.model, body=body)
        if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
            raise malformed(self.name, request.model, "no message in the answer")
        message = data["message"]
        calls = [self._call(call, index, request.model) for index, call in enumerate(message.get("tool_calls") or ())]
        return ProviderResponse(
            text=str(message.get("content") or ""),
            tool_calls=calls,
            finish_reason=_finish_reason(data.get("done_reason"), has_calls=bool(calls)),
            usage=_usage(data),
            model=str(data.get("model") or request.model),
            raw=data,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """Stream one answer (NDJSON); the last event is one ``StreamFinish``."""
        body = self._body(request, stream=True)
        model = request.model
        tool_calls = ToolCallAssembler(provider=self.name, model=model)
        calls_seen = 0
        final: dict[str, Any] | None = None
        pending = b""
        chunks = self._http.stream_chunks("/api/chat", model=model, body=body, accept="application/x-ndjson")
        async with aclosing(chunks) as pieces:
            async for piece in pieces:
                *lines, pending = (pending + piece).split(b"\n")
                for line in lines:
                    if not line.strip() or final is not None:
                        continue
                    data = self._decode(line, model)
                    if "error" in data:
                        raise self._http.error(500, line, model=model)
                    message = data.get("message") or {}
                    if message.get("content"):
                        yield TextDelta(str(message["content"]))
                    for call in message.get("tool_calls") or ():
                        whole = self._call(call, calls_seen, model)
                        arguments = orjson.dumps(whole.arguments).decode()
                        yield tool_calls.add(calls_seen, id=whole.id, name=whole.name, arguments=arguments)
                        calls_seen += 1
                    if data.get("done"):
                        final = data
        if final is None and pending.strip():  # a last line without its newline
            data = self._decode(pending, model)
            final = data if data.get("done") else None
        if final is None:
            raise stream_ended_early(self.name, model)
        finished = tool_calls.finish(cut_off=final.get("done_reason") == "length")
        yield StreamFinish(
            finish_reason=_finish_reason(final.get("done_reason"), has_calls=bool(finished)),
            usage=_usage(final),
            tool_calls=finished,
            model=str(final.get("model") or model),
        )

    def _call(self, call: Any, index: int, model: str) -> ToolCall:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise malformed(self.name, model, "a tool call without a function name")
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):  # some models' templates give the arguments as JSON text
            try:
                arguments = orjson.loads(arguments) if arguments.strip() else {}
            except orjson.JSONDecodeError:
                raise malformed(
                    self.name, model, f"the arguments of tool call {function['name']!r} are not JSON"
                ) from None
        if not isinstance(arguments, dict):
            raise malformed(self.name, model, f"the arguments of tool call {function['name']!r} are not an object")
        # Ollama's calls have no id before 0.12 or so: a stable one is made from the position.
        return ToolCall(id=str(call.get("id") or f"call_{index}"), name=str(function["name"]), arguments=arguments)

    # --- embeddings and check ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        """Embed ``request.inputs`` (``POST /api/embed``); one vector per input, in order."""
        params = dict(request.params)
        if params:
            self._guard.drop(params, CHAT_ONLY, model=request.model, why=" in an embeddings request", always=True)
        body = {"model": request.model, "input": request.inputs, **params}
        data = await self._http.request_json("POST", "/api/embed", model=request.model, body=body)
        try:
            vectors = [[float(x) for x in vector] for vector in data["embeddings"]]
        except (KeyError, TypeError, ValueError):
            raise malformed(self.name, request.model, "no embeddings in the answer") from None
        if len(vectors) != len(request.inputs):
            raise malformed(self.name, request.model, f"{len(vectors)} vectors for {len(request.inputs)} inputs")
        return ProviderEmbeddings(
            vectors=vectors,
            usage=Usage(input_tokens=int(data.get("prompt_eval_count") or 0)),
            model=str(data.get("model") or request.model),
            raw=data,
        )

    async def check(self) -> str:
        """List the local models (``GET /api/tags``): proves the server answers."""
        data = await self._http.request_json("GET", "/api/tags", model=None)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise malformed(self.name, None, "no models[] in the model list")
        return f"{self._http.display_url}: {len(models)} models available"


def _messages(messages: list[Message], guard: ParamGuard, model: str) -> list[dict[str, Any]]:
    names: dict[str, str] = {}  # tool call id -> tool name, for results that do not name their tool
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            name = message.name or names.get(message.tool_call_id or "", "")
            out.append({"role": "tool", "content": message.text, "tool_name": name})
            continue
        item: dict[str, Any] = {"role": message.role, "content": message.text}
        if not isinstance(message.content, str):
            images = [_image(part, guard, model) for part in message.content if isinstance(part, ImagePart)]
            if images:
                item["images"] = images
        if message.tool_calls:
            item["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls]
            names.update((c.id, c.name) for c in message.tool_calls)
        out.append(item)
    return out


def _image(part: ImagePart, guard: ParamGuard, model: str) -> str:
    inline = inline_image(part)
    if inline is None:
        raise guard.refuse(
            "Ollama takes images as data, not by URL; pass the image's bytes (ImagePart(data=...))",
            model,
            param="messages",
        )
    return inline[1]


def _finish_reason(reason: Any, *, has_calls: bool) -> str:
    if reason == "length":
        return "length"
    return "tool_calls" if has_calls else "stop"


def _usage(data: Mapping[str, Any]) -> Usage:
    return Usage(input_tokens=int(data.get("prompt_eval_count") or 0), output_tokens=int(data.get("eval_count") or 0))


def read_ollama_error(body: Any) -> ErrorInfo | None:
    """Ollama's ``{"error": "..."}``."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    message = body["error"]
    return ErrorInfo(message=message, context_length=any(w in message.lower() for w in _CONTEXT_WORDS))
