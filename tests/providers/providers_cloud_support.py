"""What the tests of the cloud kinds share: runtime configs pointed at a FakeUpstream, a generated
service account for Vertex, and a tool for tool loops. (A plain module: the test folders are not packages.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentrt.testing import FakeUpstream
from agentrt.testing.fake_upstream import FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY
from agentrt.tools import tool

AZURE_KEY = "azure-key-0123456789SECRET"
FAST_RETRY = {"attempts": 2, "backoff": "1ms", "max_backoff": "2ms"}
CAPABILITIES = ["chat", "tools", "json", "vision", "streaming"]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def provider_section(kind: str, up: FakeUpstream, **fields: Any) -> dict[str, Any]:
    """A provider section of ``kind`` pointed at ``up``, with credentials the fake accepts."""
    section: dict[str, Any] = {"kind": kind, "base_url": up.url, "retry": FAST_RETRY}
    if kind == "azure":
        section["api_key"] = AZURE_KEY
    elif kind == "bedrock":
        section.update(
            region="us-east-1",
            aws_access_key_id=FAKE_AWS_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_AWS_SECRET_ACCESS_KEY,
        )
    section.update(fields)
    return section


def runtime_config(kind: str, up: FakeUpstream, name: str, **fields: Any) -> dict[str, Any]:
    """A runtime config with one provider of ``kind`` and one model ``m`` (provider-side ``name``)."""
    return {
        "logging": {"console": {"format": "off"}},
        "providers": {"p": provider_section(kind, up, **fields)},
        "models": {"m": {"provider": "p", "name": name, "capabilities": CAPABILITIES}},
    }


def service_account(up: FakeUpstream, folder: Path, *, trusted: bool = True) -> Path:
    """A service-account key file with a new RSA key whose token_uri is the fake's token endpoint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = "agentrt-test@test-project.iam.gserviceaccount.com"
    if trusted:
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        up.trust_service_account(email, public)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "key-1",
        "private_key": private,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": up.token_uri,
    }
    path = folder / "service-account.json"
    path.write_text(json.dumps(info))
    return path
