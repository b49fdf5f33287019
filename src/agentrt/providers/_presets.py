"""Presets of the ``openai`` kind: OpenAI-compatible services known by name.

``kind: openai, preset: groq`` uses the service's ``base_url`` and reads the key
from its conventional variable (``GROQ_API_KEY``) when the section gives no
``base_url`` / ``api_key`` of its own. A preset also says which name the
service gives the output cap: most know only ``max_tokens`` (Mistral refuses an
unknown field with 422), so that is sent unless ``options.max_tokens_field``
says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from agentrt.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["PRESETS", "Preset", "apply_preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    base_url: str
    key_variable: str
    max_tokens_field: str = "max_tokens"


PRESETS: dict[str, Preset] = {
    "groq": Preset("https://api.groq.com/openai/v1", "GROQ_API_KEY", "max_completion_tokens"),
    "deepseek": Preset("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "xai": Preset("https://api.x.ai/v1", "XAI_API_KEY", "max_completion_tokens"),
    "mistral": Preset("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "openrouter": Preset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "together": Preset("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "perplexity": Preset("https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
    "qwen": Preset("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
}
"""The presets: base URL, key variable and output-cap field of each service."""


def apply_preset(name: str, section: ProviderSection) -> ProviderSection:
    """``section`` with its preset's defaults filled in; the section itself when it names no preset."""
    if section.preset is None:
        return section
    preset = PRESETS.get(section.preset.lower())
    if preset is None:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(
            [
                ConfigProblem(
                    f"providers.{name}.preset",
                    f"unknown preset {section.preset!r}; known presets: {known} (or leave preset out and set "
                    "base_url to any OpenAI-compatible endpoint)",
                )
            ]
        )
    update: dict[str, object] = {}
    if section.base_url is None:
        update["base_url"] = preset.base_url
    if section.api_key is None:
        key = os.environ.get(preset.key_variable)
        if not key:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"providers.{name}.api_key",
                        f"preset {section.preset!r} reads the key from {preset.key_variable}, which is not set: "
                        f"export {preset.key_variable}, or set api_key",
                    )
                ]
            )
        update["api_key"] = SecretStr(key)
    if "max_tokens_field" not in section.options:
        update["options"] = {**section.options, "max_tokens_field": preset.max_tokens_field}
    return section.model_copy(update=update)
