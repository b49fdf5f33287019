"""The ``policies`` section: rules, rate limits, budgets, per-request caps."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from agentrt.config._catalog import Capability
from agentrt.config._types import Duration, Scope, Section

__all__ = [
    "BudgetSection",
    "LimitSection",
    "Operation",
    "PoliciesSection",
    "RuleMatch",
    "RuleSection",
    "policy_reference_problems",
]

Operation = Literal["generate", "stream", "embed", "object", "tool"]
"""``tool``: a tool call (``toolkit.tool``), governed like a model call (see ``agentrt.tools``)."""

BACKEND_FORMS = "memory, sqlite, redis://host:6379/0 or rediss://host:6379/0"


class RuleMatch(Section):
    """What a rule applies to. Every list that is set must match; an unset list matches anything.

    ``models`` holds glob patterns (``gpt-5*``); the other lists hold exact names.
    ``tools`` holds glob patterns of full tool names (``github.delete_*``; a Python tool passed to one
    call by its bare name): a rule with ``tools`` matches tool calls only, and a rule with ``models``,
    ``providers`` or ``capabilities`` matches model calls only.
    """

    users: list[str] | None = None
    tenants: list[str] | None = None
    api_keys: list[str] | None = None
    tags: list[str] | None = None
    models: list[str] | None = None
    providers: list[str] | None = None
    operations: list[Operation] | None = None
    capabilities: list[Capability] | None = None
    tools: list[str] | None = None

    @model_validator(mode="after")
    def _tools_or_models(self) -> RuleMatch:
        if self.tools is not None and (self.models or self.providers or self.capabilities):
            raise ValueError(
                "a rule matches either tool calls (tools) or model calls (models, providers, capabilities): "
                "split it into two rules"
            )
        if self.tools is not None and self.operations is not None and "tool" not in self.operations:
            raise ValueError("a rule with tools matches tool calls only: add 'tool' to operations or drop operations")
        return self


class RuleSection(Section):
    """Allow or deny the calls that match; the first matching rule wins."""

    name: str = Field(min_length=1)
    effect: Literal["allow", "deny"]
    match: RuleMatch = Field(default_factory=RuleMatch)
    reason: str | None = None
    """Shown to the caller when the rule denies a call."""
    approval: Literal["required"] | None = None
    """``required`` on an ``allow`` rule matching tool calls: each call it allows waits for a person to approve
    it (``rt.tools.approve`` or ``POST /v1/approvals/{id}``)."""

    @model_validator(mode="after")
    def _approval_on_allow(self) -> RuleSection:
        if self.approval is not None and self.effect != "allow":
            raise ValueError("approval: required goes on an allow rule (a denied call has nothing to approve)")
        if self.approval is not None and self.match.tools is None and self.match.operations != ["tool"]:
            raise ValueError("approval: required applies to tool calls: add match.tools (globs) to the rule")
        return self


class LimitSection(Section):
    """A rate limit in requests (``rpm``) and/or tokens (``tpm``) per minute, counted per ``scope``."""

    scope: Scope
    models: list[str] | None = None
    providers: list[str] | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    tools: list[str] | None = None
    """Globs of full tool names: the limit counts those tool calls (``rpm`` only), not model calls."""

    @model_validator(mode="after")
    def _needs_a_limit(self) -> LimitSection:
        if self.rpm is None and self.tpm is None:
            raise ValueError("a limit needs rpm, tpm or both")
        _check_tool_filters(self.scope, self.tools, self.models, self.providers)
        if self.tools is not None and self.tpm is not None:
            raise ValueError("tool calls use no tokens: a limit with tools takes rpm only")
        return self


class BudgetSection(Section):
    """A cost and/or token budget per ``period``, counted per ``scope``; warns at ``warn_at`` of it."""

    scope: Scope
    period: Literal["day", "week", "month", "total"] = "month"
    max_cost: float | None = Field(default=None, ge=0)
    """USD."""
    max_tokens: int | None = Field(default=None, ge=1)
    warn_at: float = Field(default=0.8, gt=0, le=1)
    models: list[str] | None = None
    clip_output: bool = False
    """When a call's maximum output does not fit what is left, lower it to what fits (the provider is told)
    instead of refusing the call; refused only when not even one output token fits."""
    tools: list[str] | None = None
    """Globs of full tool names: the budget counts the ``cost`` of those tool calls only. A budget with
    neither ``models`` nor ``tools`` counts model calls and every tool call with a configured cost."""

    @model_validator(mode="after")
    def _needs_a_budget(self) -> BudgetSection:
        if self.max_cost is None and self.max_tokens is None:
            raise ValueError("a budget needs max_cost, max_tokens or both")
        _check_tool_filters(self.scope, self.tools, self.models, None)
        if self.tools is not None and self.max_cost is None:
            raise ValueError("tool calls are charged their cost: a budget with tools needs max_cost")
        return self


def _check_tool_filters(scope: str, tools: list[str] | None, models: object, providers: object) -> None:
    """A limit or budget counts tool calls (``tools``) or model calls (``models``/``providers``), never both."""
    dimensions = scope.split("+")
    if tools is None:
        if "tool" in dimensions:
            raise ValueError("the tool scope needs tools: name the tools counted, e.g. tools: ['*']")
        return
    if models is not None or providers is not None:
        raise ValueError("a limit or budget counts tool calls (tools) or model calls (models, providers): not both")
    if "model" in dimensions or "provider" in dimensions:
        raise ValueError("tool calls have no model or provider: use scopes global, tenant, user, api_key, tool")


class PoliciesSection(Section):
    """Who may use what, how fast and for how much; ``backend`` holds the counters."""

    default: Literal["allow", "deny"] = "allow"
    """The effect when no rule matches."""
    backend: str = "sqlite"
    """``memory`` (one process), ``sqlite`` (the store; one machine) or a ``redis://`` URL (shared)."""
    rules: list[RuleSection] = Field(default_factory=list)
    limits: list[LimitSection] = Field(default_factory=list)
    budgets: list[BudgetSection] = Field(default_factory=list)
    max_input_tokens: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    timezone: str = "UTC"
    """The IANA time zone in which budget periods (day, week, month) start."""
    reservation_ttl: Duration = 600.0
    """How long a budget reservation holds when its call never settles (a crashed process): then it lapses.
    Make it longer than your slowest call: a call that outlives it still counts when it settles, but its
    hold stopped keeping room for it, so concurrent calls may have taken that room."""
    approval_timeout: Duration = 300.0
    """How long a tool call that needs approval waits for one (``rt.tools.approve`` or ``POST /v1/approvals/{id}``);
    then it counts as rejected and the model is told. Pending approvals live in the process: a restart rejects them."""
    key_prefix: str = Field(default="agentrt:policy:", min_length=1)
    """The prefix of every key the ``redis`` backend writes, so several deployments can share one Redis."""

    @field_validator("reservation_ttl")
    @classmethod
    def _check_reservation_ttl(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("reservation_ttl must be longer than 0s: use e.g. 10m (longer than your slowest call)")
        return value

    @field_validator("approval_timeout")
    @classmethod
    def _check_approval_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("approval_timeout must be longer than 0s: use e.g. 5m")
        return value

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, value: str) -> str:
        if value in ("memory", "sqlite") or value.startswith(("redis://", "rediss://")):
            return value
        # The value may be a URL with a password: name the accepted forms, never echo it.
        raise ValueError(f"unsupported policy backend: use {BACKEND_FORMS}")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        if value == "UTC":
            return value
        import zoneinfo  # lazily: only configs that name a zone pay for the lookup

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone: use an IANA name such as UTC or Europe/Paris") from None
        return value


# --- references to models and providers -------------------------------------------------

Problem = tuple[tuple[str | int, ...], str, str, str]
"""(dotted location, error kind, message, offending value) of one dangling reference."""


def _suggest(name: str, candidates: set[str]) -> str:
    import difflib  # lazily: only a config with a dangling reference needs it

    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listed(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def policy_reference_problems(
    policies: Mapping[str, Any], model_names: set[str], provider_names: set[str]
) -> Iterator[Problem]:
    """Every model, provider or glob of a rule, limit or budget that matches nothing configured.

    Works on the raw ``policies`` mapping, so it runs next to field validation.
    ``model_names`` holds the configured models and their aliases: a policy may
    name a model by either, as a caller may. Such an entry would silently never
    match (a deny rule that denies nothing), so it is an error, not a warning.
    """
    configured = ", ".join(sorted(model_names)) or "none"
    entries: list[tuple[tuple[str | int, ...], Mapping[str, Any]]] = []
    for group in ("rules", "limits", "budgets"):
        items = policies.get(group)
        for index, entry in enumerate(items if isinstance(items, list) else []):
            if not isinstance(entry, Mapping):
                continue
            if group == "rules":
                match = entry.get("match")
                if isinstance(match, Mapping):
                    entries.append((("policies", group, index, "match"), match))
            else:
                entries.append((("policies", group, index), entry))
    for loc, entry in entries:
        for j, pattern in _listed(entry.get("models")):
            if any(fnmatchcase(name, pattern) for name in model_names):
                continue
            if set("*?[") & set(pattern):
                message = f"{pattern!r} matches no configured model or alias; configured: {configured}"
            else:
                message = (
                    f"unknown model {pattern!r}{_suggest(pattern, model_names)}: it matches no configured "
                    f"model or alias; configured: {configured}"
                )
            yield (*loc, "models", j), "unknown_model", message, pattern
        for j, provider in _listed(entry.get("providers")):
            if provider not in provider_names:
                known = ", ".join(sorted(provider_names)) or "none"
                yield (
                    (*loc, "providers", j),
                    "unknown_provider",
                    f"unknown provider {provider!r}{_suggest(provider, provider_names)}: "
                    f"name one declared under providers (configured: {known})",
                    provider,
                )
