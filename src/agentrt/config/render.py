"""Showing a config (``agentrt config show``) and describing it to editors (JSON Schema)."""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from agentrt.config._editor_schema import widen_for_the_loader
from agentrt.config._paths import mask_secrets
from agentrt.config.schema import Config

__all__ = ["config_json_schema", "render_config"]


def render_config(config: Config, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """The effective config as YAML or JSON text, every secret shown as ``**********``.

    Keys keep their declaration order, durations read as ``30s`` and sizes as bytes,
    so the output is itself a valid config (with the secrets to fill back in).
    """
    data = mask_secrets(config.model_dump(mode="json", by_alias=True))
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False))
    raise ValueError(f"unknown format {fmt!r}: use 'yaml' or 'json'")


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the config file, for editor completion and validation.

    Durations and sizes accept both numbers and strings, as the loader does; so do
    ``{include: file}`` in place of any value, ``${VAR}`` in place of any scalar,
    and a ``$schema`` key at the top of a file.
    """
    schema = widen_for_the_loader(Config.model_json_schema(by_alias=True, mode="validation"))
    schema["title"] = "agentrt configuration"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
