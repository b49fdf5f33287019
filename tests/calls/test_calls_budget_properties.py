"""A property of the call path: whatever mix of calls, failing primaries, pricier fallbacks and streams left at
random points runs against one budget, usage never passes it, every output delivered is charged, and the ledger
agrees with the counters, on the memory and SQLite backends (tests/guarantees adds Redis and crashes)."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt import Runtime
from agentrt.calls import Principal
from agentrt.errors import AgentRTError
from agentrt.policy import PolicyEngine
from agentrt.store import UsageLedger
from agentrt.types import ChatRequest, ProviderResponse, StreamFinish, TextDelta, Usage

BUDGET_TOKENS = 3_000


@dataclass(frozen=True)
class Step:
    stream: bool
    primary_fails: bool
    max_output: int
    leave_after: int | None  # a stream's reader leaves after this many deltas (None: reads to the end)


STEPS = st.builds(
    Step,
    stream=st.booleans(),
    primary_fails=st.booleans(),
    max_output=st.integers(1, 400),
    leave_after=st.none() | st.integers(0, 6),
)


class HonestUpstream:
    """Answers within the output limit it is sent; the primary model fails when the step says so."""

    name = kind = "honest"

    def __init__(self) -> None:
        self.fail_primary = False

    def _check(self, request: ChatRequest) -> None:
        if self.fail_primary and request.model == "m-primary":
            from agentrt.errors import ProviderUnavailable

            raise ProviderUnavailable("down", provider="p", model=request.model)

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        self._check(request)
        out = min(request.max_output_tokens or 50, 50)
        return ProviderResponse("x" * out, [], "stop", Usage(5, out), request.model)

    async def stream(self, request: ChatRequest) -> Any:
        self._check(request)
        out = min(request.max_output_tokens or 50, 50)
        for _ in range(out // 8):
            await asyncio.sleep(0)
            yield TextDelta("x" * 8)
        yield StreamFinish("stop", Usage(5, out), [], request.model)


class Registry:
    def __init__(self, client: HonestUpstream) -> None:
        self.client = client

    def get(self, name: str) -> HonestUpstream:
        return self.client


async def run_steps(steps: list[Step], folder: Path, backend: str) -> tuple[int, int, int, int]:
    config = {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{folder / 'ledger.db'}"},
        "providers": {
            "p": {
                "kind": "openai",
                "api_key": "sk-x-0123456789",
                "base_url": "http://127.0.0.1:9/v1",
                "retry": {"attempts": 1},
                "breaker": {"failures": 0},
            }
        },
        "models": {
            "primary": {"provider": "p", "name": "m-primary", "pricing": {"input": 1.0, "output": 2.0}},
            "backup": {"provider": "p", "name": "m-backup", "pricing": {"input": 5.0, "output": 9.0}},
        },
        "policies": {
            "backend": backend,
            "budgets": [{"scope": "user", "period": "total", "max_tokens": BUDGET_TOKENS}],
        },
    }
    upstream = HonestUpstream()
    delivered = 0  # characters the readers were given: a token each, at most, in this upstream
    async with Runtime.open(config, plugins=False) as rt:
        rt.calls.providers = Registry(upstream)  # type: ignore[assignment]
        for step in steps:
            upstream.fail_primary = step.primary_fails
            options = {"user": "ann", "fallbacks": ["backup"], "max_output_tokens": step.max_output}
            try:
                if not step.stream:
                    delivered += len((await rt.generate("primary", "hi", **options)).text)
                    continue
                seen = 0
                async for event in rt.stream("primary", "hi", **options):
                    if isinstance(event, TextDelta):
                        delivered += len(event.text)
                    seen += 1
                    if step.leave_after is not None and seen > step.leave_after:
                        break
            except AgentRTError:
                pass  # refused by the budget, or every candidate failed: nothing may be charged
            await asyncio.sleep(0)  # lets a generator left by `break` be finalised
        for _ in range(5):
            await asyncio.sleep(0.01)
        engine = rt.calls.policy
        assert isinstance(engine, PolicyEngine)
        [budget] = (await engine.explain(Principal("ann"), rt.models.resolve("primary"))).budgets
        ledger = rt.services.get(UsageLedger)
        await ledger.flush()
        [(ledger_tokens,)] = await ledger.store.fetchall(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM agentrt_usage"
        )
        return budget.used_tokens, budget.reserved_tokens, int(ledger_tokens), delivered


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(STEPS, min_size=1, max_size=12))
def test_usage_never_passes_the_budget_and_the_ledger_agrees(steps: list[Step]) -> None:
    check(steps, "memory")


@settings(max_examples=10, deadline=None)
@given(steps=st.lists(STEPS, min_size=1, max_size=12))
def test_the_same_holds_with_counters_in_sqlite(steps: list[Step]) -> None:
    check(steps, "sqlite")


def check(steps: list[Step], backend: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        used, reserved, in_ledger, delivered = asyncio.run(run_steps(steps, Path(folder), backend))
    assert used <= BUDGET_TOKENS
    assert used >= delivered  # no output is free, also from a stream left early
    assert reserved == 0  # every hold was settled or released
    assert in_ledger == used
