"""From a ``PromptSection`` to templates ready to render, or the problems that stop it.

Every problem names where to fix it: the dotted path of the section
(``prompts.triage.user``) and, for a template file, ``file:line``. What is checked:

- the template compiles (a syntax error gives its line);
- it reads no other file (``include``, ``extends``, ``import`` are refused: a prompt
  is the section or the one file it names);
- every variable it uses is a declared input (or set by the template itself);
- a file is UTF-8 text under :data:`MAX_FILE_BYTES`, and holds either no blocks
  (then it is the user message) or only ``{% block system %}`` and
  ``{% block user %}``, with nothing but blank space outside them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from jinja2 import Template, TemplateSyntaxError, meta, nodes

from agentrt.config._prompts import PromptSection
from agentrt.errors import ConfigProblem
from agentrt.prompts._sandbox import PromptEnvironment

__all__ = [
    "MAX_FILE_BYTES",
    "CompiledPrompt",
    "Part",
    "TemplateProblems",
    "compile_prompt",
    "compile_prompts",
    "file_stamp",
]

MAX_FILE_BYTES: Final = 1_000_000
FILE_BLOCKS: Final = ("system", "user")

_env: PromptEnvironment | None = None


def environment() -> PromptEnvironment:
    """The shared sandbox (it holds no per-prompt state)."""
    global _env
    if _env is None:
        _env = PromptEnvironment()
    return _env


@dataclass(frozen=True, slots=True)
class Part:
    """One message of a prompt: its role, its template, and the block of the template it is (files)."""

    role: str
    template: Template
    block: str | None
    label: str
    """What tracebacks and errors call the template: ``prompts.triage.user`` or the file's path."""
    in_file: bool


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    name: str
    section: PromptSection
    parts: tuple[Part, ...]
    digest: str
    """The first 12 hex digits of the SHA-256 of the template text: which text a render used."""
    stamp: tuple[int, int] | None
    """The file's (mtime_ns, size) when it was read; None for inline prompts."""


class TemplateProblems(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def compile_prompts(prompts: Mapping[str, PromptSection]) -> tuple[dict[str, CompiledPrompt], list[ConfigProblem]]:
    """Every prompt compiled, and every problem of those that did not."""
    compiled: dict[str, CompiledPrompt] = {}
    problems: list[ConfigProblem] = []
    for name, section in prompts.items():
        try:
            compiled[name] = compile_prompt(name, section)
        except TemplateProblems as err:
            problems.extend(err.problems)
    return compiled, problems


def compile_prompt(name: str, section: PromptSection) -> CompiledPrompt:
    """``section`` compiled; raises an exception whose ``problems`` lists each ``ConfigProblem``."""
    where = f"prompts.{name}"
    if section.file is not None:
        return _compile_file(name, section, section.file)
    parts: list[Part] = []
    problems: list[ConfigProblem] = []
    sources: list[str] = []
    for index, (role, source) in enumerate(section.templates()):
        path = f"{where}.messages[{index}].content" if section.messages is not None else f"{where}.{role}"
        sources.append(source)
        try:
            parts.append(_part(role, source, path, section, source_label=None, block=None))
        except TemplateProblems as err:
            problems.extend(err.problems)
    if problems:
        raise TemplateProblems(problems)
    return CompiledPrompt(name, section, tuple(parts), _digest(sources), None)


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of ``path``; None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _compile_file(name: str, section: PromptSection, path: Path) -> CompiledPrompt:
    where = f"prompts.{name}.file"
    stamp = file_stamp(path)
    try:
        if stamp is not None and stamp[1] > MAX_FILE_BYTES:
            message = f"{path} is over {MAX_FILE_BYTES:,} bytes: a prompt is not that long"
            raise TemplateProblems([ConfigProblem(where, message)])
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        message = f"template file {path} not found: create it or fix the path"
        raise TemplateProblems([ConfigProblem(where, message)]) from None
    except UnicodeDecodeError:
        raise TemplateProblems([ConfigProblem(where, f"template file {path} is not UTF-8 text")]) from None
    except OSError as err:
        message = f"template file {path} cannot be read ({err.strerror or err}): check the path and its permissions"
        raise TemplateProblems([ConfigProblem(where, message)]) from None
    label = str(path)
    ast = _parse(source, where, label)
    blocks = list(ast.find_all(nodes.Block))
    problems = [*_block_problems(ast, blocks, where, label)]
    if problems:
        raise TemplateProblems(problems)
    if blocks:
        roles = [role for role in FILE_BLOCKS if any(block.name == role for block in blocks)]
        template = _template(ast, section, where, label, source_label=label)
        parts = tuple(Part(role, template, role, label, True) for role in roles)
    else:
        parts = (_part("user", source, where, section, source_label=label, block=None),)
    return CompiledPrompt(name, section, parts, _digest([source]), stamp)


def _part(
    role: str, source: str, path: str, section: PromptSection, *, source_label: str | None, block: str | None
) -> Part:
    label = source_label or path
    ast = _parse(source, path, source_label)
    template = _template(ast, section, path, label, source_label=source_label)
    return Part(role, template, block, label, source_label is not None)


def _parse(source: str, path: str, source_label: str | None) -> nodes.Template:
    try:
        return environment().parse(source, filename=source_label)
    except TemplateSyntaxError as err:
        raise TemplateProblems([_syntax(path, err, source_label)]) from None


def _template(
    ast: nodes.Template, section: PromptSection, path: str, label: str, *, source_label: str | None
) -> Template:
    problems = list(_reference_problems(ast, section, path, source_label))
    if problems:
        raise TemplateProblems(problems)
    env = environment()
    try:
        code = env.compile(ast, name=label, filename=label)
    except TemplateSyntaxError as err:  # found by the code generator (e.g. a misplaced tag)
        raise TemplateProblems([_syntax(path, err, source_label)]) from None
    # A plain dict, not the ChainMap make_globals() gives: every render copies the globals, and
    # copying a ChainMap costs several times more. The sandbox never changes its globals after start.
    return env.template_class.from_code(env, code, dict(env.make_globals(None)), None)


def _reference_problems(
    ast: nodes.Template, section: PromptSection, path: str, source_label: str | None
) -> Iterable[ConfigProblem]:
    for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        tag = type(node).__name__.lower().replace("fromimport", "from-import")
        yield _at_line(
            path,
            f"{{% {tag} %}} reads another template, which a prompt may not: "
            "put the text in this template (a prompt is its section or the one file it names)",
            node.lineno,
            source_label,
        )
    env = environment()
    declared = set(section.inputs)
    section_name = path.split(".")[1] if path.count(".") >= 2 else "<name>"
    for variable in sorted(meta.find_undeclared_variables(ast) - declared - set(env.globals)):
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == variable), None)
        hint = _suggest(variable, declared)
        yield _at_line(
            path,
            f"the template uses {variable!r}, which is not a declared input{hint}: declare it under "
            f"prompts.{section_name}.inputs ({variable}: {{type: str}}) or fix the name",
            line,
            source_label,
        )


def _block_problems(ast: nodes.Template, blocks: list[nodes.Block], where: str, label: str) -> Iterable[ConfigProblem]:
    for block in blocks:
        if block.name not in FILE_BLOCKS:
            yield _at_line(
                where,
                f"block {block.name!r} is not a message: a prompt file has {{% block system %}} and "
                "{% block user %}, or no blocks at all (the whole file is the user message)",
                block.lineno,
                label,
            )
    if not blocks:
        return
    for node in ast.body:
        if isinstance(node, nodes.Block):
            continue
        if isinstance(node, nodes.Output) and all(
            isinstance(item, nodes.TemplateData) and not item.data.strip() for item in node.nodes
        ):
            continue
        yield _at_line(
            where,
            "text or tags outside {% block system %} and {% block user %} would be lost: move them into a block",
            node.lineno,
            label,
        )


def _syntax(path: str, err: TemplateSyntaxError, source_label: str | None) -> ConfigProblem:
    return _at_line(path, f"template syntax error: {err.message}", err.lineno, source_label)


def _at_line(path: str, message: str, line: int | None, source_label: str | None) -> ConfigProblem:
    if source_label is not None:
        return ConfigProblem(path, message, f"{source_label}:{line}" if line else source_label)
    return ConfigProblem(path, f"{message} (line {line} of the template)" if line else message)


def _suggest(name: str, candidates: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _digest(sources: list[str]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]
