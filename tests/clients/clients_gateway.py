"""A real ``agentrt serve`` gateway for the third-party client tests, with every provider kind behind it.

One FakeUpstream answers for all of them: an OpenAI provider, an Anthropic one, a
Gemini 3 model (FakeUpstream requires its ``thoughtSignature`` back on the next
turn) and an Anthropic model with extended thinking (its thinking blocks must come
back before the tool results). A client test names a :data:`TARGETS` entry and
talks to ``gateway.url + "/v1"`` with :data:`CLIENT_KEY`, as a user of the gateway
would. (A plain module imported as ``clients_gateway``: test folders are not packages.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream, Fault, Recorded, RecordedRequest, Reply

CLIENT_KEY = "sk-agentrt-clientKEY0123456789abcdefghijk"
UPSTREAM_KEY = "sk-upstream-0123456789SECRET"

TOOL_NAME = "get_weather"
TOOL_DESCRIPTION = "The current weather in a city."
TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "the city's name"}},
    "required": ["city"],
    "additionalProperties": False,
}
OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": TOOL_PARAMETERS},
    }
]
"""The tool as OpenAI's ``tools`` field declares it, for the clients that take that format."""
TOOL_ARGUMENTS = {"city": "Paris"}
WEATHER = {"Paris": "sunny, 21 C", "London": "rain, 14 C"}
PLAIN_TEXT = "Paris is the capital of France."
FINAL_TEXT = "It is sunny in Paris."
PREAMBLE = "Let me look that up."
"""What models often say before their tool calls, in the same turn: it goes back with them."""
# What extended thinking writes before the tool calls: real thinking runs to kilobytes, and is not
# all ASCII. Anthropic refuses the next turn unless it comes back byte for byte (FakeUpstream checks).
THINKING = ("Le client veut la météo à Paris 🌤: I should call get_weather with the city. " * 40).strip()


@dataclass(frozen=True)
class Target:
    """One provider kind behind the gateway: the model name a client asks for, and what answers it."""

    id: str
    model: str
    """What the client sends as ``model``: the gateway's configured model name."""
    api: str
    """The wire format FakeUpstream answers it in: openai, anthropic or google."""
    reasoning: str | None = None
    """What must survive the tool loop: ``thoughtSignature`` (Gemini 3) or ``thinking`` (Anthropic)."""


TARGETS = [
    Target("openai", "gpt-test", "openai"),
    Target("anthropic", "claude-test", "anthropic"),
    Target("gemini3", "gemini-3-pro-preview", "google", reasoning="thoughtSignature"),
    Target("anthropic-thinking", "claude-thinking", "anthropic", reasoning="thinking"),
]
TARGET_IDS = [t.id for t in TARGETS]

_RETRY = {"attempts": 1, "backoff": "1ms", "max_backoff": "5ms"}
# The tests of a module share one gateway: one test's refused requests must not open the breaker on the next.
_NO_BREAKER = {"failures": 0}
# Generous: these tests are not about timeouts, and a loaded test machine can be slow.
_TIMEOUT = "30s"


def gateway_config(up: FakeUpstream, tmp_path: Path) -> dict[str, Any]:
    def provider(kind: str, base_url: str) -> dict[str, Any]:
        section = {"kind": kind, "api_key": UPSTREAM_KEY, "base_url": base_url, "timeout": _TIMEOUT, "retry": _RETRY}
        return {**section, "breaker": _NO_BREAKER}

    capabilities = ["chat", "tools", "json", "streaming"]
    pricing = {"input": 1.0, "output": 2.0}
    return {
        "runtime": {"shutdown_timeout": "5s"},
        "store": {"url": "memory://"},
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}},
        "providers": {
            "oai": provider("openai", up.openai_base_url),
            "ant": provider("anthropic", up.anthropic_base_url),
            "gem": provider("google", up.google_base_url),
        },
        "models": {
            "gpt-test": {"provider": "oai", "capabilities": capabilities, "pricing": pricing},
            "claude-test": {"provider": "ant", "capabilities": capabilities, "pricing": pricing},
            "gemini-3-pro-preview": {"provider": "gem", "capabilities": capabilities, "pricing": pricing},
            "claude-thinking": {
                "provider": "ant",
                "name": "claude-thinking-test",
                "capabilities": capabilities,
                "pricing": pricing,
                "max_output_tokens": 4096,
                "params": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            },
        },
        "server": {
            "host": "127.0.0.1",
            "port": 8080,
            "api_keys": [{"key_sha256": hash_key(CLIENT_KEY), "name": "client-tests", "user": "alice"}],
        },
    }


@dataclass
class Gateway:
    url: str
    """``http://127.0.0.1:<port>``; OpenAI clients take ``url + "/v1"``."""
    up: FakeUpstream

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def chat_requests(self) -> list[RecordedRequest]:
        """The chat requests the upstream received, in order (model listings left out)."""
        return [r for r in self.up.requests if r.body is not None and r.model is not None]


@contextlib.asynccontextmanager
async def serving_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with FakeUpstream() as up:
        rt = Runtime.open(gateway_config(up, tmp_path), plugins=False)
        async with rt:
            server = HttpServer(rt, port=0)
            await server.start()
            try:
                yield Gateway(server.url, up)
            finally:
                await server.stop(1.0)


# --- what a scenario scripts and checks ------------------------------------------------------


OUTPUT_CAP = 2000
"""The output cap the plain calls set, each client in its own way (above the thinking model's budget)."""


def assert_output_cap_reached_upstream(gateway: Gateway, target: Target) -> None:
    """The client's cap reached the provider once, in that provider's own field (issue 9, defect 1)."""
    (request,) = gateway.chat_requests()
    body = request.body
    caps = {key: value for key, value in body.items() if "max" in key.lower() and "tokens" in key.lower()}
    if target.api == "openai":
        assert caps == {"max_completion_tokens": OUTPUT_CAP}, caps
    elif target.api == "anthropic":
        assert caps == {"max_tokens": OUTPUT_CAP}, caps
    else:
        assert caps == {}, caps
        config = body["generationConfig"]
        assert {k: v for k, v in config.items() if "max" in k.lower()} == {"maxOutputTokens": OUTPUT_CAP}, config


def script_plain(gateway: Gateway) -> None:
    gateway.up.script(Reply(text=PLAIN_TEXT, usage=(12, 7), chunk_size=5))


def script_tool_loop(gateway: Gateway, *cities: str, preamble: bool = True) -> None:
    """The model calls the tool once per city (Paris when none is named) in one turn, after a
    :data:`PREAMBLE` unless told not to, then answers."""
    calls = [(TOOL_NAME, {"city": city}) for city in cities or (TOOL_ARGUMENTS["city"],)]
    first = Reply(text=PREAMBLE if preamble else None, tool_calls=calls, usage=(20, 9), thinking=THINKING)
    gateway.up.script(first, Reply(text=FINAL_TEXT))


REPORT = {"city": "Paris", "temperature_c": 21.5, "conditions": ["sunny", "light wind"]}
"""The structured answer the model gives (as JSON text, or as a tool's input)."""


def script_report(gateway: Gateway, *, as_tool: str | None = None) -> None:
    """The model answers :data:`REPORT`: as JSON text, or as a call of the tool ``as_tool``."""
    reply = Reply(tool_calls=[(as_tool, REPORT)]) if as_tool else Reply(text=json.dumps(REPORT))
    gateway.up.script(reply)


def assert_structured_output_reached_upstream(gateway: Gateway, target: Target) -> None:
    """The schema reached the provider in its own JSON-output field, whole."""
    (request,) = gateway.chat_requests()
    body = request.body
    if target.api == "openai":
        schema = body["response_format"]["json_schema"]["schema"]
    elif target.api == "anthropic":
        schema = body["output_config"]["format"]["schema"]
    else:
        schema = body["generationConfig"]["responseJsonSchema"]
    assert set(schema["properties"]) == set(REPORT), schema


def assert_no_forced_tool_with_thinking(gateway: Gateway, target: Target) -> None:
    """Anthropic refuses "Thinking may not be enabled when tool_choice forces tool use" (type any or tool)."""
    if target.reasoning != "thinking":
        return
    for request in gateway.chat_requests():
        choice = request.body.get("tool_choice") or {}
        assert choice.get("type") not in ("any", "tool"), f"tool_choice {choice} with thinking on: Anthropic's 400"


def script_context_length_exceeded(gateway: Gateway) -> None:
    """The provider refuses the input as too long for the model, in its own words, however often asked."""
    gateway.up.script(Fault(error_code="context_length_exceeded", times=5))


def assert_sent_once(gateway: Gateway) -> None:
    """Neither the gateway nor the client sent the refused request again: it cannot succeed."""
    assert len(gateway.chat_requests()) == 1, [r.body for r in gateway.chat_requests()]


def add_tool_call_deltas(calls: dict[int, dict[str, Any]], deltas: Any) -> None:
    """Fold a stream chunk's ``delta.tool_calls`` into whole OpenAI tool calls, by index, as streaming code does."""
    for delta in deltas or ():
        call = calls.setdefault(delta.index, {"type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = delta.id or call.get("id")
        if delta.function is not None:
            call["function"]["name"] += delta.function.name or ""
            call["function"]["arguments"] += delta.function.arguments or ""


RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"
OPENAI_REFUSAL = "I'm sorry, I can't assist with that request."
"""What gpt-4o said in tests/fixtures/recorded/openai/refusal_stream.sse (recorded live)."""


def script_refusal(gateway: Gateway, target: Target, *, stream: bool) -> None:
    """The model declines, as each API says it: OpenAI's ``refusal`` (the recorded stream, or a body of the
    documented shape with its words), Anthropic's ``stop_reason: refusal``, Gemini's ``finishReason: SAFETY``."""
    if target.api == "openai" and stream:
        gateway.up.script(Recorded(RECORDED / "openai" / "refusal_stream.sse"))
    elif target.api == "openai":
        message = {"role": "assistant", "content": None, "refusal": OPENAI_REFUSAL}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        body = {
            "id": "chatcmpl-refusal",
            "object": "chat.completion",
            "created": 1727346163,
            "model": "gpt-4o-2024-08-06",
            "choices": [choice],
            "usage": {"prompt_tokens": 17, "completion_tokens": 12, "total_tokens": 29},
        }
        gateway.up.script(Recorded(json.dumps(body).encode()))
    elif target.api == "anthropic":
        gateway.up.script(Reply(text="", finish_reason="refusal"))
    else:
        gateway.up.script(Reply(text="", finish_reason="SAFETY"))


def get_weather(city: str) -> str:
    """The tool the clients run."""
    return WEATHER[city]


def assert_tool_loop_reached_upstream(gateway: Gateway, target: Target, *cities: str) -> None:
    """Two chat requests upstream; the second carries the calls, their results and what the model must get back."""
    requests = gateway.chat_requests()
    assert len(requests) == 2, [r.body for r in requests]
    first, second = requests
    assert all(r.api == target.api for r in requests)
    sent = json.dumps(second.body)
    for city in cities or (TOOL_ARGUMENTS["city"],):
        assert WEATHER[city] in sent, sent
    if target.reasoning == "thoughtSignature":
        # FakeUpstream checks that it is the very signature it issued; here: that one came back at all.
        assert "thoughtSignature" in sent or "thought_signature" in sent, f"no thoughtSignature came back: {sent}"
    elif target.reasoning == "thinking":
        assert '"type": "thinking"' in sent, f"the thinking block did not come back: {sent}"
    assert first.body is not None
