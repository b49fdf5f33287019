"""Fixtures of the client tests: a gateway per module, and the provider kind behind it as a parameter.

The tests run on their module's event loop (``pytest.mark.asyncio(loop_scope="module")``),
the gateway's; so do their own async fixtures.

:data:`KNOWN_DEFECTS` marks the cases that fail because of a gateway or provider
defect being fixed, as strict xfails: when the fix lands the case passes, the
xfail turns into a failure, and the entry must go.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from clients_gateway import TARGET_IDS, TARGETS, Gateway, Target, serving_gateway

# LiteLLM fetches its price list from the network when imported; the network is closed to tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# (client module, test, target) -> why it fails today; "*" matches any client module.
# Empty: every defect these tests found is fixed.
KNOWN_DEFECTS: dict[tuple[str, str, str], str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if not isinstance(item, pytest.Function) or here not in item.path.parents:
            continue
        callspec = getattr(item, "callspec", None)
        target = callspec.params.get("target") if callspec is not None else None
        if not isinstance(target, Target):
            continue
        client = item.path.stem.removeprefix("test_clients_")
        reason = KNOWN_DEFECTS.get((client, item.originalname, target.id)) or KNOWN_DEFECTS.get(
            ("*", item.originalname, target.id)
        )
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


# One gateway per test module, started on the module's event loop: starting one per test cost as much
# as the tests themselves. Each test starts from a fresh upstream: no script, no requests recorded.
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    async with serving_gateway(tmp_path_factory.mktemp("gateway")) as served:
        yield served


@pytest.fixture
def gateway(module_gateway: Gateway) -> Gateway:
    module_gateway.up.reset()
    return module_gateway


@pytest.fixture(params=TARGETS, ids=TARGET_IDS)
def target(request: pytest.FixtureRequest) -> Target:
    target: Target = request.param
    return target
