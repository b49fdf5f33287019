"""A caller's extra params against what agentrt controls, and OpenAI-only params on the other kinds.

Every request goes to the strict FakeUpstream, which answers a body the real API would refuse with
that API's 400; so each accepted request below is one the real API takes.
"""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from providers_support import WEATHER, canned_client, sse

from agentrt.config import ProviderSection
from agentrt.errors import ConfigError, ParamsRefused, ProviderBadRequest
from agentrt.providers import builtin_kinds
from agentrt.testing import FakeUpstream, Reply
from agentrt.types import ChatRequest, EmbeddingRequest, ImagePart, Message, StreamFinish, TextDelta, TextPart, ToolSpec

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "google": "gemini-2.5-flash", "local": "m"}
HTTP_KINDS = ["openai", "anthropic", "google"]


def request(kind: str, *, params: dict[str, Any], max_output_tokens: int | None = 50, **fields: Any) -> ChatRequest:
    return ChatRequest(
        model=MODELS[kind],
        messages=[Message.user("hello there, how are you today?")],
        max_output_tokens=max_output_tokens,
        params=params,
        **fields,
    )


def client_of(kind: str, make_client: Any, **options: Any) -> Any:
    if kind == "local":
        return builtin_kinds()["local"]("my-local", ProviderSection(kind="local", options=options))
    return make_client(kind, options=options) if options else make_client(kind)


def sent(up: FakeUpstream) -> dict[str, Any]:
    recorded = up.requests[-1]
    assert getattr(recorded, "rejection", None) is None, recorded.rejection  # the strict fake took it
    body: dict[str, Any] = recorded.body
    return body


def cap_sent(kind: str, body: dict[str, Any]) -> Any:
    if kind == "google":
        return body.get("generationConfig", {}).get("maxOutputTokens")
    return body.get("max_completion_tokens" if kind == "openai" else "max_tokens")


# --- 1. the output cap ---------------------------------------------------------------------

ALL_CAP_NAMES = ["max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens"]


@pytest.mark.parametrize("name", ALL_CAP_NAMES)
@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_a_larger_cap_in_params_never_overrides_the_reserved_cap(
    up: FakeUpstream, make_client: Any, kind: str, name: str
) -> None:
    await client_of(kind, make_client).complete(request(kind, params={name: 100_000}))
    body = sent(up)
    assert cap_sent(kind, body) == 50
    # The cap is sent once, under the kind's own name.
    own = {"openai": "max_completion_tokens", "anthropic": "max_tokens", "google": "maxOutputTokens"}[kind]
    names = {"max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens"}
    assert [key for key in (*body, *body.get("generationConfig", {})) if key in names] == [own]


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_a_smaller_cap_in_params_is_honoured_under_the_kinds_own_name(
    up: FakeUpstream, make_client: Any, kind: str
) -> None:
    await client_of(kind, make_client).complete(request(kind, params={"max_tokens": 7}))
    assert cap_sent(kind, sent(up)) == 7


@pytest.mark.parametrize("config_key", ["generationConfig", "generation_config"])
@pytest.mark.parametrize("cap_key", ["maxOutputTokens", "max_output_tokens"])
async def test_gemini_generation_config_cannot_raise_the_cap(
    up: FakeUpstream, make_client: Any, config_key: str, cap_key: str
) -> None:
    params = {config_key: {cap_key: 100_000, "temperature": 0.5}}
    await make_client("google").stream(request("google", params=params)).__anext__()
    config = sent(up)["generationConfig"]
    assert config["maxOutputTokens"] == 50
    assert "max_output_tokens" not in config
    assert config["temperature"] == 0.5


async def test_openai_sends_max_completion_tokens_alone_and_max_tokens_when_configured(
    up: FakeUpstream, make_client: Any
) -> None:
    await make_client("openai").complete(request("openai", params={}))
    body = sent(up)
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    await client_of("openai", make_client, max_tokens_field="max_tokens").complete(request("openai", params={}))
    body = sent(up)
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body


def test_an_unknown_max_tokens_field_is_a_config_error(make_client: Any) -> None:
    with pytest.raises(ConfigError, match="max_tokens_field"):
        client_of("openai", make_client, max_tokens_field="max_output")


async def test_the_local_kind_holds_the_cap_too(make_client: Any) -> None:
    client = client_of("local", make_client)
    long_request = request("local", params={"max_tokens": 100_000}, max_output_tokens=3)
    response = await client.complete(long_request)
    assert response.finish_reason == "length"
    assert response.usage.output_tokens <= 3
    events = [event async for event in client.stream(long_request)]
    assert isinstance(events[-1], StreamFinish)
    assert events[-1].finish_reason == "length"
    assert events[-1].usage.output_tokens <= 3
    smaller = await client.complete(request("local", params={"max_completion_tokens": 2}, max_output_tokens=None))
    assert smaller.usage.output_tokens <= 2


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("openai", "model"),
        ("openai", "messages"),
        ("openai", "stream"),
        ("anthropic", "system"),
        ("anthropic", "model"),
        ("anthropic", "messages"),
        ("google", "systemInstruction"),
        ("google", "system_instruction"),
        ("google", "contents"),
        ("local", "model"),
    ],
)
async def test_params_may_not_set_a_field_agentrt_controls(
    up: FakeUpstream, make_client: Any, kind: str, field: str
) -> None:
    with pytest.raises(ProviderBadRequest, match=f"params\\['{field}'\\]") as caught:
        await client_of(kind, make_client).complete(request(kind, params={field: "something else"}))
    assert caught.value.retryable is False
    assert up.requests == []  # refused before anything was sent


async def test_a_cap_that_is_not_a_number_is_refused(up: FakeUpstream, make_client: Any) -> None:
    with pytest.raises(ProviderBadRequest, match="whole number"):
        await make_client("anthropic").complete(request("anthropic", params={"max_tokens": "lots"}))


# --- 6. one answer per call ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("openai", {"n": 2}),
        ("anthropic", {"n": 3}),
        ("google", {"n": 2}),
        ("google", {"generationConfig": {"candidateCount": 2}}),
        ("local", {"n": 2}),
    ],
)
async def test_several_choices_are_refused_with_a_clear_400(
    up: FakeUpstream, make_client: Any, kind: str, params: dict[str, Any], stream: bool
) -> None:
    client = client_of(kind, make_client)

    async def call() -> None:
        if stream:
            async for _ in client.stream(request(kind, params=params)):
                pass
        else:
            await client.complete(request(kind, params=params))

    with pytest.raises(ProviderBadRequest, match="several answers") as caught:
        await call()
    assert caught.value.status == 400
    assert up.requests == []


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_n_of_one_is_harmless(up: FakeUpstream, make_client: Any, kind: str) -> None:
    await client_of(kind, make_client).complete(request(kind, params={"n": 1}))
    assert "n" not in sent(up)


# --- 7. OpenAI-only params on the other kinds ----------------------------------------------

DROPPED = {
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "frequency_penalty": 0.5,
    "presence_penalty": 0.5,
    "store": False,
    "service_tier": "flex",
    "seed": 7,
    "metadata": {"team": "search"},
    "verbosity": "low",
}


async def test_anthropic_translates_what_it_has_and_drops_the_rest_with_one_warning(
    up: FakeUpstream, make_client: Any
) -> None:
    client = make_client("anthropic")
    params = {**DROPPED, "parallel_tool_calls": False, "stop": "END", "user": "user-42"}
    with structlog.testing.capture_logs() as logs:
        await client.complete(request("anthropic", params=params, tools=[WEATHER], tool_choice="required"))
        await client.complete(request("anthropic", params=params, tools=[WEATHER], tool_choice="required"))
    body = sent(up)
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "user-42"}
    assert (set(DROPPED) - {"metadata"}).isdisjoint(body)  # OpenAI's metadata gave way to user_id
    assert {"parallel_tool_calls", "stop", "user"}.isdisjoint(body)
    warnings = [log for log in logs if log["event"] == "params_dropped"]
    assert len(warnings) == 1  # once per provider and set of names, not per call
    assert set(warnings[0]["params"]) == set(DROPPED)


async def test_anthropic_parallel_tool_calls_false_without_a_tool_choice_is_auto_without_parallel(
    up: FakeUpstream, make_client: Any
) -> None:
    await make_client("anthropic").complete(
        request("anthropic", params={"parallel_tool_calls": False}, tools=[WEATHER])
    )
    assert sent(up)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_anthropic_keeps_its_own_metadata_and_service_tier(up: FakeUpstream, make_client: Any) -> None:
    params = {"metadata": {"user_id": "u-1"}, "service_tier": "auto", "top_k": 5}
    await make_client("anthropic").complete(request("anthropic", params=params))
    body = sent(up)
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["service_tier"] == "auto"
    assert body["top_k"] == 5


async def test_gemini_translates_what_it_has_and_drops_the_rest(up: FakeUpstream, make_client: Any) -> None:
    params = {
        "seed": 7,
        "stop": ["END"],
        "frequency_penalty": 0.5,
        "presence_penalty": 0.25,
        "logit_bias": {"1": 2},
        "user": "user-42",
        "parallel_tool_calls": False,
        "store": False,
        "metadata": {"team": "search"},
    }
    await make_client("google").complete(request("google", params=params, tools=[WEATHER]))
    body = sent(up)
    config = body["generationConfig"]
    assert config["seed"] == 7
    assert config["stopSequences"] == ["END"]
    assert config["frequencyPenalty"] == 0.5
    assert config["presencePenalty"] == 0.25
    leftovers = {"logit_bias", "user", "parallel_tool_calls", "store", "metadata", "frequency_penalty", "stop"}
    assert leftovers.isdisjoint(config)
    assert leftovers.isdisjoint(body)


@pytest.mark.parametrize("kind", ["anthropic", "google"])
async def test_drop_params_false_refuses_what_would_be_dropped(up: FakeUpstream, make_client: Any, kind: str) -> None:
    client = client_of(kind, make_client, drop_params=False)
    with pytest.raises(ProviderBadRequest, match="logit_bias") as caught:
        await client.complete(request(kind, params={"logit_bias": {"1": 2}}))
    assert "drop_params" in str(caught.value)
    assert up.requests == []
    # What translates is still fine with drop_params false.
    await client.complete(request(kind, params={"stop": ["END"]}))
    assert up.requests[-1].body is not None


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_drop_params_must_be_a_bool(make_client: Any, kind: str) -> None:
    with pytest.raises(ConfigError, match="drop_params"):
        client_of(kind, make_client, drop_params="no")


@pytest.mark.parametrize("kind", ["anthropic", "google"])
async def test_an_openai_response_format_in_params_is_refused(up: FakeUpstream, make_client: Any, kind: str) -> None:
    with pytest.raises(ProviderBadRequest, match="response_format"):
        await make_client(kind).complete(request(kind, params={"response_format": {"type": "json_object"}}))


async def test_openai_keeps_tool_strict_and_image_detail(up: FakeUpstream, make_client: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    tool = ToolSpec("get_weather", "The weather", schema, strict=True)
    image = ImagePart(url="https://example.com/cat.jpg", detail="low")
    await make_client("openai").complete(
        ChatRequest(model="gpt-4o-mini", messages=[Message.user([TextPart("what is this?"), image])], tools=[tool])
    )
    body = sent(up)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["messages"][0]["content"][1]["image_url"] == {"url": "https://example.com/cat.jpg", "detail": "low"}


async def test_openai_plain_calls_drop_stream_options(up: FakeUpstream, make_client: Any) -> None:
    up.script(Reply(text="hi"))
    await make_client("openai").complete(request("openai", params={"stream_options": {"include_usage": True}}))
    assert "stream_options" not in sent(up)


@pytest.mark.parametrize(
    ("kind", "typo"), [("openai", "drop_param"), ("anthropic", "max_token"), ("google", "apiVersion")]
)
def test_an_unknown_option_is_a_config_error_that_names_it(make_client: Any, kind: str, typo: str) -> None:
    with pytest.raises(ConfigError, match=f"options.{typo}") as caught:
        client_of(kind, make_client, **{typo: False})
    assert "did you mean" in str(caught.value)


async def test_an_openai_stream_never_interleaves_a_second_choice(canned: tuple[Any, str]) -> None:
    state, url = canned

    def chunk(index: int, text: str | None, finish: str | None = None) -> dict[str, Any]:
        delta = {"content": text} if text is not None else {}
        return {"id": "c", "model": "m", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

    state.answer_events(
        sse(chunk(0, "Hel"), chunk(1, "Bon"), chunk(0, "lo"), chunk(1, "jour"), chunk(0, None, "stop"), b"[DONE]")
    )
    client = canned_client("openai", url)
    try:
        events = [event async for event in client.stream(ChatRequest(model="m", messages=[Message.user("hi")]))]
    finally:
        await client.aclose()
    assert "".join(event.text for event in events if isinstance(event, TextDelta)) == "Hello"


@pytest.mark.parametrize("kind", ["openai", "google"])
async def test_a_models_chat_params_stay_out_of_its_embeddings_requests(
    up: FakeUpstream, make_client: Any, kind: str
) -> None:
    # A model configured with params: {temperature: 0.3} also serves embeddings; the API refuses them there.
    client = client_of(kind, make_client, drop_params=False)
    extra = {"dimensions": 4} if kind == "openai" else {"outputDimensionality": 4}
    params = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 10, **extra}
    await client.embed(EmbeddingRequest(model="text-embedding-3-small", inputs=["a", "b"], params=params))
    body = sent(up)
    sent_params = body if kind == "openai" else body["requests"][0]
    assert {"temperature", "top_p", "max_tokens"}.isdisjoint(sent_params)
    assert set(extra) <= set(sent_params)


async def test_an_openai_stream_always_asks_for_the_usage(up: FakeUpstream, make_client: Any) -> None:
    # Without it the stream's tokens could not be settled against the budget that reserved them.
    params = {"stream_options": {"include_usage": False}}
    events = [event async for event in make_client("openai").stream(request("openai", params=params))]
    assert sent(up)["stream_options"] == {"include_usage": True}
    assert isinstance(events[-1], StreamFinish)
    assert events[-1].usage.output_tokens > 0


@pytest.mark.parametrize("tool_choice", ["required", "get_weather"])
async def test_anthropic_never_forces_a_tool_with_thinking_on(
    up: FakeUpstream, make_client: Any, tool_choice: str
) -> None:
    # OpenAI clients force tools routinely (Pydantic AI's output tool); Anthropic refuses that with thinking.
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "parallel_tool_calls": False}
    ask = request("anthropic", params=thinking, max_output_tokens=2048, tools=[WEATHER], tool_choice=tool_choice)
    with structlog.testing.capture_logs() as logs:
        await make_client("anthropic").complete(ask)
    assert sent(up)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert [log["params"] for log in logs if log["event"] == "param_adjusted"] == [["tool_choice"]]
    with pytest.raises(ProviderBadRequest, match="extended thinking"):
        await client_of("anthropic", make_client, drop_params=False).complete(ask)


async def test_anthropic_forces_a_tool_when_thinking_is_off(up: FakeUpstream, make_client: Any) -> None:
    await make_client("anthropic").complete(request("anthropic", params={}, tools=[WEATHER], tool_choice="required"))
    assert sent(up)["tool_choice"] == {"type": "any"}


async def test_anthropic_gets_a_temperature_on_its_own_scale(up: FakeUpstream, make_client: Any) -> None:
    hot = request("anthropic", params={}, temperature=1.6)  # fine on OpenAI's 0..2 scale
    await make_client("anthropic").complete(hot)
    assert sent(up)["temperature"] == 1.0
    with pytest.raises(ProviderBadRequest, match="temperature from 0 to 1"):
        await client_of("anthropic", make_client, drop_params=False).complete(hot)
    await make_client("anthropic").complete(request("anthropic", params={}, temperature=0.4))
    assert sent(up)["temperature"] == 0.4


async def test_gemini_logprobs_in_either_dialect(up: FakeUpstream, make_client: Any) -> None:
    client = make_client("google")
    await client.complete(request("google", params={"logprobs": True, "top_logprobs": 3}))  # OpenAI's
    assert sent(up)["generationConfig"].items() >= {"responseLogprobs": True, "logprobs": 3}.items()
    await client.complete(request("google", params={"responseLogprobs": True, "logprobs": 2}))  # Gemini's own
    assert sent(up)["generationConfig"].items() >= {"responseLogprobs": True, "logprobs": 2}.items()


THINKING_ON = {"thinking": {"type": "enabled", "budget_tokens": 1024}}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"temperature": 0.2}, {}),  # not sent: the default, 1, is what thinking takes
        ({"top_p": 0.5}, {"top_p": 0.95}),
        ({"temperature": 1.0, "top_p": 0.97}, {"temperature": 1.0, "top_p": 0.97}),  # allowed as given
    ],
)
async def test_anthropic_sampling_settings_are_adjusted_to_what_thinking_takes(
    up: FakeUpstream, make_client: Any, fields: dict[str, float], expected: dict[str, float]
) -> None:
    # An OpenAI client cannot know the model thinks; the strict fake refuses what Anthropic refuses.
    ask = request("anthropic", params=THINKING_ON, max_output_tokens=2048, **fields)
    await make_client("anthropic").complete(ask)
    body = sent(up)
    assert {key: body[key] for key in ("temperature", "top_p") if key in body} == expected


async def test_anthropic_sampling_settings_thinking_refuses_are_a_400_with_drop_params_off(
    make_client: Any,
) -> None:
    ask = request("anthropic", params=THINKING_ON, max_output_tokens=2048, temperature=0.2)
    with pytest.raises(ParamsRefused, match="temperature") as refused:
        await client_of("anthropic", make_client, drop_params=False).complete(ask)
    assert refused.value.param == "temperature"
    assert "providers." not in refused.value.client_message  # configuration is the operator's business


async def test_anthropic_thinking_with_no_room_for_its_budget_is_refused_in_our_words(
    up: FakeUpstream, make_client: Any
) -> None:
    ask = request("anthropic", params=THINKING_ON, max_output_tokens=500)  # a policy's hold is never raised
    with pytest.raises(ParamsRefused, match=r"max_tokens above its budget_tokens \(1024\)") as refused:
        await make_client("anthropic").complete(ask)
    assert refused.value.param == "max_tokens"
    assert up.requests == []  # refused before anything was sent
