"""PromptLibrary: inline, messages and file templates, typed inputs, errors naming the input, the sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from agentrt.config._prompts import PromptSection
from agentrt.errors import ConfigError, PromptError, PromptInputError
from agentrt.prompts import PromptLibrary, RenderedPrompt
from agentrt.types import Message


def library(**prompts: dict[str, Any]) -> PromptLibrary:
    return PromptLibrary({name: PromptSection.model_validate(spec) for name, spec in prompts.items()})


TRIAGE = {
    "description": "Sort a ticket",
    "inputs": {
        "ticket": {"type": "str", "description": "the customer's words"},
        "tags": {"type": "list", "items": "str", "default": []},
        "priority": {"type": "int", "default": 3},
        "company": {"type": "str", "default": None},
    },
    "system": "You sort tickets for {{ company or 'us' }}. Priority scale 1-{{ priority }}.",
    "user": "{{ ticket }}\n{% if tags %}(tags: {{ tags | join(', ') }}){% endif %}",
}


def test_inline_system_and_user_render_with_defaults() -> None:
    rendered = library(triage=TRIAGE).render("triage", ticket="My invoice is wrong")
    assert isinstance(rendered, RenderedPrompt)
    assert list(rendered) == [
        Message("system", "You sort tickets for us. Priority scale 1-3."),
        Message("user", "My invoice is wrong"),
    ]
    assert rendered.name == "triage"
    assert rendered.config_version == 1
    assert len(rendered.digest) == 12


def test_typed_inputs_override_defaults() -> None:
    rendered = library(triage=TRIAGE).render(
        "triage", ticket="Broken", tags=["billing", "urgent"], priority=5, company="Acme"
    )
    assert rendered[0].text == "You sort tickets for Acme. Priority scale 1-5."
    assert rendered[1].text == "Broken\n(tags: billing, urgent)"


def test_messages_form_keeps_every_turn_in_order() -> None:
    few_shot = {
        "inputs": {"text": "str"},
        "messages": [
            {"role": "system", "content": "Answer with one word."},
            {"role": "user", "content": "sky?"},
            {"role": "assistant", "content": "blue"},
            {"role": "user", "content": "{{ text }}?"},
        ],
    }
    rendered = library(few=few_shot).render("few", text="grass")
    assert [(m.role, m.text) for m in rendered] == [
        ("system", "Answer with one word."),
        ("user", "sky?"),
        ("assistant", "blue"),
        ("user", "grass?"),
    ]


def test_a_message_that_renders_empty_is_left_out() -> None:
    spec = {
        "inputs": {"context": {"type": "str", "default": ""}, "q": "str"},
        "system": "{% if context %}Context: {{ context }}{% endif %}",
        "user": "{{ q }}",
    }
    assert [m.role for m in library(p=spec).render("p", q="hi")] == ["user"]
    assert [m.role for m in library(p=spec).render("p", q="hi", context="c")] == ["system", "user"]


def test_file_with_system_and_user_blocks(tmp_path: Path) -> None:
    path = tmp_path / "triage.j2"
    path.write_text(
        "{# the triage prompt #}\n"
        "{% block system %}\nYou sort tickets.\n{% endblock %}\n\n"
        "{% block user %}\nTicket: {{ ticket }}\n{% for t in tags %}- {{ t }}\n{% endfor %}{% endblock %}\n",
        encoding="utf-8",
    )
    spec = {"inputs": {"ticket": "str", "tags": {"type": "list", "default": []}}, "file": str(path)}
    rendered = library(t=spec).render("t", ticket="late parcel", tags=["a", "b"])
    assert [(m.role, m.text) for m in rendered] == [
        ("system", "You sort tickets."),
        ("user", "Ticket: late parcel\n- a\n- b"),
    ]


def test_file_without_blocks_is_the_user_message(tmp_path: Path) -> None:
    path = tmp_path / "plain.j2"
    path.write_text("Summarise: {{ text }}\n", encoding="utf-8")
    rendered = library(s={"inputs": {"text": "str"}, "file": str(path)}).render("s", text="abc")
    assert list(rendered) == [Message("user", "Summarise: abc")]


def test_an_edited_file_is_read_again_and_a_broken_edit_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "p.j2"
    path.write_text("one {{ x }}", encoding="utf-8")
    lib = library(p={"inputs": {"x": "str"}, "file": str(path)})
    first = lib.render("p", x="a")
    path.write_text("two {{ x }}!", encoding="utf-8")
    os.utime(path, ns=(1, 10**9))  # a stamp unlike the first even on a coarse clock
    second = lib.render("p", x="a")
    assert second[0].text == "two a!"
    assert second.digest != first.digest
    path.write_text("three {{ x ", encoding="utf-8")
    os.utime(path, ns=(1, 2 * 10**9))
    with capture_logs() as logs:
        third = lib.render("p", x="a")
        lib.render("p", x="a")
    assert third[0].text == "two a!"
    invalid = [log for log in logs if log["event"] == "prompt_template_invalid"]
    assert len(invalid) == 1  # logged once per broken edit, not once per render
    assert "p.j2:1" in invalid[0]["problems"][0]


# --- inputs: errors that name the input ----------------------------------------------------


def test_a_missing_input_is_named() -> None:
    with pytest.raises(PromptInputError, match="needs input 'ticket'") as info:
        library(triage=TRIAGE).render("triage")
    assert info.value.input == "ticket"
    assert info.value.prompt == "triage"


def test_a_wrongly_typed_input_is_named_without_its_value() -> None:
    with pytest.raises(PromptInputError, match="input 'priority' must be an integer, got text") as info:
        library(triage=TRIAGE).render("triage", ticket="x", priority="secret-text-7")
    assert info.value.input == "priority"
    assert "secret-text-7" not in str(info.value)
    with pytest.raises(PromptInputError, match=r"input 'tags'\[1\] must be text, got a number"):
        library(triage=TRIAGE).render("triage", ticket="x", tags=["ok", 2])
    with pytest.raises(PromptInputError, match="must be an integer, got a boolean"):
        library(triage=TRIAGE).render("triage", ticket="x", priority=True)


def test_an_undeclared_input_is_refused_with_a_suggestion() -> None:
    with pytest.raises(PromptInputError, match=r"has no input 'tickt' \(did you mean 'ticket'\?\)") as info:
        library(triage=TRIAGE).render("triage", tickt="x")
    assert info.value.input == "tickt"


def test_an_unknown_prompt_lists_the_known_ones() -> None:
    with pytest.raises(PromptError, match=r"unknown prompt 'triag' \(did you mean 'triage'\?\): known prompts: triage"):
        library(triage=TRIAGE).render("triag")


def test_enum_and_object_inputs() -> None:
    spec = {
        "inputs": {
            "tone": {"type": "str", "enum": ["formal", "casual"]},
            "customer": {
                "type": "dict",
                "properties": {"name": "str", "tier": {"type": "int", "default": 1}},
                "required": ["name"],
            },
        },
        "user": "{{ tone }} {{ customer.name }} {{ customer.tier }}",
    }
    lib = library(p=spec)
    assert lib.render("p", tone="formal", customer={"name": "Ann", "tier": 2})[0].text == "formal Ann 2"
    assert lib.render("p", tone="casual", customer={"name": "Bo"})[0].text == "casual Bo 1"  # a key's default
    with pytest.raises(PromptInputError, match="input 'tone' must be one of 'formal', 'casual'"):
        lib.render("p", tone="rude", customer={"name": "Ann"})
    with pytest.raises(PromptInputError, match="input 'customer' lacks the key 'name'"):
        lib.render("p", tone="formal", customer={"tier": 1})
    with pytest.raises(PromptInputError, match=r"input 'customer'.tier must be an integer"):
        lib.render("p", tone="formal", customer={"name": "Ann", "tier": "gold"})


def test_a_pydantic_model_is_taken_as_a_dict_input() -> None:
    class Ticket(BaseModel):
        subject: str
        lines: list[str]

    lib = library(p={"inputs": {"ticket": "dict"}, "user": "{{ ticket.subject }}: {{ ticket.lines | length }}"})
    assert lib.render("p", ticket=Ticket(subject="late", lines=["a", "b"]))[0].text == "late: 2"


def test_info_lists_inputs_with_json_schema() -> None:
    info = library(triage=TRIAGE).info("triage")
    assert info.description == "Sort a ticket"
    by_name = {item.name: item for item in info.inputs}
    assert by_name["ticket"].required
    assert not by_name["tags"].required
    assert by_name["tags"].type == "list[str]"
    schema = info.input_schema()
    assert schema["required"] == ["ticket"]
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert schema["properties"]["ticket"]["description"] == "the customer's words"


# --- the sandbox ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ x.__class__.__init__.__globals__ }}",
        "{{ x._private }}",
        "{{ x.__dict__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ items.append(1) }}",
        "{{ (lipsum | attr('__globals__')) }}",
    ],
)
def test_sandbox_escapes_are_refused(template: str) -> None:
    class Holder:
        _private = "hidden"

        def __init__(self) -> None:
            self.public = "shown"

    lib = library(p={"inputs": {"x": "any", "items": {"type": "list", "default": []}}, "user": template})
    assert library(p={"inputs": {"x": "any"}, "user": "{{ x.public }}"}).render("p", x=Holder())[0].text == "shown"
    with pytest.raises(PromptError, match=r"failed to render .*(unsafe|SecurityError|not safely callable)"):
        lib.render("p", x=Holder())


def test_sandbox_bounds_loops_sizes_and_powers() -> None:
    loops = library(p={"user": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"})
    with pytest.raises(PromptError, match="over what is left of this render's budget"):
        loops.render("p")
    big = library(p={"user": "{{ 'a' * 100000000 }}"})
    with pytest.raises(PromptError, match="would build 100000000 items"):
        big.render("p")
    power = library(p={"user": "{{ 10 ** 10000000 }}"})
    with pytest.raises(PromptError, match="would build a number of over"):
        power.render("p")
    long = library(p={"inputs": {"t": "str"}, "user": "{% for i in range(300) %}{{ t }}{% endfor %}"})
    with pytest.raises(PromptError, match="rendered more than 1,000,000 characters"):
        long.render("p", t="x" * 10_000)


def test_a_render_failure_says_where() -> None:
    lib = library(p={"inputs": {"d": "dict"}, "user": "line one\n{{ d.missing }}"})
    with pytest.raises(PromptError, match=r"failed to render \(prompts.p.user, line 2\): UndefinedError"):
        lib.render("p", d={})


# --- reconfigure -----------------------------------------------------------------------------


def test_reconfigure_swaps_all_or_nothing_and_counts_versions() -> None:
    lib = library(p={"user": "one"})
    lib.reconfigure({"p": PromptSection.model_validate({"user": "two"})})
    rendered = lib.render("p")
    assert (rendered[0].text, rendered.config_version) == ("two", 2)
    bad = {"p": PromptSection.model_validate({"user": "three {{"}), "q": PromptSection.model_validate({"user": "q"})}
    with pytest.raises(ConfigError, match="template syntax error"):
        lib.reconfigure(bad)
    assert lib.render("p")[0].text == "two"
    assert "q" not in lib


def test_bound_version_source_tags_renders() -> None:
    lib = library(p={"user": "one"})
    current = [4]
    lib.use_version(lambda: current[0])
    assert lib.render("p").config_version == 4
    lib.reconfigure({"p": PromptSection.model_validate({"user": "two"})})
    assert lib.render("p").config_version == 5  # new templates serve before the runtime counts them
    current[0] = 5
    assert lib.render("p").config_version == 5
    current[0] = 6  # a later reload of another section
    assert lib.render("p").config_version == 6
