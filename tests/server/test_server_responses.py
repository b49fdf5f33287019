"""``/v1/responses`` (OpenAI's Responses API) behind the gateway's auth, policies and ledger; stored
responses: their owners, ``previous_response_id``, retention."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pydantic
import pytest
from server_support import USER_KEY, Served, api_keys, auth, serving

from agentrt.server import hash_key
from agentrt.server.responses_models import ResponseObject, ResponseStreamEvent
from agentrt.store.ledger import UsageLedger
from agentrt.store.responses import ResponseStore
from agentrt.testing import FakeUpstream, Fault, Reply

RAW_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(openai.types.responses.ResponseStreamEvent)
# Another key of alice's tenant, and a key of another tenant.
CAROL_KEY = "sk-agentrt-carolKEY0123456789abcdefghijkl"
BOB_KEY = "sk-agentrt-bobKEY0123456789abcdefghijklmno"
PNG_URL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def keys() -> list[dict[str, Any]]:
    return [
        *api_keys(),
        {"key_sha256": hash_key(CAROL_KEY), "name": "carol", "user": "carol", "tenant": "acme"},
        {"key_sha256": hash_key(BOB_KEY), "name": "bob", "user": "bob", "tenant": "globex"},
    ]


def config(up: FakeUpstream, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    from server_support import server_config

    server = server_config(up, tmp_path)["server"]
    return {
        "store": {"url": f"sqlite:///{tmp_path / 'store.db'}", **extra.pop("store", {})},
        "server": {**server, "api_keys": keys()},
        **extra,
    }


@pytest.fixture
async def served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(up, tmp_path, **config(up, tmp_path)) as s:
        yield s


def client_for(served: Served, key: str = USER_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for chunk in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


async def test_a_response_is_stored_for_its_tenant_only(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris."), Reply(text="It has about two million people."))
    async with client_for(served) as alice, client_for(served, CAROL_KEY) as carol, client_for(served, BOB_KEY) as bob:
        first = await alice.responses.create(model="default", input="The capital of France?")
        # Another tenant can neither read it, nor continue it, nor delete it: it does not exist for them.
        with pytest.raises(openai.NotFoundError):
            await bob.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError) as continued:
            await bob.responses.create(model="default", input="How many people?", previous_response_id=first.id)
        assert continued.value.code == "response_not_found"
        with pytest.raises(openai.NotFoundError):
            await bob.responses.delete(first.id)
        assert len(up.requests) == 1  # bob's continuation never reached the model
        # Its own tenant can, with another key.
        assert (await carol.responses.retrieve(first.id)).output_text == "Paris."
        second = await carol.responses.create(model="default", input="How many people?", previous_response_id=first.id)
    assert second.output_text == "It has about two million people."
    sent = up.requests[1].body
    assert sent is not None
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == "Paris."


async def test_the_stored_response_is_what_was_answered(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris.", usage=(8, 2)))
    async with aiohttp.ClientSession() as http:
        body = {"model": "default", "input": "The capital?", "instructions": "Be brief.", "metadata": {"k": "v"}}
        async with http.post(served.url + "/v1/responses", json=body, headers=auth()) as response:
            assert response.status == 200
            answered = await response.json()
        async with http.get(served.url + f"/v1/responses/{answered['id']}", headers=auth()) as response:
            stored = await response.json()
    ResponseObject.model_validate(answered)
    openai.types.responses.Response.model_validate(answered, strict=True)  # as the openai SDK's types say it is
    assert stored == answered
    assert answered["instructions"] == "Be brief."
    assert answered["metadata"] == {"k": "v"}
    assert answered["store"] is True
    (sent,) = up.requests
    assert sent.body is not None
    assert "metadata" not in sent.body  # kept with the response, not sent to the model


async def test_store_false_keeps_nothing(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris."))
    async with client_for(served) as client:
        response = await client.responses.create(model="default", input="The capital?", store=False)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(response.id)
    assert await served.rt.services.get(ResponseStore).count() == 0


async def test_parallel_tool_calls_goes_only_with_tools(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris."), Reply(text="Paris."))
    tools: list[Any] = [{"type": "function", "name": "look", "parameters": {"type": "object", "properties": {}}}]
    async with client_for(served) as client:
        await client.responses.create(model="default", input="The capital?", parallel_tool_calls=False)
        await client.responses.create(model="default", input="The capital?", parallel_tool_calls=False, tools=tools)
    first, second = (r.body for r in up.requests)
    assert first is not None
    assert second is not None
    assert "parallel_tool_calls" not in first  # OpenAI refuses it without tools
    assert second["parallel_tool_calls"] is False


async def test_calls_are_charged_to_the_keys_principal(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris.", usage=(8, 2)))
    async with client_for(served) as client:
        await client.responses.create(model="default", input="The capital?", user="mallory")
    ledger = served.rt.services.get(UsageLedger)
    await ledger.flush()
    rows = await ledger.store.fetchall("SELECT outcome, user_name, tenant, output_tokens FROM agentrt_usage")
    assert rows == [("ok", "alice", "acme", 2)]


async def test_images_and_function_outputs_as_input_items(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="A red dot."))
    items: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": PNG_URL},
                {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"},
            ],
        },
        {"type": "function_call", "call_id": "call_9", "name": "look", "arguments": '{"at": "x"}'},
        {"type": "function_call_output", "call_id": "call_9", "output": "a dot"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
    ]
    async with client_for(served) as client:
        response = await client.responses.create(model="default", input=items)
    assert response.output_text == "A red dot."
    (sent,) = up.requests
    assert sent.body is not None
    messages = sent.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[0]["content"][1]["image_url"]["url"] == PNG_URL
    assert messages[0]["content"][2]["image_url"] == {"url": "https://example.com/cat.png", "detail": "low"}
    assert messages[1]["tool_calls"][0]["id"] == "call_9"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_9", "content": "a dot"}


async def test_bad_requests_are_400s_that_say_what_to_do(served: Served) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": "default"}, "input"),
        ({"model": "default", "input": [{"type": "item_reference", "id": "x"}]}, "input.0.type"),
        ({"model": "default", "input": "hi", "tools": [{"type": "web_search"}]}, "tools.0.type"),
        ({"model": "default", "input": "hi", "background": True}, "background"),
        (
            {"model": "default", "input": [{"type": "function_call", "call_id": "c", "name": "n", "arguments": "[1]"}]},
            "input.0.arguments",
        ),
        (
            {"model": "default", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "image_url",
        ),
    ]
    async with aiohttp.ClientSession() as http:
        for body, path in cases:
            async with http.post(served.url + "/v1/responses", json=body, headers=auth()) as response:
                assert response.status == 400, body
                error = (await response.json())["error"]
            assert path in error["message"], (path, error["message"])


async def test_a_stream_is_the_response_events_in_order(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Let me look.", tool_calls=[("look", {"at": "the sky"})], chunk_size=4, usage=(9, 5)))
    tools = [{"type": "function", "name": "look", "parameters": {"type": "object", "properties": {}}}]
    body = {"model": "default", "input": "Look up.", "tools": tools, "stream": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(served.url + "/v1/responses", json=body, headers=auth()) as response,
    ):
        assert response.status == 200
        events = events_of(await response.read())
    for name, data in events:
        assert name == data["type"]
        ResponseStreamEvent.model_validate(data)
        RAW_EVENT.validate_python(data, strict=True)  # as the openai SDK's types say each event is
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    names = [name for name, _ in events]
    assert names[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert names[-1] == "response.completed"
    for kind in (
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ):
        assert kind in names, kind
    final = ResponseObject.model_validate(events[-1][1]["response"])
    assert [item.type for item in final.output] == ["message", "function_call"]
    added = [data["item"]["id"] for name, data in events if name == "response.output_item.added"]
    assert added == [item.id for item in final.output]  # the ids streamed are the final ones
    assert final.usage is not None
    assert final.usage.output_tokens == 5


async def test_an_error_after_the_stream_began_is_response_failed(served: Served, up: FakeUpstream) -> None:
    up.script(Fault(cut_stream_after=3, times=3))  # some text, then the provider's connection drops
    async with client_for(served) as client:
        stream = await client.responses.create(model="default", input="Talk.", stream=True)
        kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created"
    assert kinds[-2:] == ["error", "response.failed"]


async def test_a_budget_refusal_is_a_rate_limit_error(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {"budgets": [{"scope": "tenant", "period": "day", "max_tokens": 150}]}
    up.script(Reply(text="Paris.", usage=(11, 90)))
    async with serving(up, tmp_path, **config(up, tmp_path, policies=policies)) as s, client_for(s) as alice:
        await alice.responses.create(model="default", input="The capital?", max_output_tokens=100)
        with pytest.raises(openai.RateLimitError) as refused:
            await alice.responses.create(model="default", input="The capital?", max_output_tokens=100)
    assert refused.value.code == "budget_exceeded"
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert len(up.requests) == 1


async def test_a_client_that_hangs_up_mid_stream_is_charged_for_what_it_was_sent(
    served: Served, up: FakeUpstream
) -> None:
    up.script(Reply(text="lorem ipsum dolor sit amet " * 80_000, chunk_size=64, usage=(5, 600_000)))
    body = {"model": "default", "input": "Talk.", "stream": True}
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{served.url}/v1/responses", json=body, headers=auth())
        assert response.status == 200
        await response.content.readline()  # the first event, then hang up
        response.connection.transport.abort()  # type: ignore[union-attr]
        response.release()
    ledger = served.rt.services.get(UsageLedger)
    rows: list[tuple[Any, ...]] = []
    for _ in range(100):  # the gateway notices the hang-up on its next write
        await ledger.flush()
        rows = await ledger.store.fetchall("SELECT outcome, output_tokens FROM agentrt_usage")
        if rows:
            break
        await asyncio.sleep(0.05)
    [(outcome, output_tokens)] = rows
    assert outcome == "cancelled"
    assert 0 < int(output_tokens) < 600_000
    assert await served.rt.services.get(ResponseStore).count() == 0  # an unfinished response is not stored


async def test_retention_deletes_old_stored_responses(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="old"), Reply(text="new"))
    retention = {"retention": {"responses": "2s", "every": "1h"}}
    async with serving(up, tmp_path, **config(up, tmp_path, store=retention)) as s:
        responses = s.rt.services.get(ResponseStore)
        assert responses.pruner is not None
        async with client_for(s) as client:
            old = await client.responses.create(model="default", input="one")
            await asyncio.sleep(2.2)
            new = await client.responses.create(model="default", input="two")
            assert await responses.pruner.run_once() == 1
            with pytest.raises(openai.NotFoundError):
                await client.responses.retrieve(old.id)
            assert (await client.responses.retrieve(new.id)).output_text == "new"
    assert time.time() - old.created_at >= 2


async def test_a_continued_conversation_keeps_its_images(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="A red dot."), Reply(text="Red."))
    image = [{"role": "user", "content": [{"type": "input_image", "image_url": PNG_URL}]}]
    async with client_for(served) as client:
        first = await client.responses.create(model="default", input=image, instructions="First instructions.")
        await client.responses.create(model="default", input="Its colour?", previous_response_id=first.id)
    second = up.requests[1].body
    assert second is not None
    assert second["messages"][0]["content"][0]["image_url"]["url"] == PNG_URL
    # The instructions were the first request's only, as OpenAI documents.
    assert "First instructions." not in json.dumps(second)


async def test_an_answer_cut_at_the_output_limit_is_incomplete(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris is", finish_reason="length"), Reply(text="Paris is", finish_reason="length"))
    async with client_for(served) as client:
        response = await client.responses.create(model="default", input="The capital?", max_output_tokens=2)
        stream = await client.responses.create(model="default", input="The capital?", max_output_tokens=2, stream=True)
        kinds = [event.type async for event in stream]
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "Paris is"
    assert kinds[-1] == "response.incomplete"
