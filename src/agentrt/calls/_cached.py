"""Serving a call from the response cache: admitted by the policy like any call, charged nothing.

A hit is asked of the policy as the model it names (its rules, its rpm: a
cached answer is still a request), and then settled at 0 tokens and $0, so it
uses no budget and no tpm. Its ledger row says ``cached``. It never reaches a
provider, so no deployment's limit counts it, and its ledger row names no
deployment (``Completion.deployment`` still says where the answer came from).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from time import perf_counter
from typing import TYPE_CHECKING

from agentrt.calls._candidates import CallHolds
from agentrt.models import input_token_bound
from agentrt.types import Completed, Completion, StreamEvent, Usage

if TYPE_CHECKING:
    from agentrt.cache import CachedAnswer
    from agentrt.calls._call import _Call
    from agentrt.calls._records import CallRecords
    from agentrt.calls.policy_hook import PolicyHook
    from agentrt.models import ModelSpec
    from agentrt.types import Message

__all__ = ["cached_completion", "replay_cached"]


async def cached_completion(
    policy: PolicyHook,
    records: CallRecords,
    spec: ModelSpec,
    messages: list[Message],
    call: _Call,
    answer: CachedAnswer,
) -> Completion:
    """The completion ``answer`` holds, after the policy admitted it (a ``PolicyError`` otherwise)."""
    started = perf_counter()
    schema = call.response_format.schema if call.response_format is not None else None
    holds = CallHolds(
        policy, [spec], messages, call, input_token_bound(messages, call.tool_specs, response_schema=schema)
    )
    await holds.admit(0)
    usage = Usage()
    try:
        await holds.settle(0, usage, 0.0)
    except BaseException:
        await holds.release_all()
        raise
    latency = perf_counter() - started
    records.cached(spec, call, latency)
    return Completion(
        answer.text,
        answer.tool_calls,
        answer.finish_reason,
        usage,
        0.0,
        spec.name,
        answer.provider,
        [],
        latency,
        None,
        messages,
        answer.refusal,
        call.request_id,
        answer.deployment,
        True,
    )


async def replay_cached(
    policy: PolicyHook,
    records: CallRecords,
    spec: ModelSpec,
    messages: list[Message],
    call: _Call,
    answer: CachedAnswer,
) -> AsyncGenerator[StreamEvent, None]:
    """The stream of ``answer``: its stored events (or events made from a whole answer), then ``Completed``."""
    completion = await cached_completion(policy, records, spec, messages, call, answer)
    for event in answer.events():
        yield event
    yield Completed(completion)
