"""The azure kind through rt.generate / rt.stream and its client, against the strict FakeUpstream:
deployment URLs with api-version, the api-key header or an Entra ID token, OpenAI's bodies, and Azure's
errors (content filter, 429 with retry-after-ms)."""

from __future__ import annotations

from typing import Any

import pytest
from providers_cloud_support import AZURE_KEY, get_weather, provider_section, runtime_config

from agentrt import Runtime
from agentrt.config import ProviderSection
from agentrt.errors import ConfigError, ProviderAuthError, ProviderBadRequest, ProviderRateLimited
from agentrt.providers import builtin_kinds
from agentrt.providers.azure import DEFAULT_API_VERSION, read_azure_error
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import ChatRequest, Completed, EmbeddingRequest, Message, TextDelta

_OPEN: list[Any] = []


@pytest.fixture
async def up() -> Any:
    async with FakeUpstream(api_key=AZURE_KEY) as upstream:
        yield upstream
    while _OPEN:
        await _OPEN.pop().aclose()


def client(up: FakeUpstream, **fields: Any) -> Any:
    made = builtin_kinds()["azure"]("az", ProviderSection.model_validate(provider_section("azure", up, **fields)))
    _OPEN.append(made)
    return made


async def test_azure_generate_uses_the_deployment_url_and_api_key(up: FakeUpstream) -> None:
    up.script(Reply(text="hello from azure", usage=(9, 3)))
    async with Runtime.open(runtime_config("azure", up, "my-gpt4o"), plugins=False) as rt:
        completion = await rt.generate("m", "hi", max_output_tokens=20)
    assert completion.text == "hello from azure"
    (request,) = up.requests
    assert request.rejection is None
    assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert request.query == {"api-version": DEFAULT_API_VERSION}
    assert request.headers["api-key"] == AZURE_KEY
    assert "authorization" not in request.headers
    assert request.body["max_completion_tokens"] == 20


async def test_azure_stream_and_tool_loop(up: FakeUpstream) -> None:
    up.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]), Reply(text="Sunny in Oslo.", chunk_size=4))
    async with Runtime.open(runtime_config("azure", up, "dep"), plugins=False) as rt:
        events = [e async for e in rt.stream("m", "weather?", tools=[get_weather])]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Sunny in Oslo."
    done = next(e for e in events if isinstance(e, Completed))
    assert done.completion.text == "Sunny in Oslo."
    assert up.rejected == []  # the tool result went back as OpenAI wants it
    assert up.requests[1].body["messages"][-1]["role"] == "tool"


async def test_azure_entra_id_token_is_a_bearer_token(up: FakeUpstream) -> None:
    azure = client(up, api_key=None, ad_token=AZURE_KEY)
    await azure.complete(ChatRequest(model="dep", messages=[Message.user("hi")]))
    headers = up.requests[0].headers
    assert headers["authorization"] == f"Bearer {AZURE_KEY}"
    assert "api-key" not in headers


async def test_azure_v1_api_and_embeddings(up: FakeUpstream) -> None:
    azure = client(up, options={"api_version": "v1"})
    await azure.complete(ChatRequest(model="dep", messages=[Message.user("hi")]))
    assert up.requests[-1].path == "/openai/v1/chat/completions"
    assert up.requests[-1].body["model"] == "dep"
    classic = client(up)
    vectors = await classic.embed(EmbeddingRequest(model="emb-dep", inputs=["a", "b"]))
    assert len(vectors.vectors) == 2
    assert up.requests[-1].path == "/openai/deployments/emb-dep/embeddings"
    assert "models available" in await classic.check()


async def test_azure_errors(up: FakeUpstream) -> None:
    azure = client(up)
    request = ChatRequest(model="dep", messages=[Message.user("hi")])
    up.script(Fault(status=429, retry_after=1.5))
    with pytest.raises(ProviderRateLimited) as limited:
        await azure.complete(request)
    assert limited.value.retry_after == 1.5
    wrong = client(up, api_key="not-the-key-123456")
    with pytest.raises(ProviderAuthError, match="Access denied"):
        await wrong.complete(request)


def test_azure_error_bodies_are_read() -> None:
    from agentrt.testing._azure import AzureDialect

    _, filtered = AzureDialect().content_filter_error()
    info = read_azure_error(filtered)
    assert info is not None
    assert "content filter" in info.message
    quota = {
        "error": {
            "code": "429",
            "message": "Requests ... have exceeded token rate limit. Please retry after 6 seconds.",
        }
    }
    info = read_azure_error(quota)
    assert info is not None
    assert info.retry_after == 6


async def test_azure_content_filter_is_a_bad_request(canned: Any) -> None:
    from agentrt.testing._azure import AzureDialect

    state, url = canned
    status, body = AzureDialect().content_filter_error()
    state.answer_json(body, status)
    azure = builtin_kinds()["azure"]("az", ProviderSection(kind="azure", base_url=url, api_key="k-123456"))
    with pytest.raises(ProviderBadRequest, match="content filter"):
        await azure.complete(ChatRequest(model="dep", messages=[Message.user("hi")]))
    await azure.aclose()


def test_azure_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="resource endpoint"):
        builtin_kinds()["azure"]("az", ProviderSection(kind="azure", api_key="k"))
    with pytest.raises(ConfigError, match="not api_key and ad_token"):
        builtin_kinds()["azure"](
            "az", ProviderSection(kind="azure", base_url="https://r.openai.azure.com", api_key="k", ad_token="t")
        )
    with pytest.raises(ConfigError, match="API version"):
        builtin_kinds()["azure"](
            "az", ProviderSection(kind="azure", base_url="https://r.openai.azure.com", options={"api_version": "2024"})
        )


async def test_fake_refuses_a_deployment_url_without_api_version(up: FakeUpstream) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        url = f"{up.azure_endpoint}/openai/deployments/dep/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}]}
        async with session.post(url, json=body, headers={"api-key": AZURE_KEY}) as answer:
            assert answer.status == 404
            assert (await answer.json())["error"]["message"] == "Resource not found"


_TOKENS: list[str] = []


async def current_token() -> str:
    """An ad_token_provider (async), counting how often it is asked."""
    _TOKENS.append(AZURE_KEY)  # the fake knows one key; the count shows it was asked each time
    return _TOKENS[-1]


def broken_token() -> str:
    raise RuntimeError("no Entra ID credential found")


async def test_azure_token_provider_is_asked_before_each_request(up: FakeUpstream) -> None:
    _TOKENS.clear()
    azure = client(up, api_key=None, options={"ad_token_provider": f"{__name__}:current_token"})
    for _ in range(2):
        await azure.complete(ChatRequest(model="dep", messages=[Message.user("hi")]))
    assert len(_TOKENS) == 2
    assert [r.headers["authorization"] for r in up.requests] == [f"Bearer {AZURE_KEY}"] * 2
    failing = client(up, api_key=None, options={"ad_token_provider": f"{__name__}:broken_token"})
    with pytest.raises(ProviderAuthError, match="no Entra ID credential"):
        await failing.complete(ChatRequest(model="dep", messages=[Message.user("hi")]))


def test_azure_token_provider_must_import() -> None:
    base = "https://r.openai.azure.com"
    with pytest.raises(ConfigError, match="cannot import"):
        builtin_kinds()["azure"](
            "az", ProviderSection(kind="azure", base_url=base, options={"ad_token_provider": "no_such_mod:f"})
        )
    with pytest.raises(ConfigError, match=r"not api_key and options\.ad_token_provider"):
        builtin_kinds()["azure"](
            "az",
            ProviderSection(kind="azure", base_url=base, api_key="k", options={"ad_token_provider": "os:getcwd"}),
        )
