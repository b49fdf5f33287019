"""Rate limits: requests (rpm) and tokens (tpm) per minute, exact over a sliding 60 s window.

A window is a log of the requests admitted in the last 60 seconds, each with
the tokens it holds: the worst case (input estimate + max output) from admit,
replaced by the actual total at settle, zero after a release. A request is
admitted when the log's count + 1 <= rpm and its tokens + the request's <= tpm.
An entry admitted at ``t`` counts while ``now < t + 60``. No fixed windows:
a burst at a minute's boundary cannot get twice the limit through.

A released request still counts against rpm: it was admitted, and most likely
reached the provider. Its tokens do not count against tpm.

Counters are keyed by a *stable id* made of the limit's scope and filters, not
its position in the list, so a reload that reorders limits or changes their
numbers keeps counting where it was. Limits with the same scope and filters are
merged into one (the lower rpm and tpm win), so no request is logged twice.

A limit with ``tools`` (globs of full tool names) counts tool calls, one
request each, through the same windows and backends; it never counts model
calls, and a limit without ``tools`` never counts tool calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agentrt.config import LimitSection
from agentrt.models import ModelSpec
from agentrt.policy.rules import model_matches, tool_matches
from agentrt.policy.scopes import dimensions_of

__all__ = ["WINDOW_SECONDS", "Limit", "compile_limits", "stable_id", "window_retry_after"]

WINDOW_SECONDS = 60.0


def stable_id(kind: str, *parts: object) -> str:
    """A short id that depends only on ``parts`` (never on list positions): what counters are keyed by."""
    text = "\x1f".join(str(part) for part in (kind, *parts))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


@dataclass(frozen=True, slots=True)
class Limit:
    """One compiled rate limit."""

    id: str
    scope: str
    dimensions: tuple[str, ...]
    rpm: int | None
    tpm: int | None
    models: tuple[str, ...] | None = None
    providers: frozenset[str] | None = None
    tools: tuple[str, ...] | None = None

    def applies_to(self, model: ModelSpec) -> bool:
        """Whether calls to ``model`` count against this limit (``models`` globs by name or alias; ``providers``)."""
        if self.tools is not None:
            return False
        if self.models is not None and not model_matches(self.models, model):
            return False
        return self.providers is None or model.provider in self.providers

    def applies_to_tool(self, tool: str) -> bool:
        """Whether calls of ``tool`` (full name) count against this limit: only when its ``tools`` match."""
        return self.tools is not None and tool_matches(self.tools, tool)

    @property
    def label(self) -> str:
        """How messages name the limit: ``user rpm=60 tpm=100000 models=[gpt-4o*]``."""
        parts = [self.scope]
        if self.rpm is not None:
            parts.append(f"rpm={self.rpm}")
        if self.tpm is not None:
            parts.append(f"tpm={self.tpm}")
        if self.models is not None:
            parts.append(f"models={list(self.models)}")
        if self.providers is not None:
            parts.append(f"providers={sorted(self.providers)}")
        if self.tools is not None:
            parts.append(f"tools={list(self.tools)}")
        return " ".join(parts)


def compile_limits(sections: Iterable[LimitSection]) -> tuple[Limit, ...]:
    """The limits of the configuration, in order, with those of equal scope and filters merged."""
    merged: dict[str, Limit] = {}
    for section in sections:
        models = None if section.models is None else tuple(sorted(set(section.models)))
        providers = None if section.providers is None else frozenset(section.providers)
        tools = None if section.tools is None else tuple(sorted(set(section.tools)))
        # `tools` joins the id only when set, so the ids (and counts) of model limits stay what they were.
        extra = () if tools is None else ("tools", tools)
        limit_id = stable_id("limit", section.scope, models, None if providers is None else sorted(providers), *extra)
        earlier = merged.get(limit_id)
        if earlier is not None:
            merged[limit_id] = Limit(
                limit_id,
                section.scope,
                earlier.dimensions,
                _min(earlier.rpm, section.rpm),
                _min(earlier.tpm, section.tpm),
                models,
                providers,
                tools,
            )
        else:
            merged[limit_id] = Limit(
                limit_id,
                section.scope,
                dimensions_of(section.scope),
                section.rpm,
                section.tpm,
                models,
                providers,
                tools,
            )
    return tuple(merged.values())


def window_retry_after(
    entries: Sequence[tuple[float, int]],
    now: float,
    rpm: int | None,
    tpm: int | None,
    tokens: int,
    window: float = WINDOW_SECONDS,
) -> tuple[bool, float | None]:
    """Whether a request of ``tokens`` fits the live ``entries`` (oldest first), and if not, when it will.

    Returns ``(True, 0.0)`` when it fits now; ``(False, seconds)`` when it fits
    after that many seconds (as old entries leave the window, nothing else
    changing); ``(False, None)`` when it never fits (more tokens than ``tpm``).
    """
    count = len(entries)
    total = sum(tokens_held for _, tokens_held in entries)
    wait = 0.0
    fits = True
    if rpm is not None and count + 1 > rpm:
        fits = False
        # The oldest (count + 1 - rpm) entries must leave; the last of them decides.
        wait = max(wait, entries[count - rpm][0] + window - now)
    if tpm is not None and total + tokens > tpm:
        fits = False
        if tokens > tpm:
            return False, None
        excess = total + tokens - tpm
        for ts, tokens_held in entries:
            excess -= tokens_held
            if excess <= 0:
                wait = max(wait, ts + window - now)
                break
    return fits, (0.0 if fits else max(wait, 0.0))
