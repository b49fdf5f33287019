"""``PromptLibrary``: the configured prompts, listed and rendered to messages.

Lifetime: built from the ``prompts`` section (every template compiled, or a
``ConfigError`` listing every problem); ``reconfigure`` swaps in a new section
all at once or, when any of it does not compile, changes nothing and raises.
A template file is also watched as it is used: when its modification time or
size changed since it was read, the next render reads it again; an edit that
does not compile is logged (``prompt_template_invalid``) and the last good
template goes on serving.

Each render says what it used: ``config_version`` (the runtime's
``rt.config_version`` that the templates belong to) and ``digest`` (a hash of
the template text, which tells a file's edits apart too).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from agentrt.config._prompts import PromptInput, PromptSection, check_input
from agentrt.errors import ConfigError, PromptError, PromptInputError
from agentrt.types import Message

if TYPE_CHECKING:
    from agentrt.prompts._compile import CompiledPrompt

__all__ = ["PromptInfo", "PromptInputInfo", "PromptLibrary", "RenderedPrompt"]

_log = structlog.get_logger("agentrt.prompts")


@dataclass(frozen=True, slots=True)
class PromptInputInfo:
    """One declared input, as listings and MCP clients show it."""

    name: str
    type: str
    """``str``, ``int``, ``list[str]``, ``str (one of a, b)``..."""
    required: bool
    default: Any
    description: str | None
    schema: dict[str, Any]
    """The declaration as JSON Schema."""


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """A configured prompt: its name, what it is for, its inputs."""

    name: str
    description: str
    inputs: tuple[PromptInputInfo, ...]

    def input_schema(self) -> dict[str, Any]:
        """The inputs as one JSON Schema object (``properties``, ``required``)."""
        return {
            "type": "object",
            "properties": {item.name: item.schema for item in self.inputs},
            "required": [item.name for item in self.inputs if item.required],
            "additionalProperties": False,
        }


class RenderedPrompt(list[Message]):
    """The messages of one render: a ``list[Message]``, so any call API takes it as its prompt.

    ``rt.generate("default", rt.prompt("triage", ticket=t))``. Besides the
    messages it carries ``name``, ``config_version`` and ``digest``.
    """

    __slots__ = ("config_version", "digest", "name")

    def __init__(self, messages: Iterable[Message], *, name: str, config_version: int, digest: str) -> None:
        super().__init__(messages)
        self.name = name
        self.config_version = config_version
        self.digest = digest

    @property
    def messages(self) -> builtins.list[Message]:
        return builtins.list(self)

    def __repr__(self) -> str:
        return (
            f"RenderedPrompt(name={self.name!r}, config_version={self.config_version}, "
            f"digest={self.digest!r}, messages={builtins.list.__repr__(self)})"
        )


class PromptLibrary:
    """The prompts of one configuration: :meth:`list`, :meth:`info`, :meth:`render`.

    ``version`` is where the configuration's version is read (the runtime binds
    its ``config_version`` with :meth:`use_version`); a library on its own counts
    1, +1 for each ``reconfigure``.
    """

    def __init__(self, prompts: Mapping[str, PromptSection] | None = None) -> None:
        self._sections: dict[str, PromptSection] = dict(prompts or {})
        self._compiled = _compile_all(self._sections)
        self._version_source: Callable[[], int] | None = None
        self._own_version = 1
        self._installed = 1  # the version the templates in force arrived with
        self._bad_stamps: dict[str, tuple[int, int] | None] = {}

    # --- what there is -------------------------------------------------------------------

    def use_version(self, source: Callable[[], int]) -> None:
        """Read the configuration version from ``source`` (the runtime's ``config_version``)."""
        self._version_source = source

    @property
    def version(self) -> int:
        """The configuration version a render now is tagged with."""
        current = self._version_source() if self._version_source is not None else self._own_version
        # Between a reconfigure and the runtime's count of it, the new templates already serve.
        return max(current, self._installed)

    def names(self) -> builtins.list[str]:
        return sorted(self._compiled)

    def list(self) -> builtins.list[PromptInfo]:
        """Every prompt, by name."""
        return [self.info(name) for name in self.names()]

    def info(self, name: str) -> PromptInfo:
        section = self._section(name)
        inputs = tuple(_input_info(key, spec) for key, spec in section.inputs.items())
        return PromptInfo(name=name, description=section.description, inputs=inputs)

    def __contains__(self, name: object) -> bool:
        return name in self._compiled

    def __len__(self) -> int:
        return len(self._compiled)

    # --- rendering -----------------------------------------------------------------------------

    def render(self, name: str, /, **inputs: Any) -> RenderedPrompt:
        """Prompt ``name`` rendered with ``inputs``: its messages, tagged with the version used.

        Raises ``PromptInputError`` naming an input that is missing, not declared or
        of the wrong type, and ``PromptError`` for an unknown prompt or a template
        that fails as it renders.
        """
        from agentrt.prompts._render import render_messages

        section = self._section(name)
        values = _checked_inputs(name, section, inputs)
        compiled = self._current(name)
        messages = render_messages(compiled, values)
        return RenderedPrompt(messages, name=name, config_version=self.version, digest=compiled.digest)

    def _section(self, name: str) -> PromptSection:
        try:
            return self._sections[name]
        except KeyError:
            raise PromptError(_unknown(name, self._sections), prompt=name) from None

    def _current(self, name: str) -> CompiledPrompt:
        from agentrt.prompts._compile import TemplateProblems, compile_prompt, file_stamp

        compiled = self._compiled[name]
        path = compiled.section.file
        if path is None:
            return compiled
        stamp = file_stamp(path)
        if stamp == compiled.stamp or (name in self._bad_stamps and self._bad_stamps[name] == stamp):
            return compiled
        try:
            fresh = compile_prompt(name, compiled.section)
        except TemplateProblems as err:
            self._bad_stamps[name] = stamp
            _log.error(
                "prompt_template_invalid",
                prompt=name,
                file=str(path),
                problems=[str(problem) for problem in err.problems],
                hint="the last good template goes on serving until the file is fixed",
            )
            return compiled
        self._bad_stamps.pop(name, None)
        self._compiled[name] = fresh
        _log.info("prompt_template_reloaded", prompt=name, file=str(path), digest=fresh.digest)
        return fresh

    # --- reload ---------------------------------------------------------------------------------

    def reconfigure(self, prompts: Mapping[str, PromptSection]) -> None:
        """Take a new ``prompts`` section: all of it, or (``ConfigError``) none of it."""
        sections = dict(prompts)
        compiled = _compile_all(sections)
        version = self.version + 1  # the runtime counts an applied section as the next version
        self._sections, self._compiled = sections, compiled
        self._bad_stamps.clear()
        self._own_version = self._installed = version
        _log.info("prompts_reconfigured", prompts=len(sections), config_version=version)


def _compile_all(sections: Mapping[str, PromptSection]) -> dict[str, CompiledPrompt]:
    from agentrt.prompts._compile import compile_prompts

    if not sections:
        return {}  # no prompts: the template engine is never imported
    compiled, problems = compile_prompts(sections)
    if problems:
        raise ConfigError(problems)
    return compiled


def _checked_inputs(name: str, section: PromptSection, given: Mapping[str, Any]) -> dict[str, Any]:
    declared = section.inputs
    for key in given:
        if key not in declared:
            raise PromptInputError(
                f"prompt {name!r} has no input {key!r}{_suggest(key, declared)}: {_inputs_text(declared)}",
                prompt=name,
                input=key,
            )
    values: dict[str, Any] = {}
    for key, spec in declared.items():
        if key not in given or (given[key] is None and spec.has_default):
            if not spec.has_default:
                raise PromptInputError(
                    f"prompt {name!r} needs input {key!r} ({spec.describe()}): pass {key}=...",
                    prompt=name,
                    input=key,
                )
            values[key] = spec.default
            continue
        try:
            values[key] = check_input(spec, given[key], f"input {key!r}")
        except ValueError as err:
            raise PromptInputError(f"prompt {name!r}: {err}", prompt=name, input=key) from None
    return values


def _input_info(name: str, spec: PromptInput) -> PromptInputInfo:
    return PromptInputInfo(
        name=name,
        type=spec.describe(),
        required=not spec.has_default,
        default=spec.default,
        description=spec.description,
        schema=spec.json_schema(),
    )


def _inputs_text(declared: Mapping[str, PromptInput]) -> str:
    return f"its inputs are {', '.join(declared)}" if declared else "it takes no inputs"


def _unknown(name: str, sections: Mapping[str, PromptSection]) -> str:
    known = f"known prompts: {', '.join(sorted(sections))}" if sections else "no prompts are configured"
    return f"unknown prompt {name!r}{_suggest(name, sections)}: {known} (the prompts section of the configuration)"


def _suggest(name: str, candidates: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
