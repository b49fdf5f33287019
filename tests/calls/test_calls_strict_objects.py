"""generate_object against the real APIs' rules: strict-valid schemas, and types that are not models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from calls_support import open_runtime
from pydantic import BaseModel
from structlog.testing import capture_logs

from agentrt.calls._strict_schema import strict_json_schema
from agentrt.testing import FakeUpstream, Reply


class Line(BaseModel):
    sku: str
    quantity: int = 1


class Invoice(BaseModel):
    number: str
    lines: list[Line]
    note: str | None = None
    billed_to: Line | None = None


def objects_in(schema: Any) -> list[dict[str, Any]]:
    """Every object schema anywhere in ``schema``: nested, in $defs, in items and anyOf branches."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            found.append(schema)
        for value in schema.values():
            found.extend(objects_in(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(objects_in(value))
    return found


def assert_strict_valid(schema: dict[str, Any]) -> None:
    """OpenAI strict mode's and Anthropic output_config's rules for every object."""
    objects = objects_in(schema)
    assert objects
    for node in objects:
        assert node["additionalProperties"] is False, node
        assert sorted(node["required"]) == sorted(node["properties"]), node
    assert '"default": null' not in str(schema).replace("'", '"').replace("None", "null")


async def test_the_schema_sent_for_a_nested_model_is_strict_valid(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text='{"number": "A1", "lines": [{"sku": "x", "quantity": 2}], "note": null, "billed_to": null}'))
    async with open_runtime(up, tmp_path) as rt:
        invoice = await rt.generate_object("primary", "the invoice", schema=Invoice)
    assert invoice == Invoice(number="A1", lines=[Line(sku="x", quantity=2)])
    sent = up.requests[0].body["response_format"]["json_schema"]
    assert sent["strict"] is True
    assert_strict_valid(sent["schema"])
    note = sent["schema"]["properties"]["note"]
    assert {"type": "null"} in note["anyOf"]  # Optional stays nullable, now required


async def test_the_schema_sent_to_anthropic_is_strict_valid_too(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text='{"number": "A1", "lines": [], "note": "n", "billed_to": {"sku": "s", "quantity": 1}}'))
    async with open_runtime(up, tmp_path) as rt:
        invoice = await rt.generate_object("backup", "the invoice", schema=Invoice)
    assert invoice.billed_to == Line(sku="s")
    sent = up.requests[0].body["output_config"]["format"]
    assert sent["type"] == "json_schema"
    assert_strict_valid(sent["schema"])


@pytest.mark.parametrize(
    ("schema", "answer", "expected"),
    [
        (list[int], '{"value": [1, 2, 3]}', [1, 2, 3]),
        (str, '{"value": "hello"}', "hello"),
        (list[Line], '{"value": [{"sku": "a", "quantity": 1}]}', [Line(sku="a")]),
    ],
)
async def test_types_that_are_not_models_are_asked_for_wrapped_and_returned_unwrapped(
    up: FakeUpstream, tmp_path: Path, schema: Any, answer: str, expected: Any
) -> None:
    up.script(Reply(text=answer))
    async with open_runtime(up, tmp_path) as rt:
        value = await rt.generate_object("primary", "some values", schema=schema)
    assert value == expected
    sent = up.requests[0].body["response_format"]["json_schema"]
    assert sent["schema"]["required"] == ["value"]
    assert_strict_valid(sent["schema"])


async def test_a_free_form_mapping_cannot_be_strict_and_is_sent_as_not_strict(up: FakeUpstream, tmp_path: Path) -> None:
    class Scores(BaseModel):
        by_name: dict[str, int]

    up.script(Reply(text='{"by_name": {"ann": 3}}'))
    async with open_runtime(up, tmp_path) as rt:
        with capture_logs() as logs:
            scores = await rt.generate_object("primary", "scores", schema=Scores)
    assert [entry["schema"] for entry in logs if entry["event"] == "object_schema_not_strict"] == ["Scores"]
    assert scores.by_name == {"ann": 3}
    sent = up.requests[0].body["response_format"]["json_schema"]
    assert sent["strict"] is False
    assert sent["schema"]["properties"]["by_name"]["additionalProperties"] == {"type": "integer"}


def test_strict_schema_rules_hold_for_refs_with_siblings_and_defs() -> None:
    class Holder(BaseModel):
        """A holder."""

        main: Line = Line(sku="default")
        others: list[Line] = []

    schema, strict = strict_json_schema(Holder.model_json_schema())
    assert strict
    assert_strict_valid(schema)
    main = schema["properties"]["main"]
    assert "$ref" not in main or len(main) == 1  # strict mode refuses keys beside a $ref


def test_a_type_pydantic_cannot_validate_is_refused_clearly() -> None:
    from agentrt.calls.objects import _Target

    with pytest.raises(TypeError, match="not a type pydantic can validate"):
        _Target(object())
