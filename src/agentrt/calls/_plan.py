"""What every kind of model call shares: the pipeline's parts, and the plan of one call's candidates.

The candidates of a call are its model's deployments (ordered by the model's
routing strategy), then each fallback's deployments; a plain model is one
deployment. Each candidate is admitted before it is tried (see
:mod:`agentrt.calls._candidates`), and tried through the guard of its
deployment (its own breaker; its provider's concurrency limit, timeout and retries).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, overload

import structlog

from agentrt.calls._candidates import CallHolds
from agentrt.calls._deadline import call_timeout, deadline_seconds
from agentrt.calls._in_flight import InFlight
from agentrt.calls._records import CallRecords
from agentrt.calls._span_attributes import attempt_attributes
from agentrt.models import ModelSpec, check_request, estimate_tokens, input_token_bound
from agentrt.resilience import Candidate, StreamCandidate
from agentrt.routing import Router

if TYPE_CHECKING:
    from agentrt.cache import ResponseCache
    from agentrt.calls._call import _Call
    from agentrt.calls._stream_step import OpenStream
    from agentrt.calls.guards import ProviderGuards
    from agentrt.calls.policy_hook import PolicyHook
    from agentrt.models import ModelCatalog
    from agentrt.observability import CallMetrics
    from agentrt.observability.tracing import Tracing
    from agentrt.providers import ProviderRegistry
    from agentrt.store.ledger import UsageLedger
    from agentrt.tools._governance import ToolGovernor
    from agentrt.tools.registry import ToolRegistry
    from agentrt.types import Message

__all__ = ["PlannedCalls"]

T = TypeVar("T")


class PlannedCalls:
    """The parts of the pipeline and the plan of a call; ``CallPipeline`` adds the kinds of call."""

    def __init__(
        self,
        catalog: ModelCatalog,
        providers: ProviderRegistry,
        guards: ProviderGuards,
        policy: PolicyHook,
        metrics: CallMetrics | None = None,
        tracing: Tracing | None = None,
        ledger: UsageLedger | None = None,
        *,
        router: Router | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.catalog = catalog
        self.providers = providers
        self.guards = guards
        self.policy = policy
        self.router = router if router is not None else Router(getattr(policy, "backend", None))
        self.cache = cache
        self.tool_governor: ToolGovernor | None = None  # set by the tool governance service; runs tool calls
        self.tool_registry: ToolRegistry | None = None  # set by the calls service; names in tools=[...]
        self._records = CallRecords(metrics, ledger, structlog.get_logger("agentrt.calls"))
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._log = structlog.get_logger("agentrt.calls")
        # Streams opened and not yet settled; weak, so a stream its reader dropped goes with its generator.
        self._open_streams: weakref.WeakSet[OpenStream] = weakref.WeakSet()
        # Calls under way (plain calls, embeddings, streams until they open): a stop waits for them.
        self._in_flight = InFlight()

    # --- admission -----------------------------------------------------------------------

    async def _admitted(self, model: str, messages: list[Message], call: _Call, *, stream: bool) -> CallHolds:
        """Resolve the model, refuse what it cannot serve, and line up its candidates.

        A call with one candidate is admitted here, so a policy refusal is raised
        as it is; with several (deployments, fallbacks), the plan admits each
        candidate before trying it.
        """
        spec = self.catalog.resolve(model)
        check_request(
            spec,
            tools=bool(call.tool_specs),
            json_schema=call.response_format is not None,
            images=any(m.has_images for m in messages),
            stream=stream,
            input_tokens=estimate_tokens(messages, call.tool_specs),
            max_output_tokens=call.max_output_tokens,
        )
        schema = call.response_format.schema if call.response_format is not None else None
        bound = input_token_bound(messages, call.tool_specs, response_schema=schema)
        specs = self._candidate_specs(spec, call, stream=stream)
        holds = CallHolds(self.policy, specs, messages, call, bound, self.router.limits)
        if holds.count == 1:
            await holds.admit(0)
        return holds

    def _candidate_specs(self, spec: ModelSpec, call: _Call, *, stream: bool) -> Sequence[ModelSpec]:
        """The model's deployments in routing order, then each usable fallback's."""
        router = self.router
        names = spec.fallbacks if call.fallbacks is None else call.fallbacks
        if not names:
            return router.order(spec)  # read as far as the call goes
        specs = list(router.order(spec))
        models = [spec]
        for name in names:
            fallback = self.catalog.resolve(name)
            if fallback in models:
                continue
            try:
                check_request(
                    fallback,
                    tools=bool(call.tool_specs),
                    json_schema=call.response_format is not None,
                    stream=stream,
                    max_output_tokens=call.max_output_tokens,
                )
            except Exception as err:  # a fallback that cannot serve this request is skipped, loudly
                self._log.warning("fallback_skipped", model=spec.name, fallback=fallback.name, reason=str(err))
                continue
            models.append(fallback)
            specs.extend(router.order(fallback))
        return specs

    # --- candidates ----------------------------------------------------------------------

    def _hooks(self, holds: CallHolds, index: int) -> dict[str, Any]:
        if holds.count == 1:
            return {}
        return {"admit": partial(holds.admit, index), "release": partial(holds.release, index)}

    def _candidates(self, holds: CallHolds) -> Sequence[Candidate[Any]]:
        """The plan's candidates, each built when the plan reaches it: most calls try only the first."""
        if holds.count == 1:
            return [self._candidate(holds, 0)]
        return _Lazy(holds.count, partial(self._candidate, holds))

    def _stream_candidates(self, holds: CallHolds) -> Sequence[StreamCandidate[Any]]:
        if holds.count == 1:
            return [self._stream_candidate(holds, 0)]
        return _Lazy(holds.count, partial(self._stream_candidate, holds))

    def _candidate(self, holds: CallHolds, index: int) -> Candidate[Any]:
        spec, request = holds.specs[index], holds.request(index)
        client = self.providers.get(spec.provider)
        guard = self.guards.for_spec(spec)
        tracing = self._tracing
        if spec.deployment is not None:
            attempt = self.router.timed(spec, lambda: client.complete(request))
        else:

            def attempt() -> Any:
                return client.complete(request)

        if tracing is None:
            return Candidate(spec.name, guard, attempt, **self._hooks(holds, index))

        async def traced_attempt() -> Any:  # one span per try, retries included
            with tracing.span(f"attempt {spec.name}", attempt_attributes(spec)):
                return await attempt()

        return Candidate(spec.name, guard, traced_attempt, **self._hooks(holds, index))

    def _stream_candidate(self, holds: CallHolds, index: int) -> StreamCandidate[Any]:
        spec, request = holds.specs[index], holds.request(index)
        client = self.providers.get(spec.provider)
        if spec.deployment is not None:
            opened = self.router.timed_stream(spec, lambda: client.stream(request))
        else:

            def opened() -> Any:
                return client.stream(request)

        return StreamCandidate(spec.name, self.guards.for_spec(spec), opened, **self._hooks(holds, index))

    async def _within(self, timeout: float | None, spec: ModelSpec, awaitable: Any) -> Any:
        seconds = deadline_seconds(timeout)
        if seconds is None:
            return await awaitable
        try:
            async with asyncio.timeout(seconds):
                return await awaitable
        except TimeoutError as err:
            raise call_timeout(spec, timeout) from err


class _Lazy(Sequence[T]):
    """A sequence whose item ``i`` is ``make(i)``, made on first access and kept."""

    __slots__ = ("_items", "_make")

    def __init__(self, count: int, make: Callable[[int], T]) -> None:
        self._items: list[T | None] = [None] * count
        self._make = make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        for index in range(len(self._items)):
            yield self[index]

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._items)))]
        item = self._items[index]  # an index out of range raises IndexError, which ends iteration
        if item is None:
            item = self._items[index] = self._make(index if index >= 0 else index + len(self._items))
        return item
