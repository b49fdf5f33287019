"""Who is asking: the principal every call of one MCP request runs as, and what it may see.

Over HTTP the caller is the request's API key (``server.api_keys``); over
stdio it is named on the command line (``--user``/``--tenant``, or ``--key``).
This module knows nothing of either: the server and the CLI build a
:class:`Caller` and hand it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentrt.calls.principal import Principal

__all__ = ["AGENTS_SCOPE", "PROMPTS_SCOPE", "TOOLS_SCOPE", "Caller"]

TOOLS_SCOPE = "tools"
"""The scope that lists and calls the configured tools."""
AGENTS_SCOPE = "agents:write"
"""The scope that lists and asks the agent tools (``agents.<type>``): as for ``POST /v1/agents/{id}/ask``."""
PROMPTS_SCOPE = "chat"
"""The scope that lists and renders the prompts: they are messages for model calls, as ``chat`` allows."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal of one MCP request and the scopes it holds.

    ``owner`` is whom agents it spawns belong to (as for the agents API: the
    tenant, else the user, else the key). ``max_agents`` caps the owner's live
    agents (None: ``server.max_agents_per_tenant``). ``request_id`` joins the
    audit and ledger rows of what the request does to the HTTP request.
    """

    principal: Principal
    scopes: frozenset[str]
    admin: bool = False
    label: str | None = None
    max_agents: int | None = None
    request_id: str | None = None

    def allows(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    @property
    def owner(self) -> Principal:
        tenant, user = self.principal.tenant, self.principal.user
        if tenant is not None:
            return Principal(tenant=tenant)
        return Principal(user=user if user is not None else f"key:{self.label or 'mcp'}")

    def sees(self, owner: Principal | None) -> bool:
        """Whether an agent owned by ``owner`` is this caller's to ask (admins ask any)."""
        if self.admin:
            return True
        if owner is None:
            return False
        mine = self.owner
        if mine.tenant is not None:
            return owner.tenant == mine.tenant
        return owner.tenant is None and owner.user is not None and owner.user == mine.user
