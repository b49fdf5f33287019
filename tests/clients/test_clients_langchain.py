"""LangChain's ChatOpenAI against ``agentrt serve``: a plain call, a stream and a tool loop, to every kind.

LangChain rebuilds each assistant message from its ``AIMessage.tool_calls`` (id,
name, parsed arguments): anything else the gateway put on a tool call is lost, so
what the provider needs back must travel in those.
"""

from __future__ import annotations

import pytest
from clients_gateway import (
    CLIENT_KEY,
    FINAL_TEXT,
    OUTPUT_CAP,
    PLAIN_TEXT,
    REPORT,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    Gateway,
    Target,
    assert_output_cap_reached_upstream,
    assert_sent_once,
    assert_structured_output_reached_upstream,
    assert_tool_loop_reached_upstream,
    get_weather,
    script_context_length_exceeded,
    script_plain,
    script_report,
    script_tool_loop,
)
from pydantic import BaseModel

pytest.importorskip("langchain_openai", reason="langchain-openai is not installed: pip install -e '.[dev]'")

import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

pytestmark = [pytest.mark.clients, pytest.mark.asyncio(loop_scope="module")]

PROMPT = "What is the capital of France?"


@pytest.fixture
def chat(gateway: Gateway, target: Target) -> ChatOpenAI:
    return ChatOpenAI(model=target.model, base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0)


async def test_plain_call(gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    chat = ChatOpenAI(
        model=target.model, base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0, max_tokens=OUTPUT_CAP
    )
    answer = await chat.ainvoke(PROMPT)
    assert answer.content == PLAIN_TEXT
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata is not None
    assert (answer.usage_metadata["input_tokens"], answer.usage_metadata["output_tokens"]) == (12, 7)
    assert_output_cap_reached_upstream(gateway, target)


async def test_stream(gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    chat = ChatOpenAI(
        model=target.model, base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0, stream_usage=True
    )
    chunks = [chunk async for chunk in chat.astream(PROMPT)]
    pieces = [chunk.content for chunk in chunks if chunk.content]
    assert "".join(str(p) for p in pieces) == PLAIN_TEXT
    assert len(pieces) > 1  # it came in pieces, as streamed
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.usage_metadata is not None
    assert (merged.usage_metadata["input_tokens"], merged.usage_metadata["output_tokens"]) == (12, 7)


async def test_tool_loop(chat: ChatOpenAI, gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway)
    weather_tool = tool(get_weather)
    with_tools = chat.bind_tools([weather_tool])
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris?")]
    first = await with_tools.ainvoke(messages)
    assert isinstance(first, AIMessage)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [(TOOL_NAME, TOOL_ARGUMENTS)]
    messages.append(first)
    for call in first.tool_calls:
        result = await weather_tool.ainvoke(call["args"])
        messages.append(ToolMessage(content=result, tool_call_id=call["id"]))
    second = await with_tools.ainvoke(messages)
    assert second.content == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_streamed_tool_loop(chat: ChatOpenAI, gateway: Gateway, target: Target) -> None:
    """Both turns streamed; the chunks merged into one AIMessageChunk, as LangChain's docs do."""
    script_tool_loop(gateway)
    weather_tool = tool(get_weather)
    with_tools = chat.bind_tools([weather_tool])
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris?")]
    chunks = [chunk async for chunk in with_tools.astream(messages)]
    first = chunks[0]
    for chunk in chunks[1:]:
        first += chunk
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [(TOOL_NAME, TOOL_ARGUMENTS)]
    messages.append(first)
    for call in first.tool_calls:
        messages.append(ToolMessage(content=await weather_tool.ainvoke(call["args"]), tool_call_id=call["id"]))
    text = "".join([str(chunk.content) async for chunk in with_tools.astream(messages)])
    assert text == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_two_tool_calls_in_one_turn(chat: ChatOpenAI, gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway, "Paris", "London")
    weather_tool = tool(get_weather)
    with_tools = chat.bind_tools([weather_tool])
    messages: list[BaseMessage] = [HumanMessage("Weather in Paris and London?")]
    first = await with_tools.ainvoke(messages)
    assert isinstance(first, AIMessage)
    assert [c["args"] for c in first.tool_calls] == [{"city": "Paris"}, {"city": "London"}]
    messages.append(first)
    for call in first.tool_calls:
        messages.append(ToolMessage(content=await weather_tool.ainvoke(call["args"]), tool_call_id=call["id"]))
    second = await with_tools.ainvoke(messages)
    assert second.content == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target, "Paris", "London")


class WeatherReport(BaseModel):
    city: str
    temperature_c: float
    conditions: list[str]


async def test_structured_output(chat: ChatOpenAI, gateway: Gateway, target: Target) -> None:
    """``with_structured_output(Model)``: LangChain's default is a strict json_schema response format."""
    script_report(gateway)
    report = await chat.with_structured_output(WeatherReport).ainvoke("The weather in Paris, as a report.")
    assert report == WeatherReport(**REPORT)
    assert_structured_output_reached_upstream(gateway, target)


async def test_context_length_exceeded(gateway: Gateway, target: Target) -> None:
    """A 400 with OpenAI's code: a request error, not resent (ChatOpenAI's default retries left on)."""
    script_context_length_exceeded(gateway)
    chat = ChatOpenAI(model=target.model, base_url=gateway.base_url, api_key=CLIENT_KEY)
    with pytest.raises(openai.BadRequestError) as caught:
        await chat.ainvoke(PROMPT)
    assert caught.value.code == "context_length_exceeded"
    assert_sent_once(gateway)
