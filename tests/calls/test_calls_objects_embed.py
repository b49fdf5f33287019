"""generate_object (validated, re-asked on invalid output) and embed."""

from __future__ import annotations

from pathlib import Path

import pytest
from calls_support import open_runtime
from pydantic import BaseModel

from agentrt import Runtime
from agentrt.errors import CapabilityError, OutputValidationError
from agentrt.testing import FakeUpstream, Reply


class Invoice(BaseModel):
    number: str
    total: float
    paid: bool


async def test_an_invalid_answer_is_sent_back_with_the_errors_and_fixed(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(
        Reply(text='{"number": "INV-1", "total": "a lot"}'),
        Reply(text='```json\n{"number": "INV-1", "total": 12.5, "paid": false}\n```'),
    )
    async with open_runtime(up, tmp_path) as rt:
        invoice = await rt.generate_object("primary", "the invoice, please", schema=Invoice)
    assert invoice == Invoice(number="INV-1", total=12.5, paid=False)
    first, second = up.requests
    assert first.body["response_format"]["type"] == "json_schema"
    assert first.body["response_format"]["json_schema"]["schema"]["required"] == ["number", "total", "paid"]
    feedback = second.body["messages"][-1]["content"]
    assert "total" in feedback
    assert "paid" in feedback


async def test_output_that_never_validates_raises_after_the_allowed_retries(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(*[Reply(text="not json at all") for _ in range(5)])
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(OutputValidationError) as caught:
            await rt.generate_object("primary", "invoice", schema=Invoice, retries=1)
    assert len(up.requests) == 2
    assert caught.value.output == "not json at all"
    assert caught.value.model == "primary"


async def test_json_output_needs_the_json_capability(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(CapabilityError) as caught:
            await rt.generate_object("plain", "invoice", schema=Invoice)
    assert caught.value.capability == "json"


async def test_the_local_provider_answers_schema_valid_objects_offline() -> None:
    config = {
        "logging": {"console": {"format": "off"}},
        "providers": {"offline": {"kind": "local"}},
        "models": {"local": {"provider": "offline", "capabilities": ["chat", "json"]}},
    }
    async with Runtime.open(config, plugins=False) as rt:
        invoice = await rt.generate_object("local", "invoice", schema=Invoice)
    assert isinstance(invoice, Invoice)


async def test_embeddings_come_back_one_vector_per_input_with_usage(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        result = await rt.embed("primary", ["first text", "second text"], user="eve")
        with pytest.raises(CapabilityError):
            await rt.embed("backup", "no embeddings here")
    assert len(result.vectors) == 2
    assert len(result.vectors[0]) == 8
    assert result.vectors[0] != result.vectors[1]
    assert result.usage.input_tokens > 0
    assert result.model == "primary"
    assert up.requests[-1].path == "/v1/embeddings"


async def test_embeddings_refuse_fallbacks_since_vectors_would_not_compare(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ValueError, match="not be comparable"):
            await rt.embed("primary", "text", fallbacks=["backup"])
    assert up.requests == []
