"""check_request and estimate_tokens: what a model can do, and whether a request fits it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.errors import CapabilityError
from agentrt.models import IMAGE_TOKENS, ModelSpec, check_request, estimate_tokens
from agentrt.types import ImagePart, Message, TextPart, ToolCall, ToolSpec

EVERYTHING = frozenset({"chat", "tools", "json", "vision", "streaming"})


def spec(capabilities: set[str] | frozenset[str] = EVERYTHING, **limits: int) -> ModelSpec:
    return ModelSpec(
        name="local-small", provider="offline", provider_model="small", capabilities=frozenset(capabilities), **limits
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flag", "capability"),
    [("tools", "tools"), ("json_schema", "json"), ("images", "vision"), ("stream", "streaming")],
)
def test_a_missing_capability_names_the_model_and_the_capability(flag: str, capability: str) -> None:
    lacking = spec(EVERYTHING - {capability})

    with pytest.raises(CapabilityError) as caught:
        check_request(lacking, **{flag: True})  # type: ignore[arg-type]

    assert caught.value.model == "local-small"
    assert caught.value.capability == capability
    message = str(caught.value)
    assert message.startswith("model 'local-small' cannot ")
    assert f"add '{capability}' to models.local-small.capabilities" in message
    assert "or call a model that does" in message


@pytest.mark.parametrize("flag", ["tools", "json_schema", "images", "stream"])
def test_a_model_with_the_capability_passes(flag: str) -> None:
    check_request(spec(), **{flag: True})  # type: ignore[arg-type]


def test_the_tools_message_reads_as_documented() -> None:
    with pytest.raises(CapabilityError) as caught:
        check_request(spec({"chat"}), tools=True)

    assert str(caught.value) == (
        "model 'local-small' cannot use tools: add 'tools' to models.local-small.capabilities "
        "if it supports it, or call a model that does"
    )


def test_an_embeddings_request_needs_embeddings_and_not_chat() -> None:
    embedder = spec({"embeddings"})

    check_request(embedder, embeddings=True)
    with pytest.raises(CapabilityError) as caught:
        check_request(spec(), embeddings=True)
    assert caught.value.capability == "embeddings"


def test_a_chat_request_to_a_model_without_chat_is_refused() -> None:
    with pytest.raises(CapabilityError) as caught:
        check_request(spec({"embeddings"}))

    assert caught.value.capability == "chat"


def test_asking_for_more_output_than_the_model_writes_is_refused() -> None:
    limited = spec(max_output_tokens=4096)

    check_request(limited, max_output_tokens=4096)
    with pytest.raises(CapabilityError) as caught:
        check_request(limited, max_output_tokens=4097)
    assert caught.value.capability == "max_output_tokens"
    assert "4096" in str(caught.value)


def test_a_request_larger_than_the_context_window_is_refused_with_an_estimate() -> None:
    small_window = spec(context_window=1000)
    long_conversation = [Message.system("be brief"), Message.user("word " * 1000)]

    estimate = estimate_tokens(long_conversation)
    with pytest.raises(CapabilityError) as caught:
        check_request(small_window, input_tokens=estimate)

    assert caught.value.capability == "context"
    assert caught.value.model == "local-small"
    assert "1000 tokens" in str(caught.value)
    assert f"about {estimate} input tokens" in str(caught.value)


def test_the_answer_counts_against_the_context_window() -> None:
    window = spec(context_window=1000)

    check_request(window, input_tokens=600, max_output_tokens=400)
    with pytest.raises(CapabilityError) as caught:
        check_request(window, input_tokens=600, max_output_tokens=401)
    assert caught.value.capability == "context"
    assert "lower max_output_tokens" in str(caught.value)


def test_no_limits_configured_means_none_are_checked() -> None:
    check_request(spec(), input_tokens=10**9, max_output_tokens=10**9)


# --- estimate_tokens -----------------------------------------------------------------


def test_ascii_text_counts_a_token_per_four_characters_rounded_up_plus_overheads() -> None:
    empty = estimate_tokens([Message.user("")])

    assert estimate_tokens([Message.user("a" * 400)]) == empty + 100
    assert estimate_tokens([Message.user("a" * 401)]) == empty + 101
    assert estimate_tokens([Message.user(""), Message.user("")]) > empty


def test_non_ascii_text_counts_its_utf8_bytes() -> None:
    empty = estimate_tokens([Message.user("")])

    # 400 CJK characters are 1200 UTF-8 bytes: 300 tokens, not the 100 that characters/4 would say.
    assert estimate_tokens([Message.user("字" * 400)]) == empty + 300


def test_images_count_a_fixed_amount() -> None:
    text_only = estimate_tokens([Message.user([TextPart("look")])])
    with_image = estimate_tokens([Message.user([TextPart("look"), ImagePart(url="https://example.com/a.png")])])

    assert with_image - text_only == IMAGE_TOKENS


def test_tools_and_tool_calls_count() -> None:
    messages = [Message.user("weather in Paris?")]
    get_weather = ToolSpec(
        "get_weather",
        "The forecast for a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    call = Message.assistant(tool_calls=[ToolCall("call_1", "get_weather", {"city": "Paris"})])

    assert estimate_tokens(messages, [get_weather]) > estimate_tokens(messages) + 10
    assert estimate_tokens([*messages, call]) > estimate_tokens([*messages, Message.assistant()])


def test_odd_tool_arguments_do_not_break_the_estimate() -> None:
    call = Message.assistant(tool_calls=[ToolCall("c", "t", {"when": object(), 1: "x"})])  # type: ignore[dict-item]

    assert estimate_tokens([call]) > 0


@given(st.text())
def test_the_estimate_is_at_least_characters_over_four(text: str) -> None:
    assert estimate_tokens([Message.user(text)]) >= math.ceil(len(text) / 4)


@given(st.lists(st.text(max_size=200), min_size=1, max_size=5))
def test_the_input_bound_covers_every_byte_and_the_estimate(texts: list[str]) -> None:
    from agentrt.models import input_token_bound

    messages = [Message.user(text) for text in texts]
    bound = input_token_bound(messages)
    # A byte-level tokenizer emits at most one token per byte: the bound can never be outgrown.
    assert bound >= sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
    assert bound >= estimate_tokens(messages)
