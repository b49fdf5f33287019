"""The ``tools`` section: named toolkits (Python modules, built-ins, MCP servers).

::

    tools:
      support:                                   # tools named support.<function>
        python: tools/support.py                 # a file (relative to the config), a module, or module:function
        timeout: 30s                             # governance, the same for every kind of source
        secret_fields: [token]
        tools: {refund: {approval: required, cost: 0.01}}
      calc: {builtin: calculator}
      web:
        builtin: http_get
        options: {allow_hosts: ["*.example.com"], max_bytes: 1MB, timeout: 10s}
      github:
        mcp: {command: npx, args: ["-y", "@modelcontextprotocol/server-github"],
              env: {GITHUB_TOKEN: "${GITHUB_TOKEN}"}}
        exclude: ["delete_*"]
      search:
        mcp: {url: "https://mcp.example.com/mcp", headers: {Authorization: "Bearer ${SEARCH_KEY}"}}

A toolkit has exactly one source. The governance fields (``timeout``,
``approval``, ``cost``, ``secret_fields``) apply to each of its tools, and
``tools.<name>`` overrides them for one tool; :meth:`ToolkitSection.settings_for`
gives the settings in force for a tool. ``include`` / ``exclude`` are globs on
the tool's name inside its toolkit.

The checks that need other sections (an agent's ``tools`` naming a toolkit that
does not exist) are in :func:`tool_reference_problems`, which ``Config`` runs.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agentrt.config._types import ByteSize, Duration, Section

__all__ = [
    "BUILTIN_TOOLS",
    "TOOLKIT_NAME",
    "TOOL_NAME",
    "CalculatorOptions",
    "DatetimeOptions",
    "HttpGetOptions",
    "McpHttpSection",
    "McpSection",
    "McpStdioSection",
    "ToolOverrideSection",
    "ToolSettings",
    "ToolkitSection",
    "is_python_file",
    "resolve_toolkit_paths",
    "split_tool_pattern",
    "tool_reference_problems",
    "toolkit_secret_values",
]

TOOL_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A tool's name inside its toolkit: what providers accept as a function name."""
TOOLKIT_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A toolkit's name: no dot, since ``toolkit.tool`` is split at the first one."""

Approval = Literal["required", "never"]


# --- built-ins -----------------------------------------------------------------------


class DatetimeOptions(Section):
    """Options of the ``datetime`` built-in (tools ``now``, ``convert``, ``add``)."""

    timezone: str = "UTC"
    """The zone ``now`` answers in when the model names none (an IANA name such as ``Europe/Paris``)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Paris") from None
        return value


class CalculatorOptions(Section):
    """Options of the ``calculator`` built-in (tool ``evaluate``)."""

    max_exponent: int = Field(default=10_000, ge=1)
    """The largest exponent ``**`` accepts, so ``9**9**9`` is refused rather than computed."""
    max_digits: int = Field(default=1_000, ge=1, le=4_000)
    """The most digits an integer may have, in the input and in every intermediate result (at most 4000,
    below the 4300 digits Python turns into text)."""


class HttpGetOptions(Section):
    """Options of the ``http_get`` built-in (tool ``fetch``)."""

    allow_hosts: list[str] = Field(default_factory=list)
    """Host globs the tool may fetch from (``api.github.com``, ``*.example.com``); empty means any public host."""
    allow_private: bool = False
    """Fetch from private, loopback and link-local addresses too (refused by default, after DNS resolution)."""
    max_bytes: ByteSize = 1_000_000
    """The most bytes of a body read; a longer body is an error, not a truncated answer."""
    timeout: Duration = Field(default=10.0, gt=0)
    """For the whole fetch, redirects included."""

    @field_validator("allow_hosts")
    @classmethod
    def _lower_hosts(cls, value: list[str]) -> list[str]:
        hosts = [host.strip().lower().rstrip(".") for host in value]
        for host in hosts:
            bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            if not bare or "/" in bare or (":" in bare and bare == host):
                raise ValueError(
                    f"allow_hosts entry {host!r}: write a host name or glob without scheme, port or path, "
                    "e.g. api.example.com or *.example.com"
                )
        return hosts
        return hosts


BUILTIN_TOOLS: Final[Mapping[str, tuple[type[Section], tuple[str, ...]]]] = {
    "datetime": (DatetimeOptions, ("now", "convert", "add")),
    "calculator": (CalculatorOptions, ("evaluate",)),
    "http_get": (HttpGetOptions, ("fetch",)),
}
"""Each built-in: the model of its ``options`` and the names of its tools."""

BuiltinName = Literal["datetime", "calculator", "http_get"]


# --- MCP servers ---------------------------------------------------------------------


class McpStdioSection(Section):
    """An MCP server run as a subprocess speaking over its stdin and stdout."""

    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict)
    """Variables set for the server (over a minimal safe environment); secrets, as they often are."""
    cwd: Path | None = None
    """The server's working directory, relative to the config's folder."""
    start_timeout: Duration = Field(default=30.0, gt=0)
    """How long the server may take to start and list its tools."""

    def resolved_cwd(self, base_dir: Path) -> Path | None:
        """``cwd`` made absolute against the config's folder (None: the runtime's own working directory)."""
        if self.cwd is None:
            return None
        path = self.cwd.expanduser()
        return path if path.is_absolute() else (base_dir / path).absolute()


class McpHttpSection(Section):
    """An MCP server reached over streamable HTTP."""

    url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Sent with every request (``Authorization: Bearer ${TOKEN}``); secrets, never shown or logged."""
    start_timeout: Duration = Field(default=30.0, gt=0)
    """How long the first connection and tool listing may take."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        example = "write it like https://mcp.example.com/mcp"
        try:
            parts = urlsplit(value.strip())
        except ValueError:
            raise ValueError(f"url is not a valid URL: {example}") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url must start with https:// (or http:// for a local server): {example}")
        return value.strip()


def _mcp_transport(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return "stdio" if isinstance(value, McpStdioSection) else "http"
    if not isinstance(value, Mapping):
        return None
    has_command, has_url = "command" in value, "url" in value
    if has_command == has_url:
        return None  # neither or both: the custom error below says what to write
    return "stdio" if has_command else "http"


McpSection = Annotated[
    Annotated[McpStdioSection, Tag("stdio")] | Annotated[McpHttpSection, Tag("http")],
    Discriminator(
        _mcp_transport,
        custom_error_type="mcp_transport",
        custom_error_message=(
            "an mcp toolkit needs either command (with args, env, cwd: a server run over stdio) "
            "or url (with headers: a streamable HTTP server), not both"
        ),
    ),
]
"""``{command, args, env, cwd}`` (stdio) or ``{url, headers}`` (streamable HTTP)."""


# --- governance ----------------------------------------------------------------------


def _secret_field_names(value: list[str]) -> list[str]:
    for name in value:
        if not name.strip():
            raise ValueError("secret_fields holds an empty name: list argument names, e.g. [token, password]")
    return value


class ToolOverrideSection(Section):
    """Settings of one tool that differ from its toolkit's; what is not given is the toolkit's."""

    approval: Approval | None = None
    cost: float | None = Field(default=None, ge=0)
    timeout: Duration | None = Field(default=None, gt=0)
    secret_fields: Annotated[list[str], AfterValidator(_secret_field_names)] = Field(default_factory=list)
    """Added to the toolkit's."""
    description: str | None = None
    """Replaces the description the source gives (the model reads it)."""


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """The governance in force for one tool: its toolkit's, with the tool's overrides applied."""

    timeout: float
    approval: Approval
    cost: float | None
    secret_fields: frozenset[str]
    description: str | None


class ToolkitSection(Section):
    """One named toolkit: where its tools come from (exactly one source) and how they are governed."""

    python: str | None = None
    """A file of ``@tool`` functions (``tools/support.py``, relative to the config), a module
    (``myapp.tools``), or one function (``myapp.tools:lookup_order``)."""
    builtin: BuiltinName | None = None
    """``datetime``, ``calculator`` or ``http_get``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The built-in's options (``http_get``: allow_hosts, allow_private, max_bytes, timeout)."""
    mcp: McpSection | None = None
    """An MCP server: ``{command, args, env, cwd}`` or ``{url, headers}``."""

    timeout: Duration = Field(default=60.0, gt=0)
    """The longest one call of a tool may take."""
    approval: Approval = "never"
    """``required``: every call waits for ``rt.tools.approve(id)``."""
    cost: float | None = Field(default=None, ge=0)
    """USD charged to the matching budgets per call."""
    secret_fields: Annotated[list[str], AfterValidator(_secret_field_names)] = Field(default_factory=list)
    """Argument names redacted in the audit trail."""
    include: list[str] = Field(default_factory=list)
    """Globs on tool names: only the tools matching one are exposed (all when empty)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs on tool names: the tools matching one are hidden."""
    tools: dict[str, ToolOverrideSection] = Field(default_factory=dict)
    """Per-tool overrides of the settings above, by the tool's name inside the toolkit."""

    @field_validator("python")
    @classmethod
    def _python_reference(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        module, sep, function = text.partition(":")
        if not module or (sep and not function.isidentifier()):
            raise ValueError(
                "python names a file (tools/support.py), a module (myapp.tools) "
                "or a function in one (myapp.tools:lookup_order)"
            )
        return text

    @field_validator("options")
    @classmethod
    def _builtin_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        builtin = info.data.get("builtin")
        if not value or builtin is None:
            return value  # options without a built-in: the source check below says so
        model = BUILTIN_TOOLS[builtin][0]
        try:
            model.model_validate(value)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in e['loc']) or 'options'}: {e['msg'].removeprefix('Value error, ')}"
                for e in err.errors(include_url=False)
            )
            known = ", ".join(model.model_fields) or "none"
            raise ValueError(
                f"invalid options for built-in {builtin!r} ({problems}); its options are: {known}"
            ) from None
        return value

    @field_validator("tools")
    @classmethod
    def _override_names(cls, value: dict[str, ToolOverrideSection]) -> dict[str, ToolOverrideSection]:
        for name in value:
            if not TOOL_NAME.match(name):
                raise ValueError(
                    f"tools.{name}: a tool's name is 1 to 64 letters, digits, _ or - "
                    "(the name inside the toolkit, without the toolkit's name and a dot)"
                )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ToolkitSection:
        given = [kind for kind in ("python", "builtin", "mcp") if getattr(self, kind) is not None]
        if not given:
            raise ValueError(
                "a toolkit needs a source: python (a module of @tool functions), "
                "builtin (datetime, calculator or http_get) or mcp (an MCP server)"
            )
        if len(given) > 1:
            raise ValueError(
                f"a toolkit has exactly one source, this one has {' and '.join(given)}: "
                "declare each source as its own toolkit"
            )
        if self.options and self.builtin is None:
            raise ValueError("options configure a built-in toolkit: remove them, or set builtin")
        if self.builtin is not None:
            unknown = [name for name in self.tools if name not in BUILTIN_TOOLS[self.builtin][1]]
            if unknown:
                raise ValueError(
                    f"tools names {', '.join(repr(n) for n in unknown)}, not a tool of built-in {self.builtin!r} "
                    f"(its tools: {', '.join(BUILTIN_TOOLS[self.builtin][1])})"
                )
        return self

    @property
    def source_kind(self) -> Literal["python", "builtin", "mcp"]:
        """The kind of the one source: ``python``, ``builtin`` or ``mcp``."""
        if self.python is not None:
            return "python"
        return "builtin" if self.builtin is not None else "mcp"

    def builtin_options(self) -> Section:
        """The validated options of the built-in (its defaults filled in); ``ValueError`` for another source."""
        if self.builtin is None:
            raise ValueError("this toolkit is not a built-in")
        return BUILTIN_TOOLS[self.builtin][0].model_validate(self.options)

    def exposes(self, tool: str) -> bool:
        """Whether ``include`` / ``exclude`` let the toolkit offer the tool named ``tool``."""
        if self.include and not any(fnmatch.fnmatchcase(tool, glob) for glob in self.include):
            return False
        return not any(fnmatch.fnmatchcase(tool, glob) for glob in self.exclude)

    def settings_for(self, tool: str) -> ToolSettings:
        """The settings in force for the tool named ``tool`` (inside this toolkit)."""
        override = self.tools.get(tool)
        secrets = frozenset(self.secret_fields)
        if override is None:
            return ToolSettings(self.timeout, self.approval, self.cost, secrets, None)
        return ToolSettings(
            timeout=override.timeout if override.timeout is not None else self.timeout,
            approval=override.approval if override.approval is not None else self.approval,
            cost=override.cost if override.cost is not None else self.cost,
            secret_fields=secrets | frozenset(override.secret_fields),
            description=override.description,
        )


# --- references from other sections ----------------------------------------------------


def split_tool_pattern(pattern: str) -> tuple[str, str]:
    """``"github.search_*"`` as ``("github", "search_*")``; a pattern with no dot is ``(pattern, "*")``
    when it is a glob (``*``: every tool of every toolkit), else ``(pattern, "")``."""
    toolkit, dot, tool = pattern.partition(".")
    if dot:
        return toolkit, tool
    return (pattern, "*") if _is_glob(pattern) else (pattern, "")


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


Problem = tuple[tuple[str | int, ...], str, str, Any]
"""(location, error type, message, value): what :func:`tool_reference_problems` yields."""


def tool_reference_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    """Toolkit names that cannot be names, and agents' ``tools`` that name no toolkit or built-in tool.

    Runs on raw data (before the sections validate). A Python toolkit's tools are
    known only once its module is imported, and an MCP server's once it runs, so
    for them only the toolkit part of a name is checked here; a built-in's tools
    are known, so ``calc.evaluat`` is caught.
    """
    toolkits = data.get("tools")
    toolkits = toolkits if isinstance(toolkits, Mapping) else {}
    names = {str(name) for name in toolkits}
    for name in names:
        if not TOOLKIT_NAME.match(name):
            yield (
                ("tools", name),
                "toolkit_name",
                f"toolkit name {name!r}: use 1 to 64 letters, digits, _ or - (no dot: tools are named toolkit.tool)",
                name,
            )
    agents = data.get("agents")
    for agent, spec in agents.items() if isinstance(agents, Mapping) else ():
        patterns = spec.get("tools") if isinstance(spec, Mapping) else None
        for index, pattern in enumerate(patterns if isinstance(patterns, list) else []):
            if not isinstance(pattern, str):
                continue
            problem = _pattern_problem(pattern, toolkits)
            if problem:
                yield (("agents", str(agent), "tools", index), "unknown_tool", problem, pattern)


def _pattern_problem(pattern: str, toolkits: Mapping[Any, Any]) -> str | None:
    toolkit_glob, tool_glob = split_tool_pattern(pattern)
    matched = [str(name) for name in toolkits if fnmatch.fnmatchcase(str(name), toolkit_glob)]
    if not matched:
        known = ", ".join(sorted(str(name) for name in toolkits)) or "none are declared"
        return f"{pattern!r} names no toolkit (toolkits: {known}): tools are named toolkit.tool, e.g. calc.evaluate"
    if not tool_glob:
        return f"{pattern!r} names a toolkit, not a tool: write {pattern}.* for all its tools, or {pattern}.<tool>"
    for name in matched:
        spec = toolkits[name]
        builtin = spec.get("builtin") if isinstance(spec, Mapping) else None
        if not isinstance(builtin, str) or builtin not in BUILTIN_TOOLS:
            return None  # a Python or MCP toolkit (or one invalid on its own): checked when it runs
        if any(fnmatch.fnmatchcase(tool, tool_glob) for tool in BUILTIN_TOOLS[builtin][1]):
            return None
    available = sorted(
        f"{name}.{tool}" for name in matched for tool in BUILTIN_TOOLS[str(toolkits[name].get("builtin"))][1]
    )
    return f"{pattern!r} matches no tool: the tools there are {', '.join(available)}"


def toolkit_secret_values(toolkits: Mapping[str, ToolkitSection]) -> Iterator[str]:
    """The plain values of the MCP servers' env variables and headers, for log redaction."""
    for section in toolkits.values():
        server = section.mcp
        values = server.env if isinstance(server, McpStdioSection) else server.headers if server else {}
        for secret in values.values():
            yield secret.get_secret_value()


def is_python_file(module: str) -> bool:
    """Whether the module part of a ``python:`` reference is a file path rather than a dotted module name."""
    return module.endswith(".py") or "/" in module or "\\" in module


def resolve_toolkit_paths(toolkits: Mapping[str, ToolkitSection], base: Path) -> dict[str, ToolkitSection] | None:
    """The toolkits with relative paths made absolute against ``base`` (the config's folder); None when
    nothing changes. That is a ``python:`` file and an MCP stdio server's ``cwd``, which defaults to
    ``base``, so that ``args: [server.py]`` means the file next to the config."""
    changed: dict[str, ToolkitSection] = {}
    for name, section in toolkits.items():
        update: dict[str, Any] = {}
        if section.python is not None:
            module, sep, function = section.python.partition(":")
            path = Path(module).expanduser()
            if is_python_file(module) and (not path.is_absolute() or str(path) != module):
                update["python"] = f"{base / path}{sep}{function}"
        server = section.mcp
        if isinstance(server, McpStdioSection):
            cwd = server.resolved_cwd(base) or base
            if cwd != server.cwd:
                update["mcp"] = server.model_copy(update={"cwd": cwd})
        if update:
            changed[name] = section.model_copy(update=update)
    return {**toolkits, **changed} if changed else None
