"""The ``prompts`` section: named, sandboxed Jinja2 templates with declared inputs.

A prompt is written in one of three forms (exactly one per prompt)::

    prompts:
      triage:
        description: Sort a support ticket
        inputs:
          ticket: {type: str, description: the customer's text}
          tags: {type: list, items: str, default: []}
          urgent: bool                     # shorthand for {type: bool}, required
        system: You sort tickets for {{ company | default("us") }}.
        user: "{{ ticket }}{% if tags %} (tags: {{ tags | join(', ') }}){% endif %}"
      few-shot:
        messages:                          # any sequence of system/user/assistant turns
          - {role: system, content: ...}
          - {role: user, content: ...}
      long:
        file: prompts/long.j2              # relative to the config's folder

This module checks what needs no template engine: the form, the input
declarations and that each default matches its type. Compiling the templates
(syntax, undeclared variables, the file's blocks) is ``agentrt.prompts``'s, at
start and in ``agentrt config validate``. :func:`check_input` is the one check of
a value against its declaration, for defaults here and for inputs at render.
"""

from __future__ import annotations

import dataclasses
import keyword
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from agentrt.config._types import Section

__all__ = [
    "INPUT_TYPES",
    "PromptInput",
    "PromptMessageSection",
    "PromptSection",
    "check_input",
    "resolve_prompt_files",
]

InputType = Literal["str", "int", "float", "bool", "list", "dict", "any"]

# The names people write, JSON Schema's and Python's, to the one each means.
_TYPE_NAMES: Final[dict[str, InputType]] = {
    "str": "str",
    "string": "str",
    "int": "int",
    "integer": "int",
    "float": "float",
    "number": "float",
    "bool": "bool",
    "boolean": "bool",
    "list": "list",
    "array": "list",
    "dict": "dict",
    "object": "dict",
    "any": "any",
}
INPUT_TYPES: Final = "str, int, float, bool, list, dict or any (or string, integer, number, boolean, array, object)"

_JSON_TYPES: Final[dict[InputType, str]] = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}

# Names a template sees besides the inputs; an input may not hide them.
RESERVED_NAMES: Final = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop", "self"})


def _spec(value: Any) -> Any:
    """``urgent: bool`` is short for ``urgent: {type: bool}``."""
    return {"type": value} if isinstance(value, str) else value


class PromptInput(Section):
    """One declared input: its type, whether it has a default, what it is for.

    An input without ``default`` is required; ``default: null`` makes it optional
    with the value None. ``items`` declares the elements of a list,
    ``properties`` and ``required`` the keys of a dict, ``enum`` the only values allowed.
    """

    type: InputType = "str"
    description: str | None = None
    default: Any = None
    enum: list[Any] | None = None
    items: PromptInput | None = None
    properties: dict[str, PromptInput] | None = None
    required: list[str] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in _TYPE_NAMES:
            return _TYPE_NAMES[value.strip().lower()]
        raise ValueError(f"unknown input type {value!r}: use {INPUT_TYPES}")

    @field_validator("items", mode="before")
    @classmethod
    def _items_shorthand(cls, value: Any) -> Any:
        return _spec(value)

    @field_validator("properties", mode="before")
    @classmethod
    def _properties_shorthand(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: _spec(item) for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _coherent(self) -> PromptInput:
        if self.items is not None and self.type != "list":
            raise ValueError(f"'items' declares the elements of a list, and this input is a {self.type}")
        if (self.properties is not None or self.required is not None) and self.type != "dict":
            raise ValueError(f"'properties' and 'required' declare the keys of a dict, and this input is a {self.type}")
        missing = [name for name in self.required or () if name not in (self.properties or {})]
        if missing:
            raise ValueError(f"required key {missing[0]!r} is not declared under properties: declare it there")
        if self.enum is not None:
            if not self.enum:
                raise ValueError("'enum' is empty: list the values allowed, or remove it")
            plain = self.model_copy(update={"enum": None})
            for value in self.enum:
                check_input(plain, value, "enum value")
        if self.has_default and self.default is not None:
            check_input(self, self.default, "the default")
        return self

    @property
    def has_default(self) -> bool:
        """True when the declaration gives a default (``default: null`` included): the input is optional."""
        return "default" in self.model_fields_set

    def json_schema(self) -> dict[str, Any]:
        """This declaration as JSON Schema (for MCP clients and editors)."""
        schema: dict[str, Any] = {}
        if self.type != "any":
            schema["type"] = _JSON_TYPES[self.type]
        if self.description:
            schema["description"] = self.description
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.items is not None:
            schema["items"] = self.items.json_schema()
        if self.properties is not None:
            schema["properties"] = {name: spec.json_schema() for name, spec in self.properties.items()}
        if self.required:
            schema["required"] = list(self.required)
        if self.has_default:
            schema["default"] = self.default
        return schema

    def describe(self) -> str:
        """The type as a person reads it: ``str``, ``list[str]``, ``dict``, ``str (one of a, b)``."""
        text: str = self.type
        if self.items is not None:
            text = f"list[{self.items.describe()}]"
        if self.enum is not None:
            text += f" (one of {', '.join(map(str, self.enum))})"
        return text


class PromptMessageSection(Section):
    """One turn of a ``messages`` prompt: its role and its template."""

    role: Literal["system", "user", "assistant"]
    content: str


class PromptSection(Section):
    """One named prompt template; exactly one of ``system``/``user``, ``messages`` or ``file``."""

    description: str = ""
    inputs: dict[str, PromptInput] = Field(default_factory=dict)
    system: str | None = None
    """The system message's template (inline form)."""
    user: str | None = None
    """The user message's template (inline form)."""
    messages: list[PromptMessageSection] | None = None
    """The turns, each a template (inline form for several turns, few-shot examples)."""
    file: Path | None = None
    """A template file, relative to the config's folder: ``{% block system %}`` and ``{% block user %}``,
    or without blocks the whole file is the user message."""

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_shorthand(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: _spec(item) for key, item in value.items()}
        return value

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, PromptInput]) -> dict[str, PromptInput]:
        for name in value:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(
                    f"input name {name!r} cannot be used in a template: use letters, digits and _ "
                    "(not starting with a digit, not a Python keyword)"
                )
            if name in RESERVED_NAMES:
                raise ValueError(f"input name {name!r} would hide the template's own {name!r}: rename the input")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> PromptSection:
        forms = [
            form
            for form, present in (
                ("system/user", self.system is not None or self.user is not None),
                ("messages", self.messages is not None),
                ("file", self.file is not None),
            )
            if present
        ]
        if not forms:
            raise ValueError(
                "a prompt needs its template: write system: and/or user:, or messages: [{role, content}], "
                "or file: prompts/NAME.j2"
            )
        if len(forms) > 1:
            raise ValueError(f"a prompt takes one form of template, and this one has {' and '.join(forms)}: keep one")
        if self.messages is not None and not self.messages:
            raise ValueError("messages is empty: list at least one {role, content}")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """The inline templates as (role, source) in order; empty for a ``file`` prompt."""
        if self.messages is not None:
            return [(message.role, message.content) for message in self.messages]
        inline = [("system", self.system), ("user", self.user)]
        return [(role, source) for role, source in inline if source is not None]


def resolve_prompt_files(prompts: dict[str, PromptSection], base: Path) -> dict[str, PromptSection] | None:
    """The prompts with each relative ``file`` made absolute against ``base``; None when none changed."""
    changed = False
    out: dict[str, PromptSection] = {}
    for name, section in prompts.items():
        path = section.file
        if path is not None and (not path.is_absolute() or path != path.expanduser()):
            section = section.model_copy(update={"file": base / path.expanduser()})
            changed = True
        out[name] = section
    return out if changed else None


# --- values against their declarations -------------------------------------------------


def check_input(spec: PromptInput, value: Any, where: str) -> Any:
    """``value`` as the template gets it, or ``ValueError`` saying what ``where`` should be.

    Values are JSON-like: a pydantic model or a dataclass given for a dict becomes
    its dict, a tuple given for a list a list. ``int`` is not ``bool``; an ``int``
    is a ``float``.
    """
    value = _plain(value)
    kind = spec.type
    if value is None:
        raise ValueError(f"{where} must be {_article(spec)}, got nothing (None)")
    if kind == "str" and not isinstance(value, str):
        raise ValueError(f"{where} must be text, got {_kind(value)}")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where} must be an integer, got {_kind(value)}")
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be a number, got {_kind(value)}")
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number")
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {_kind(value)}")
    if kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, got {_kind(value)}")
        if spec.items is not None:
            value = [check_input(spec.items, item, f"{where}[{index}]") for index, item in enumerate(value)]
    if kind == "dict":
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {_kind(value)}")
        value = _check_keys(spec, value, where)
    if spec.enum is not None and value not in spec.enum:
        raise ValueError(f"{where} must be one of {', '.join(repr(item) for item in spec.enum)}")
    return value


def _check_keys(spec: PromptInput, value: dict[str, Any], where: str) -> dict[str, Any]:
    for name in spec.required or ():
        if name not in value:
            raise ValueError(f"{where} lacks the key {name!r}")
    if not spec.properties:
        return value
    out = dict(value)
    for name, item in spec.properties.items():
        if name not in value or (value[name] is None and item.has_default):
            if item.has_default:
                out[name] = item.default  # so that the template can use every declared key
            continue
        out[name] = check_input(item, value[name], f"{where}.{name}")
    return out


_JSON_LIKE: Final = frozenset({str, int, float, bool, list, dict, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _JSON_LIKE:  # the common case, before the slower checks
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _article(spec: PromptInput) -> str:
    return {
        "str": "text",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "list": "a list",
        "dict": "a mapping",
        "any": "a value",
    }[spec.type]


def _kind(value: Any) -> str:
    # Only the type: an input may be private text that has no place in an error.
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
