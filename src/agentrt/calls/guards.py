"""One resilience guard per configured provider, kept across reloads."""

from __future__ import annotations

from collections.abc import ItemsView, Mapping

import structlog

from agentrt.config import ProviderSection
from agentrt.errors import UnknownProvider
from agentrt.resilience import ProviderGuard

__all__ = ["ProviderGuards"]

# Settings a guard applies on reload; anything else about a provider lives in its client.
_GUARD_FIELDS = frozenset({"timeout", "retry", "breaker", "max_concurrency"})


class ProviderGuards:
    """The :class:`ProviderGuard` of each provider: breaker, concurrency limit, timeout, retries.

    A reload applies new timeouts, retries, breaker thresholds and limits at
    once (breaker state is kept); a change to anything else about a provider
    (its kind, key, URL, headers, options) or a provider added or removed needs
    a restart, and is logged as such.
    """

    def __init__(self, sections: Mapping[str, ProviderSection]) -> None:
        self._sections = dict(sections)
        self._guards = {name: ProviderGuard.from_section(name, section) for name, section in sections.items()}

    def get(self, provider: str) -> ProviderGuard:
        guard = self._guards.get(provider)
        if guard is None:
            raise UnknownProvider(f"no provider named {provider!r} is configured", provider=provider)
        return guard

    def items(self) -> ItemsView[str, ProviderGuard]:
        return self._guards.items()

    def reconfigure(self, sections: Mapping[str, ProviderSection]) -> list[str]:
        """Apply the guard settings; return the paths of the other changes, which wait for a restart."""
        needs_restart: list[str] = []
        for name in sorted(set(sections) ^ set(self._sections)):
            needs_restart.append(f"providers.{name}")
        for name, section in sections.items():
            old = self._sections.get(name)
            guard = self._guards.get(name)
            if old is None or guard is None:
                continue
            other_changes = [
                key
                for key in type(section).model_fields
                if key not in _GUARD_FIELDS and getattr(section, key) != getattr(old, key)
            ]
            needs_restart.extend(f"providers.{name}.{key}" for key in other_changes)
            guard.reconfigure(section)
            # Remember only what was applied: the rest is still pending, and is reported again next time.
            self._sections[name] = old.model_copy(update={key: getattr(section, key) for key in _GUARD_FIELDS})
        if needs_restart:
            structlog.get_logger("agentrt.calls").warning(
                "config_change_needs_restart",
                paths=needs_restart,
                hint="provider clients are created at start; these settings take effect after a restart",
            )
        return needs_restart
