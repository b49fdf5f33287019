"""Agent types registered from code, kept where a restarted shard host finds them: Ray's GCS key-value store.

A host learns the configuration's types from the configuration it is given,
but a type registered from code (``rt.agents.register``) exists only in the
client that registered it. A host that Ray restarts (its node died) must
still know it, or the shard's durable agents of that type would wait
unrestored. So the client publishes such types (name, class by reference,
options; pickled) under one key per namespace in the cluster's key-value
store, which lives as long as the cluster; a host reads them when it opens.
(Ray's ``internal_kv`` is where Ray itself keeps such metadata. One key
holding every type, rather than a key per type: its key listing does not
round-trip keys in a namespace with a colon.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentrt.agents.ray._shard import TypeSpec

__all__ = ["forget_types", "publish_types", "published_types"]


def _key(namespace: str) -> bytes:
    return f"agentrt/{namespace}/agent-types".encode()


def publish_types(namespace: str, specs: list[TypeSpec]) -> None:
    """Add ``specs`` to the namespace's published types (a type of the same name is replaced)."""
    from ray import cloudpickle
    from ray.experimental import internal_kv

    types = {spec[0]: spec for spec in published_types(namespace)}
    types.update((spec[0], spec) for spec in specs)
    internal_kv._internal_kv_put(_key(namespace), cloudpickle.dumps(types), overwrite=True)  # type: ignore[no-untyped-call]


def published_types(namespace: str) -> list[TypeSpec]:
    from ray import cloudpickle
    from ray.experimental import internal_kv

    value = internal_kv._internal_kv_get(_key(namespace))
    if value is None:
        return []
    types: dict[str, TypeSpec] = cloudpickle.loads(value)
    return list(types.values())


def forget_types(namespace: str) -> None:
    from ray.experimental import internal_kv

    internal_kv._internal_kv_del(_key(namespace))
