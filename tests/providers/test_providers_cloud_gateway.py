"""`agentrt serve` in front of each new kind: the official openai client talks to the gateway, which talks
Azure, Bedrock, Vertex and Ollama to the strict FakeUpstream (plain, stream, a tool call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from providers_cloud_support import CAPABILITIES, provider_section, service_account

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream, Reply

KEY = "sk-agentrt-gatewayKEY0123456789abcdef"
NAMES = {"azure": "my-deployment", "bedrock": "amazon.nova-lite-v1:0", "vertex": "gemini-2.5-flash", "ollama": "qwen3"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def gateway_config(kind: str, up: FakeUpstream, tmp_path: Path) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if kind == "vertex":
        fields = {"region": "us-central1", "options": {"credentials_file": str(service_account(up, tmp_path))}}
    return {
        "logging": {"console": {"format": "off"}},
        "providers": {"p": provider_section(kind, up, **fields)},
        "models": {"m": {"provider": "p", "name": NAMES[kind], "capabilities": CAPABILITIES}},
        "server": {"host": "127.0.0.1", "port": 8080, "api_keys": [{"key_sha256": hash_key(KEY), "user": "u"}]},
    }


@pytest.mark.parametrize("kind", sorted(NAMES))
async def test_openai_client_through_the_gateway(kind: str, tmp_path: Path) -> None:
    async with FakeUpstream(api_key="azure-key-0123456789SECRET") as up:
        up.script(
            Reply(text="plain answer"),
            Reply(text="streamed answer", chunk_size=4),
            Reply(tool_calls=[("get_weather", {"city": "Turku"})]),
        )
        async with Runtime.open(gateway_config(kind, up, tmp_path), plugins=False) as rt:
            server = HttpServer(rt, port=0)
            await server.start()
            try:
                client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
                messages: Any = [{"role": "user", "content": "hi"}]
                plain = await client.chat.completions.create(model="m", messages=messages)
                stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                tools = await client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
                await client.close()
            finally:
                await server.stop(1.0)
    assert plain.choices[0].message.content == "plain answer"
    assert text == "streamed answer"
    (call,) = tools.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert tools.choices[0].finish_reason == "tool_calls"
    assert up.rejected == []
    assert {request.api for request in up.requests} == {kind}


async def test_a_streamed_tool_loop_keeps_gemini_3_signatures_on_vertex(tmp_path: Path) -> None:
    # Gemini 3 refuses a tool loop's next turn unless the first call's thoughtSignature comes back;
    # through the gateway a streamed tool call carries it in its id only if it is sent whole.
    async with FakeUpstream() as up:
        up.script(Reply(tool_calls=[("get_weather", {"city": "Turku"})]), Reply(text="Sunny."))
        config = gateway_config("vertex", up, tmp_path)
        config["models"]["m"]["name"] = "gemini-3-pro-preview"
        async with Runtime.open(config, plugins=False) as rt:
            server = HttpServer(rt, port=0)
            await server.start()
            try:
                client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
                question: Any = {"role": "user", "content": "weather in Turku?"}
                stream = await client.chat.completions.create(
                    model="m", messages=[question], tools=[WEATHER], stream=True
                )
                ids, names = [], []
                async for chunk in stream:
                    for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                        ids.append(delta.id or "")
                        names.append(delta.function.name if delta.function else None)
                call_id = "".join(ids)
                assistant: Any = {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                    ],
                }
                answer = await client.chat.completions.create(
                    model="m",
                    messages=[question, assistant, {"role": "tool", "tool_call_id": call_id, "content": "sunny"}],
                    tools=[WEATHER],
                )
                await client.close()
            finally:
                await server.stop(1.0)
    assert "get_weather" in names
    assert answer.choices[0].message.content == "Sunny."
    assert up.rejected == []
