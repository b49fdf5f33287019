"""Presets of the openai kind: base_url and the key variable filled in, the cap's field name, errors that
list the presets; and a preset call through the runtime."""

from __future__ import annotations

import pytest

from agentrt import Runtime
from agentrt.config import ProviderSection
from agentrt.errors import ConfigError
from agentrt.providers import ProviderRegistry
from agentrt.providers._presets import PRESETS, apply_preset
from agentrt.testing import FakeUpstream, Reply

EXPECTED = {
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY"),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "perplexity": ("https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
    "qwen": ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_preset_fills_base_url_and_key(preset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, variable = EXPECTED[preset]
    monkeypatch.setenv(variable, f"key-of-{preset}-123456")
    section = apply_preset("p", ProviderSection(kind="openai", preset=preset))
    assert section.base_url == url
    assert section.api_key is not None
    assert section.api_key.get_secret_value() == f"key-of-{preset}-123456"
    assert section.options["max_tokens_field"] == PRESETS[preset].max_tokens_field


def test_preset_keeps_what_the_section_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    given = ProviderSection(
        kind="openai",
        preset="groq",
        base_url="http://proxy.local/v1",
        api_key="mine",
        options={"max_tokens_field": "max_tokens"},
    )
    section = apply_preset("p", given)
    assert section.base_url == "http://proxy.local/v1"
    assert section.api_key is not None
    assert section.api_key.get_secret_value() == "mine"
    assert section.options["max_tokens_field"] == "max_tokens"


def test_preset_errors_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="known presets: deepseek, fireworks, groq, mistral"):
        ProviderRegistry({"p": ProviderSection(kind="openai", preset="grok", api_key="k")})
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="MISTRAL_API_KEY"):
        ProviderRegistry({"p": ProviderSection(kind="openai", preset="mistral")})
    with pytest.raises(ConfigError, match="setting of kind openai"):
        ProviderRegistry({"p": ProviderSection(kind="anthropic", preset="groq", api_key="k")})


async def test_preset_call_sends_the_preset_key_and_cap_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek-0123456789")
    async with FakeUpstream(api_key="sk-deepseek-0123456789") as up:
        up.script(Reply(text="hi"))
        config = {
            "logging": {"console": {"format": "off"}},
            # base_url given (a test server); the key comes from the preset's variable
            "providers": {"ds": {"kind": "openai", "preset": "deepseek", "base_url": up.openai_base_url}},
            "models": {"m": {"provider": "ds", "name": "deepseek-chat"}},
        }
        async with Runtime.open(config, plugins=False) as rt:
            completion = await rt.generate("m", "hello", max_output_tokens=12)
    assert completion.text == "hi"
    (request,) = up.requests
    assert request.headers["authorization"] == "Bearer sk-deepseek-0123456789"
    assert request.body["max_tokens"] == 12
    assert "max_completion_tokens" not in request.body
