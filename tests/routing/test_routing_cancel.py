"""A deployment hold the policy then refused is cancelled on every backend: the request never went, so the
deployment's rpm does not count it (a released hold still does: that call reached the provider)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from routing_support import model_with, runtime_config

from agentrt import Runtime
from agentrt.errors import PolicyDenied
from agentrt.policy.backends import MemoryBackend, PolicyBackend
from agentrt.routing import DeploymentBusy, DeploymentLimits
from agentrt.testing import FakeUpstream


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PolicyBackend]:
    store = None
    result: PolicyBackend
    if request.param == "memory":
        result = MemoryBackend()
    elif request.param == "sqlite":
        from agentrt.policy.backends.sqlite import SqliteBackend
        from agentrt.store import open_store

        store = open_store(f"sqlite:///{tmp_path / 'policy.db'}")
        await store.open()
        result = SqliteBackend(store)
    else:
        from agentrt.policy.backends.redis import RedisBackend

        prefix = f"cancel:{uuid.uuid4().hex[:8]}:"
        result = RedisBackend(request.getfixturevalue("redis_url"), key_prefix=prefix)
    await result.open()
    yield result
    await result.close()
    if store is not None:
        await store.close()


async def test_a_cancelled_hold_leaves_the_window_and_a_released_one_does_not(backend: PolicyBackend) -> None:
    spec = model_with([{"provider": "a", "rpm": 2}, {"provider": "b"}])
    deployment = spec.deployments[0]
    limits = DeploymentLimits(backend)
    first = await limits.hold(deployment, 100, "r1", "generate")
    second = await limits.hold(deployment, 100, "r2", "generate")
    with pytest.raises(DeploymentBusy):
        await limits.hold(deployment, 100, "r3", "generate")
    await limits.cancel(second)  # the policy refused that call: it never went
    third = await limits.hold(deployment, 100, "r4", "generate")  # so its place is free again
    await limits.release(first)  # that call failed at the provider: it still counts
    with pytest.raises(DeploymentBusy):
        await limits.hold(deployment, 100, "r5", "generate")
    await limits.settle(third, 40)
    assert deployment.deployment is not None
    key = deployment.deployment.key
    window = (await limits.windows([key])).windows[key]
    assert (window.requests, window.tokens) == (2, 40)


async def test_a_caller_the_policy_refuses_takes_nothing_of_a_deployments_rpm(up: FakeUpstream, tmp_path: Path) -> None:
    model = {"deployments": [{"provider": "east", "name": "gpt-a", "rpm": 1}]}
    policies = {
        "backend": "memory",
        "rules": [{"name": "no-interns", "effect": "deny", "match": {"users": ["intern"]}}],
    }
    async with Runtime.open(runtime_config(up, tmp_path, model, policies=policies), plugins=False) as rt:
        for _ in range(3):
            with pytest.raises(PolicyDenied):
                await rt.generate("m", "hi", user="intern")
        served = await rt.generate("m", "hi", user="ann")  # the one place is still there
    assert served.deployment == "east/gpt-a"
