"""The official openai SDK's Responses API (``client.responses.create`` and ``.stream``) against ``agentrt serve``:
plain, stream, a tool loop (by input items and by ``previous_response_id``) and structured output, to every kind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from clients_gateway import (
    CLIENT_KEY,
    FINAL_TEXT,
    OUTPUT_CAP,
    PLAIN_TEXT,
    REPORT,
    TOOL_ARGUMENTS,
    TOOL_DESCRIPTION,
    TOOL_NAME,
    TOOL_PARAMETERS,
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

openai = pytest.importorskip("openai", reason="the openai package is not installed: pip install -e '.[dev]'")

pytestmark = [pytest.mark.clients, pytest.mark.asyncio(loop_scope="module")]

TOOLS: list[Any] = [
    {"type": "function", "name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": TOOL_PARAMETERS}
]
QUESTION = "What is the capital of France?"


@pytest_asyncio.fixture(loop_scope="module")
async def client(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


async def test_plain_call(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    response = await client.responses.create(model=target.model, input=QUESTION, max_output_tokens=OUTPUT_CAP)
    assert response.output_text == PLAIN_TEXT
    assert response.status == "completed"
    assert response.model == target.model
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 7)
    assert_output_cap_reached_upstream(gateway, target)
    stored = await client.responses.retrieve(response.id)  # store: true by default, as OpenAI
    assert stored.output_text == PLAIN_TEXT


async def test_stream(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    pieces: list[str] = []
    kinds: list[str] = []
    async with client.responses.stream(model=target.model, input=QUESTION, instructions="Be brief.") as stream:
        async for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                pieces.append(event.delta)
        final = await stream.get_final_response()
    assert "".join(pieces) == PLAIN_TEXT
    assert len(pieces) > 1  # it came in pieces, as streamed
    assert final.output_text == PLAIN_TEXT
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.done"):
        assert kind in kinds
    assert "Be brief." in json.dumps(gateway.chat_requests()[0].body)


async def test_stream_with_create(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    """``create(stream=True)``: the raw events, their sequence numbers in order."""
    script_plain(gateway)
    stream = await client.responses.create(model=target.model, input=QUESTION, stream=True)
    numbers, text = [], ""
    async for event in stream:
        numbers.append(event.sequence_number)
        if event.type == "response.output_text.delta":
            text += event.delta
    assert text == PLAIN_TEXT
    assert numbers == list(range(len(numbers)))


async def _call(client: openai.AsyncOpenAI, *, stream: bool, **kwargs: Any) -> Any:
    if not stream:
        return await client.responses.create(**kwargs)
    async with client.responses.stream(**kwargs) as events:
        return await events.get_final_response()


def _run_calls(response: Any) -> list[dict[str, Any]]:
    calls = [item for item in response.output if item.type == "function_call"]
    assert [c.name for c in calls] == [TOOL_NAME]
    assert json.loads(calls[0].arguments) == TOOL_ARGUMENTS
    return [
        {"type": "function_call_output", "call_id": c.call_id, "output": get_weather(**json.loads(c.arguments))}
        for c in calls
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_tool_loop_with_input_items(
    client: openai.AsyncOpenAI, gateway: Gateway, target: Target, stream: bool
) -> None:
    """The stateless loop: the client sends back the output items and the results (store: false)."""
    script_tool_loop(gateway)
    items: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await _call(client, stream=stream, model=target.model, input=items, tools=TOOLS, store=False)
    items += [item.model_dump(exclude_none=True) for item in first.output]
    items += _run_calls(first)
    final = await _call(client, stream=stream, model=target.model, input=items, tools=TOOLS, store=False)
    assert final.output_text == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)
    with pytest.raises(openai.NotFoundError):  # store: false kept nothing
        await client.responses.retrieve(final.id)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_tool_loop_with_previous_response_id(
    client: openai.AsyncOpenAI, gateway: Gateway, target: Target, stream: bool
) -> None:
    """The stateful loop: only the results go back, the stored conversation is continued."""
    script_tool_loop(gateway)
    first = await _call(client, stream=stream, model=target.model, input="What is the weather in Paris?", tools=TOOLS)
    results = _run_calls(first)
    final = await _call(
        client, stream=stream, model=target.model, input=results, tools=TOOLS, previous_response_id=first.id
    )
    assert final.output_text == FINAL_TEXT
    assert final.previous_response_id == first.id
    assert_tool_loop_reached_upstream(gateway, target)
    assert "What is the weather in Paris?" in json.dumps(gateway.chat_requests()[1].body)


async def test_structured_output(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_report(gateway)
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "temperature_c": {"type": "number"},
            "conditions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "temperature_c", "conditions"],
        "additionalProperties": False,
    }
    response = await client.responses.create(
        model=target.model,
        input="The weather report for Paris, please.",
        text={"format": {"type": "json_schema", "name": "report", "schema": schema, "strict": True}},
    )
    assert json.loads(response.output_text) == REPORT
    assert_structured_output_reached_upstream(gateway, target)


async def test_errors_are_the_sdks_own_exceptions(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="no-such-model", input=QUESTION)
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.responses.create(model=target.model, input=QUESTION, previous_response_id="resp_nope")
    assert unknown.value.code == "response_not_found"
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(model=target.model, input=[{"type": "item_reference", "id": "x"}])
    script_context_length_exceeded(gateway)
    with pytest.raises(openai.BadRequestError) as too_long:
        await client.responses.create(model=target.model, input=QUESTION)
    assert too_long.value.code == "context_length_exceeded"
    assert_sent_once(gateway)


async def test_delete(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    response = await client.responses.create(model=target.model, input=QUESTION)
    await client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(response.id)
