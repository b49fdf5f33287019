"""Who is looking: the logged-in key of a dashboard request, and what it may see and do.

A dashboard key is an admin key or a key with the ``dashboard`` scope. What it
sees is narrowed like the API narrows it: a key with a tenant sees that
tenant's calls, agents, refusals and approvals only; a key with a user and no
tenant sees that user's; a key with neither (an operator's read-only key)
sees everything. Asking for another tenant or user is refused (403), never
silently widened. Acting (resume, terminate an agent) needs an admin key;
deciding approvals needs admin or the ``approvals`` scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentrt.server.errors import HttpError
from agentrt.store.usage_report import UsageFilter

if TYPE_CHECKING:
    from agentrt.calls import Principal
    from agentrt.server.auth import ApiKey
    from agentrt.server.ui.session import Session

__all__ = ["SCOPE", "Viewer", "may_log_in"]

SCOPE = "dashboard"


def may_log_in(key: ApiKey) -> bool:
    return key.admin or SCOPE in key.scopes


@dataclass(frozen=True, slots=True)
class Viewer:
    """The key behind a dashboard request, its session and the CSRF token of its forms."""

    key: ApiKey
    session: Session
    csrf: str

    @property
    def admin(self) -> bool:
        return self.key.admin

    @property
    def label(self) -> str:
        return self.key.label

    @property
    def tenant(self) -> str | None:
        """The tenant every page is narrowed to (None: not narrowed by tenant)."""
        return None if self.key.admin else self.key.principal.tenant

    @property
    def user(self) -> str | None:
        """The user every page is narrowed to: a key with a user and no tenant sees its user's calls only."""
        if self.key.admin or self.key.principal.tenant is not None:
            return None
        return self.key.principal.user

    @property
    def narrowed(self) -> bool:
        return self.tenant is not None or self.user is not None

    @property
    def can_act(self) -> bool:
        """Resume and terminate agents."""
        return self.key.admin

    @property
    def can_approve(self) -> bool:
        return self.key.allows("approvals")

    def narrow(self, tenant: str | None, user: str | None) -> tuple[str | None, str | None]:
        """The tenant and user filters a request may use: its own, or 403 for anyone else's."""
        if self.tenant is not None:
            if tenant not in (None, "", self.tenant):
                raise _forbidden(f"this key sees the tenant {self.tenant!r} only")
            return self.tenant, user or None
        if self.user is not None:
            if user not in (None, "", self.user) or tenant not in (None, ""):
                raise _forbidden(f"this key sees the calls of the user {self.user!r} only")
            return None, self.user
        return tenant or None, user or None

    def usage_filter(
        self,
        *,
        tenant: str | None = None,
        user: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        api_key: str | None = None,
    ) -> UsageFilter:
        tenant, user = self.narrow(tenant, user)
        return UsageFilter(tenant, user, model or None, provider or None, api_key or None)

    def sees(self, tenant: str | None, user: str | None) -> bool:
        """Whether a thing of ``tenant``/``user`` (an approval, an agent's owner) is this viewer's to see."""
        if self.key.admin or not self.narrowed:
            return True
        if self.tenant is not None:
            return tenant == self.tenant
        return tenant is None and user == self.user

    def sees_owner(self, owner: Principal | None) -> bool:
        """An agent: admins and un-narrowed keys see all; others their own (agents without an owner: admins)."""
        if self.key.admin or not self.narrowed:
            return True
        return owner is not None and self.sees(owner.tenant, owner.user)


def _forbidden(message: str) -> HttpError:
    return HttpError(403, message, type="permission_error", code="other_tenant")
