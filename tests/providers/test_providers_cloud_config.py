"""The new provider fields in the configuration: credentials masked by `config show` and blanked out of
logs, kinds checked by `config validate` (preflight) as start would check them."""

from __future__ import annotations

import pytest

from agentrt._preflight import preflight_problems
from agentrt.config import load_config, render_config

SECRETS = {
    "ad_token": "entra-token-SECRET-0001",
    "aws_access_key_id": "AKIDSECRET00000002",
    "aws_secret_access_key": "aws-secret-SECRET-0003",
    "aws_session_token": "aws-session-SECRET-0004",
}


def test_credentials_are_masked_and_redacted() -> None:
    loaded = load_config(
        {
            "providers": {
                "az": {"kind": "azure", "base_url": "https://r.openai.azure.com", "ad_token": SECRETS["ad_token"]},
                "aws": {"kind": "bedrock", "region": "eu-west-1", **{k: v for k, v in SECRETS.items() if "aws" in k}},
            }
        },
        environ={},
    )
    shown = render_config(loaded.config, fmt="yaml")
    assert "SECRET" not in shown
    assert set(SECRETS.values()) <= set(loaded.config.secret_values())


async def test_validate_reports_each_kinds_own_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
        "GROQ_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    loaded = load_config(
        {
            "providers": {
                "aws": {"kind": "bedrock"},
                "az": {"kind": "azure", "api_key": "k"},
                "groq": {"kind": "openai", "preset": "groq"},
                "local": {"kind": "ollama"},
            }
        },
        environ={},
    )
    problems = {problem.path: problem.message for problem in await preflight_problems(loaded)}
    assert "AWS region" in problems["providers.aws.region"]
    assert "resource endpoint" in problems["providers.az.base_url"]
    assert "GROQ_API_KEY" in problems["providers.groq.api_key"]
    assert not any(path.startswith("providers.local") for path in problems)
