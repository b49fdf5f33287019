"""Rules: allow or deny a call by who makes it, on which model, how. The first match wins.

Every condition a rule sets must hold for the rule to match; a condition that
is not set holds for every call. A list holds when any of its entries does:

- ``users``, ``tenants``, ``api_keys``: the principal's field is one of them;
- ``tags``: the principal has at least one of them;
- ``models``: a glob (``gpt-5*``, case-sensitive) matches the configured model name or one of its aliases;
- ``providers``: the model's configured provider is one of them;
- ``operations``: ``generate``, ``stream``, ``embed`` or ``object``;
- ``capabilities``: the model declares at least one of them.

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

__all__ = ["Rule", "RuleTrace", "Verdict", "decide", "model_matches", "trace"]

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
        )

    def mismatch(self, principal: Principal, model: ModelSpec, operation: str) -> str | None:
        """``None`` when the rule matches the call, else the first condition that does not hold."""
        if self.users is not None and principal.user not in self.users:
            return f"user {principal.user!r} is not in users {sorted(self.users)}"
        if self.tenants is not None and principal.tenant not in self.tenants:
            return f"tenant {principal.tenant!r} is not in tenants {sorted(self.tenants)}"
        if self.api_keys is not None and principal.api_key not in self.api_keys:
            return f"api key {principal.api_key!r} is not in api_keys {sorted(self.api_keys)}"
        if self.tags is not None and self.tags.isdisjoint(principal.tags):
            return f"tags {sorted(principal.tags)} share none of {sorted(self.tags)}"
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

    def conditions(self) -> str:
        """The conditions the rule sets, for explanations (``"tenants=[interns], models=['gpt-5*']"``)."""
        parts = []
        for label in ("users", "tenants", "api_keys", "tags", "models", "providers", "operations", "capabilities"):
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
