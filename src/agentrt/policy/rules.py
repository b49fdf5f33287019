"""Rules: allow or deny a call by who makes it, on which model, how. The first match wins.

Every condition a rule sets must hold for the rule to match; a condition that
is not set holds for every call. A list holds when any of its entries does:

- ``users``, ``tenants``, ``api_keys``: the principal's field is one of them;
- ``tags``: the principal has at least one of them;
- ``models``: a glob (``gpt-5*``, case-sensitive) matches the configured model name or one of its aliases;
- ``providers``: the model's configured provider is one of them;
- ``operations``: ``generate``, ``stream``, ``embed`` or ``object``;
- ``capabilities``: the model declares at least one of them;
- ``tools``: a glob matches the full tool name (``github.delete_*``).

A rule with ``tools`` matches tool calls (operation ``tool``) only; a rule with
``models``, ``providers`` or ``capabilities`` matches model calls only; a rule
with none of them (``tenants: [interns]``) matches both, unless its
``operations`` says otherwise. ``approval: required`` on an allow rule makes
the tool calls it allows wait for a person's approval.

Rules are tried in configuration order; the first that matches decides. When
none matches, ``policies.default`` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from agentrt.calls.principal import Principal
from agentrt.config import RuleSection
from agentrt.models import ModelSpec

__all__ = [
    "Rule",
    "RuleTrace",
    "Verdict",
    "decide",
    "decide_tool",
    "model_matches",
    "tool_matches",
    "trace",
    "trace_tool",
]

Effect = Literal["allow", "deny"]


def model_matches(patterns: Sequence[str], model: ModelSpec) -> bool:
    """Whether a glob of ``patterns`` matches the model's configured name or one of its aliases.

    Rules, limits and budgets all match models this way, so a policy may name a
    model by any name a caller may use for it.
    """
    for pattern in patterns:
        if fnmatchcase(model.name, pattern) or any(fnmatchcase(alias, pattern) for alias in model.aliases):
            return True
    return False


def tool_matches(patterns: Sequence[str], tool: str) -> bool:
    """Whether a glob of ``patterns`` matches the tool's full name (case-sensitive)."""
    return any(fnmatchcase(tool, pattern) for pattern in patterns)


def _names(values: Sequence[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``None`` conditions are not set (they match every call)."""

    name: str
    effect: Effect
    reason: str | None = None
    users: frozenset[str] | None = None
    tenants: frozenset[str] | None = None
    api_keys: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    models: tuple[str, ...] | None = None
    providers: frozenset[str] | None = None
    operations: frozenset[str] | None = None
    capabilities: frozenset[str] | None = None
    tools: tuple[str, ...] | None = None
    approval: bool = False
    """An allow rule that makes the tool calls it allows wait for approval."""

    @classmethod
    def from_section(cls, section: RuleSection) -> Rule:
        match = section.match
        return cls(
            name=section.name,
            effect=section.effect,
            reason=section.reason,
            users=_names(match.users),
            tenants=_names(match.tenants),
            api_keys=_names(match.api_keys),
            tags=_names(match.tags),
            models=None if match.models is None else tuple(match.models),
            providers=_names(match.providers),
            operations=_names(match.operations),
            capabilities=_names(match.capabilities),
            tools=None if match.tools is None else tuple(match.tools),
            approval=section.approval == "required",
        )

    def mismatch(self, principal: Principal, model: ModelSpec, operation: str) -> str | None:
        """``None`` when the rule matches the call, else the first condition that does not hold."""
        if self.tools is not None:
            return f"the rule matches tool calls only (tools={list(self.tools)})"
        miss = self._principal_mismatch(principal)
        if miss is not None:
            return miss
        if self.models is not None and not model_matches(self.models, model):
            aliases = f" (aliases {list(model.aliases)})" if model.aliases else ""
            return f"model {model.name!r}{aliases} matches none of {list(self.models)}"
        if self.providers is not None and model.provider not in self.providers:
            return f"provider {model.provider!r} is not in providers {sorted(self.providers)}"
        if self.operations is not None and operation not in self.operations:
            return f"operation {operation!r} is not in operations {sorted(self.operations)}"
        if self.capabilities is not None and self.capabilities.isdisjoint(model.capabilities):
            return f"model {model.name!r} has none of capabilities {sorted(self.capabilities)}"
        return None

    def tool_mismatch(self, principal: Principal, tool: str) -> str | None:
        """``None`` when the rule matches a call of ``tool`` (full name), else the first condition not holding."""
        if self.models is not None or self.providers is not None or self.capabilities is not None:
            return "the rule matches model calls only (it names models, providers or capabilities)"
        miss = self._principal_mismatch(principal)
        if miss is not None:
            return miss
        if self.operations is not None and "tool" not in self.operations:
            return f"operation 'tool' is not in operations {sorted(self.operations)}"
        if self.tools is not None and not tool_matches(self.tools, tool):
            return f"tool {tool!r} matches none of {list(self.tools)}"
        return None

    def _principal_mismatch(self, principal: Principal) -> str | None:
        if self.users is not None and principal.user not in self.users:
            return f"user {principal.user!r} is not in users {sorted(self.users)}"
        if self.tenants is not None and principal.tenant not in self.tenants:
            return f"tenant {principal.tenant!r} is not in tenants {sorted(self.tenants)}"
        if self.api_keys is not None and principal.api_key not in self.api_keys:
            return f"api key {principal.api_key!r} is not in api_keys {sorted(self.api_keys)}"
        if self.tags is not None and self.tags.isdisjoint(principal.tags):
            return f"tags {sorted(principal.tags)} share none of {sorted(self.tags)}"
        return None

    def conditions(self) -> str:
        """The conditions the rule sets, for explanations (``"tenants=[interns], models=['gpt-5*']"``)."""
        parts = []
        for label in (
            "users",
            "tenants",
            "api_keys",
            "tags",
            "models",
            "providers",
            "operations",
            "capabilities",
            "tools",
        ):
            value = getattr(self, label)
            if value is not None:
                parts.append(f"{label}={sorted(value) if isinstance(value, frozenset) else list(value)}")
        return ", ".join(parts) or "every call"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules decided: the effect, the rule that decided (``None``: the default) and its reason."""

    effect: Effect
    rule: str | None
    reason: str | None
    approval: bool = False
    """The allowing rule asks for approval (tool calls)."""

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule as it was tried for an explanation: did it match, and why (not)."""

    name: str
    effect: Effect
    matched: bool
    detail: str


def decide(rules: Sequence[Rule], default: Effect, principal: Principal, model: ModelSpec, operation: str) -> Verdict:
    """The verdict for a call: the first matching rule's, else the default's."""
    for rule in rules:
        if rule.mismatch(principal, model, operation) is None:
            return Verdict(rule.effect, rule.name, rule.reason)
    return Verdict(default, None, None)


def trace(rules: Sequence[Rule], principal: Principal, model: ModelSpec, operation: str) -> list[RuleTrace]:
    """Every rule tried up to and including the one that matches, each with why it did or did not match."""
    traces = []
    for rule in rules:
        miss = rule.mismatch(principal, model, operation)
        if miss is None:
            traces.append(RuleTrace(rule.name, rule.effect, True, f"matches: {rule.conditions()}"))
            break
        traces.append(RuleTrace(rule.name, rule.effect, False, miss))
    return traces


def decide_tool(rules: Sequence[Rule], default: Effect, principal: Principal, tool: str) -> Verdict:
    """The verdict for a call of ``tool`` (full name): the first matching rule's, else the default's."""
    for rule in rules:
        if rule.tool_mismatch(principal, tool) is None:
            return Verdict(rule.effect, rule.name, rule.reason, rule.approval)
    return Verdict(default, None, None)


def trace_tool(rules: Sequence[Rule], principal: Principal, tool: str) -> list[RuleTrace]:
    """Like :func:`trace`, for a call of ``tool``."""
    traces = []
    for rule in rules:
        miss = rule.tool_mismatch(principal, tool)
        if miss is None:
            traces.append(RuleTrace(rule.name, rule.effect, True, f"matches: {rule.conditions()}"))
            break
        traces.append(RuleTrace(rule.name, rule.effect, False, miss))
    return traces
