"""The ``ray`` agent backend: agents in shard hosts on a Ray cluster (``agents_backend.kind: ray``).

Importing this package does not import Ray; using it does (the ``ray`` extra: ``pip install 'agentrt[ray]'``).
See :mod:`agentrt.agents.ray.client` (``RayAgents``, what ``rt.agents`` is) and
:mod:`agentrt.agents.ray.host` (the shard host actor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentrt.agents.ray._hashing import ShardMap, rendezvous_shard

if TYPE_CHECKING:
    from agentrt.agents.ray.client import RayAgents, RayEventStream

__all__ = ["RayAgents", "RayEventStream", "ShardMap", "rendezvous_shard"]


def __getattr__(name: str) -> Any:
    if name in ("RayAgents", "RayEventStream"):
        from agentrt.agents.ray import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
