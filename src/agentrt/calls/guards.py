"""One resilience guard per configured provider, and one per deployment of a model, kept across reloads."""

from __future__ import annotations

from collections.abc import ItemsView, Mapping

import structlog

from agentrt.config import ProviderSection
from agentrt.errors import UnknownProvider
from agentrt.models import ModelSpec
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
        # A deployment's guard: its own breaker (named after the deployment), its provider's limit and retries.
        self._deployments: dict[tuple[str, str], ProviderGuard] = {}

    def for_spec(self, spec: ModelSpec) -> ProviderGuard:
        """The guard a call to ``spec`` goes through: its deployment's when it is one, else its provider's."""
        deployment = spec.deployment
        if deployment is None:
            return self.get(spec.provider)
        key = (spec.name, deployment.label)
        guard = self._deployments.get(key)
        if guard is None or guard.provider != spec.provider:
            provider = self.get(spec.provider)
            breaker = provider.breaker.sibling(f"{spec.name}@{deployment.label}")
            guard = self._deployments[key] = provider.for_deployment(deployment.label, breaker)
        return guard

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
            for deployment_guard in self._deployments.values():
                if deployment_guard.provider == name:
                    deployment_guard.breaker.configure(
                        failures=section.breaker.failures, cooldown=section.breaker.cooldown
                    )
            # Remember only what was applied: the rest is still pending, and is reported again next time.
            self._sections[name] = old.model_copy(update={key: getattr(section, key) for key in _GUARD_FIELDS})
        if needs_restart:
            structlog.get_logger("agentrt.calls").warning(
                "config_change_needs_restart",
                paths=needs_restart,
                hint="provider clients are created at start; these settings take effect after a restart",
            )
        return needs_restart
