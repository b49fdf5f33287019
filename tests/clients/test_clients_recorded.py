"""Real Gemini 3 traffic through ``agentrt serve`` to each client: a streamed tool loop, replayed byte for byte.

The recording (tests/fixtures/recorded/google, see SOURCES.md there) is the live
API answering three parallel ``sum`` calls in one turn, with a real
``thoughtSignature`` on the first call only, then the text that uses their
results. FakeUpstream replays it in odd-sized writes and refuses the second turn
unless that very signature comes back on that very call.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from clients_gateway import CLIENT_KEY, RECORDED, TARGETS, Gateway, add_tool_call_deltas

from agentrt.testing import Recorded

pytestmark = [pytest.mark.clients, pytest.mark.asyncio(loop_scope="module")]

RECORDING = RECORDED / "google" / "gemini3_function_calls_stream.httprr"
GEMINI3 = next(t for t in TARGETS if t.id == "gemini3")
QUESTION = "Can you add 2 and 3? Also 4 and 5? And 6 and 7?"
ANSWER = "The sum of 2 and 3 is 5, the sum of 4 and 5 is 9, and the sum of 6 and 7 is 13."
CALLS = [{"a": 2, "b": 3}, {"a": 4, "b": 5}, {"a": 6, "b": 7}]
SUM_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "sum",
        "description": "sums two integers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
}


def add(a: int, b: int) -> int:
    """sums two integers"""
    return a + b


def script_recording(gateway: Gateway) -> str:
    """Both recorded turns; the signature the live API gave the first call."""
    gateway.up.script(Recorded.from_httprr(RECORDING, 0), Recorded.from_httprr(RECORDING, 1))
    found = re.findall(rb'"thoughtSignature": "([^"]+)"', Recorded.from_httprr(RECORDING, 0).body)
    assert len(found) == 1, found  # the live API signed the first of the three calls only
    return str(found[0].decode())


def assert_signature_came_back(gateway: Gateway, signature: str) -> None:
    requests = gateway.chat_requests()
    assert len(requests) == 2, [r.body for r in requests]
    model_turn = next(c for c in requests[1].body["contents"] if c.get("role") == "model")
    calls = [p for p in model_turn["parts"] if "functionCall" in p]
    assert [p["functionCall"]["args"] for p in calls] == CALLS
    assert [p.get("thoughtSignature") for p in calls] == [signature, None, None]
    sent = json.dumps(requests[1].body)
    assert all(f'"{result}"' in sent or f": {result}" in sent for result in ("5", "9", "13")), sent


async def test_openai_sdk(gateway: Gateway) -> None:
    openai = pytest.importorskip("openai", reason="the openai package is not installed: pip install -e '.[dev]'")
    signature = script_recording(gateway)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(
            model=GEMINI3.model, messages=messages, tools=[SUM_TOOL], stream=True
        )
        calls: dict[int, dict[str, Any]] = {}
        async for chunk in stream:
            for choice in chunk.choices:
                add_tool_call_deltas(calls, choice.delta.tool_calls)
        assert [json.loads(c["function"]["arguments"]) for c in calls.values()] == CALLS
        messages.append({"role": "assistant", "content": None, "tool_calls": list(calls.values())})
        for call in calls.values():
            result = add(**json.loads(call["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result)})
        second = await client.chat.completions.create(
            model=GEMINI3.model, messages=messages, tools=[SUM_TOOL], stream=True
        )
        text = "".join([choice.delta.content or "" async for chunk in second for choice in chunk.choices])
    assert text == ANSWER
    assert_signature_came_back(gateway, signature)


async def test_pydantic_ai(gateway: Gateway) -> None:
    pytest.importorskip("pydantic_ai", reason="Pydantic AI is not installed: pip install -e '.[dev]'")
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, Tool
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    signature = script_recording(gateway)
    async with AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0) as client:
        model = OpenAIChatModel(GEMINI3.model, provider=OpenAIProvider(openai_client=client))
        agent = Agent(model, tools=[Tool(add, name="sum")])
        async with agent.run_stream(QUESTION) as result:
            output = await result.get_output()
    assert output == ANSWER
    assert_signature_came_back(gateway, signature)


async def test_langchain(gateway: Gateway) -> None:
    pytest.importorskip("langchain_openai", reason="langchain-openai is not installed: pip install -e '.[dev]'")
    from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    signature = script_recording(gateway)
    sum_tool = tool("sum")(add)
    chat = ChatOpenAI(model=GEMINI3.model, base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0)
    with_tools = chat.bind_tools([sum_tool])
    messages: list[BaseMessage] = [HumanMessage(QUESTION)]
    chunks = [chunk async for chunk in with_tools.astream(messages)]
    first = chunks[0]
    for chunk in chunks[1:]:
        first += chunk
    assert [c["args"] for c in first.tool_calls] == CALLS
    messages.append(first)
    for call in first.tool_calls:
        messages.append(ToolMessage(content=str(await sum_tool.ainvoke(call["args"])), tool_call_id=call["id"]))
    text = "".join([str(chunk.content) async for chunk in with_tools.astream(messages)])
    assert text == ANSWER
    assert_signature_came_back(gateway, signature)


@pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm.*")
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
async def test_litellm(gateway: Gateway) -> None:
    litellm = pytest.importorskip("litellm", reason="LiteLLM is not installed: pip install -e '.[dev]'")
    signature = script_recording(gateway)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    options = {
        "model": f"openai/{GEMINI3.model}",
        "api_base": gateway.base_url,
        "api_key": CLIENT_KEY,
        "max_retries": 0,
        "tools": [SUM_TOOL],
        "stream": True,
    }
    stream = await litellm.acompletion(messages=messages, **options)
    first = litellm.stream_chunk_builder([chunk async for chunk in stream], messages=messages)
    calls = first.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments) for c in calls] == CALLS
    messages.append(first.choices[0].message)
    for call in calls:
        result = add(**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": str(result)})
    second = await litellm.acompletion(messages=messages, **options)
    text = "".join([choice.delta.content or "" async for chunk in second for choice in chunk.choices])
    assert text == ANSWER
    assert_signature_came_back(gateway, signature)
