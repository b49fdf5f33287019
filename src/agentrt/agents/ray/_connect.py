"""Joining the Ray cluster, and what the configuration must say for agents to run on one.

Loopback: by default a Ray node advertises the machine's network address, and
its processes connect through it. ``agents_backend.ray.node_ip: 127.0.0.1``
(passed to ``ray.init`` as ``_node_ip_address``) keeps a client on loopback;
start the cluster's nodes with ``ray start --head --node-ip-address 127.0.0.1``
(and ``--node-ip-address 127.0.0.1`` on every other node) for the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentrt.errors import AgentError, ConfigError, ConfigProblem

if TYPE_CHECKING:
    from agentrt.config import Config, RayBackendSection

__all__ = ["check_config", "connect"]


def check_config(config: Config) -> None:
    """Refuse what cannot work across processes: shard hosts and clients must share the store and the
    policy counters, so a memory or SQLite store and a memory or SQLite policy backend are refused."""
    from agentrt.config._sections import store_kind

    problems = []
    if store_kind(config.store.url) != "postgresql":
        problems.append(
            ConfigProblem(
                "store.url",
                "agents_backend.kind is ray, so every shard host and client must share the store: use a "
                "postgresql:// URL (a memory or SQLite store is per process or per machine)",
            )
        )
    if not config.policies.backend.startswith(("redis://", "rediss://")):
        problems.append(
            ConfigProblem(
                "policies.backend",
                f"agents_backend.kind is ray, so limits and budgets must be counted in one place: use a "
                f"redis:// URL (the {config.policies.backend} backend counts per process or per machine)",
            )
        )
    if problems:
        raise ConfigError(problems)


def connect(section: RayBackendSection) -> None:
    """``ray.init`` for this process, unless it is connected already (a shard host, or the caller's own
    ``ray.init``). Blocking: call it in a thread from an event loop."""
    import ray

    if ray.is_initialized():
        return
    options: dict[str, Any] = {
        "address": section.address,
        "namespace": section.namespace,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if section.node_ip:
        options["_node_ip_address"] = section.node_ip
    try:
        ray.init(**options)
    except Exception as err:  # no cluster at the address, its GCS never answered, a version mismatch...
        raise AgentError(
            f"agents_backend.ray.address {section.address!r}: could not join the Ray cluster ({type(err).__name__}: "
            f"{err}). Start one "
            "(`ray start --head --node-ip-address 127.0.0.1` on one machine) or point address at it "
            "(host:6379, or ray://host:10001 for Ray Client)"
        ) from None
