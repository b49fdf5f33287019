"""The call pipeline: every model call of the runtime goes through here.

::

    normalise the options (output-size aliases, response_format, OpenAI-style messages)
      -> resolve the model (alias -> spec) -> check capabilities
      -> the response cache, when on: a hit is admitted by the policy and served at 0 tokens, $0
      -> plan: the model's deployments (routing order), then its fallbacks'; each candidate holds its
         deployment's rpm/tpm (a busy one is skipped), is admitted by the policy (its own rules,
         limits and price), then tried through its guard (its breaker -> its provider's
         concurrency slot -> timeout -> client -> retries)
      -> policy.settle the candidate that served (release the others) -> metrics, ledger, one log line
      -> Completion (text, tool calls, refusal, usage, cost, model, provider, attempts, latency, request id)

The pipeline is split by kind of call: ``_plan`` (the parts and the candidates),
``_streaming`` (``stream``), ``_embedding`` (``embed``), ``_cached`` (cache hits);
``generate`` and its tool loop are here.

Nothing here does I/O but the provider call, the policy hook and the cache; the log line
goes to a writer thread and metrics are in-memory counters, so a call costs
little more than its HTTP round trip.

Deadlines: ``timeout=`` bounds a whole model call: the wait for a provider's
concurrency slot, every retry and fallback and, for a stream, every event up
to the last. A call that names none gets :data:`DEFAULT_CALL_TIMEOUT`
(``timeout=math.inf`` turns it off).

Output limits: the provider is told the output size the policy reserved (the
smaller of the caller's limit and the policy's hold), so usage stays within the
hold. A stream whose output passes that size anyway (an upstream that ignores
the cap) is settled at the cap: cut there, with finish reason ``length``, once
its bytes show it certainly passed the cap; otherwise settled at the cap when
the provider's own count passes it (a warning is logged, and the ledger row
says what was settled). The one case settled past the hold is a non-streamed
answer from such an upstream: it arrives whole, and is settled at the
provider's own count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentrt.calls._cached import cached_completion
from agentrt.calls._call import _Call, call_settings
from agentrt.calls._candidates import DEFAULT_MAX_OUTPUT_RESERVATION
from agentrt.calls._deadline import DEFAULT_CALL_TIMEOUT
from agentrt.calls._embedding import EmbeddingCalls
from agentrt.calls._messages import Prompt, to_messages
from agentrt.calls._span_attributes import request_attributes, response_attributes
from agentrt.calls._stream_step import settle_open_streams
from agentrt.calls._streaming import StreamingCalls
from agentrt.calls._tool_selection import ToolsArg, resolve_tools
from agentrt.calls._tooling import run_tool_calls
from agentrt.calls.principal import Principal
from agentrt.errors import ToolError
from agentrt.resilience import run_plan
from agentrt.types import Attempt, Completion, Message, ResponseFormat, Usage

if TYPE_CHECKING:
    from agentrt.config._cache import CacheSection
    from agentrt.tools import ToolSet

__all__ = ["DEFAULT_CALL_TIMEOUT", "DEFAULT_MAX_OUTPUT_RESERVATION", "CallPipeline"]


class CallPipeline(StreamingCalls, EmbeddingCalls):
    """Model calls with policy, routing, resilience, cache, cost and records: what ``rt.generate`` and friends use.

    Built from the catalog, the providers, their guards and the policy hook; ``metrics``,
    ``tracing`` and ``ledger`` record calls; ``router`` orders deployments (one is made on the
    policy's backend when not given); ``cache`` is the response cache (None: no cache).
    """

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the calls under way to end; return how many still run.

        The calls service runs this when it stops, before :meth:`settle_open_streams`, so that a call
        answered meanwhile is settled while the policy and the ledger still run.
        """
        return await self._in_flight.wait_idle(timeout)

    async def settle_open_streams(self) -> int:
        """Settle every stream still open for what it delivered (ledger row ``cancelled``); how many it settled.

        The calls service runs this when it stops, before the policy and the ledger it needs stop: a stream
        its reader has neither finished nor closed is charged now, not by a finalizer after the policy is
        gone. Such a stream then raises ``RuntimeStateError`` if it is read again.
        """
        return await settle_open_streams(list(self._open_streams), self.catalog, self._records, self._log)

    def reconfigure(self, section: CacheSection) -> list[str]:
        """A reload's new ``cache`` section (the calls service takes it); returns what waits for a restart."""
        return self.cache.reconfigure(section) if self.cache is not None else []

    # --- generate ----------------------------------------------------------------------

    async def generate(
        self,
        model: str,
        prompt: Prompt,
        *,
        system: str | None = None,
        user: str | None = None,
        tenant: str | None = None,
        principal: Principal | None = None,
        fallbacks: Sequence[str] | None = None,
        timeout: float | None = None,
        tools: ToolsArg = None,
        tool_choice: str | dict[str, Any] | None = None,
        max_steps: int = 8,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | type | None = None,
        params: Mapping[str, Any] | None = None,
        cache: bool | str | None = None,
        cache_ttl: float | None = None,
        **model_params: Any,
    ) -> Completion:
        """Ask ``model`` (a name or alias) for a completion of ``prompt``.

        ``user``/``tenant`` (or ``principal``) say whom the call is for, so
        policies apply. ``fallbacks`` replaces the model's configured fallbacks
        for this call; ``timeout`` bounds the whole call, retries and fallbacks
        included. ``tools`` are :class:`~agentrt.tools.Tool`\\ s or plain
        functions, run in a loop (the model asks, the tool runs, the model gets
        the result) for up to ``max_steps`` model calls; plain ``ToolSpec``\\ s
        are only offered, and the model's tool calls are returned. Any other
        keyword is a model parameter passed to the provider as given; ``params``
        takes them as a mapping too, for names that are also agentrt options.
        ``max_tokens`` and ``max_completion_tokens`` (OpenAI's names) are
        aliases of ``max_output_tokens``. ``prompt`` may be OpenAI-style message
        dicts and ``response_format`` OpenAI's dict, a :class:`ResponseFormat`
        or a pydantic model class. ``cache`` is True (use the response cache),
        False (do not), ``"refresh"`` (store the answer, never read a stored one)
        or None (as the configuration says); ``cache_ttl`` (seconds) how long a stored answer lives.
        """
        messages = to_messages(prompt, system)
        call = call_settings(
            principal or Principal.of(user, tenant),
            "generate",
            fallbacks,
            timeout,
            tool_choice=tool_choice,
            response_format=response_format,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            params=params,
            model_params=model_params,
            cache=cache,
            cache_ttl=cache_ttl,
        )
        toolset, call.tool_specs = resolve_tools(tools, self.tool_registry)
        if toolset is None:
            return await self.complete(model, messages, call)
        return await self._tool_loop(model, messages, call, toolset, max_steps)

    async def complete(self, model: str, messages: list[Message], call: _Call) -> Completion:
        """One model call (no tool loop): the heart of ``generate``."""
        tracing = self._tracing
        if tracing is None:
            return await self._complete(model, messages, call)
        with tracing.span(f"chat {model}", request_attributes("chat", model, call)) as span:
            completion = await self._complete(model, messages, call)
            if span is not None:
                span.set_attributes(response_attributes(completion))
                call.parent_span = span
            return completion

    async def _complete(self, model: str, messages: list[Message], call: _Call) -> Completion:
        self._in_flight.enter()
        try:
            cache = self.cache
            if cache is None or not cache.consulted(call):
                return await self._complete_counted(model, messages, call)
            spec = self.catalog.resolve(model)
            plan = cache.plan(spec, messages, call)
            if plan is None:
                return await self._complete_counted(model, messages, call)
            if plan.read:
                answer = await cache.get(plan)
                if answer is not None:
                    return await cached_completion(self.policy, self._records, spec, messages, call, answer)
            completion = await self._complete_counted(model, messages, call)
            await cache.put(plan, completion)
            return completion
        finally:
            self._in_flight.leave()

    async def _complete_counted(self, model: str, messages: list[Message], call: _Call) -> Completion:
        holds = await self._admitted(model, messages, call, stream=False)
        spec = holds.specs[0]
        attempts: list[Attempt] = []
        started = perf_counter()
        try:
            candidates = self._candidates(holds)
            plan = run_plan(candidates, attempts=attempts, request_id=call.request_id)
            response, index = await self._within(call.timeout, spec, plan)
        except BaseException as err:
            await holds.release_all()
            self._records.failure(spec, call, err, perf_counter() - started, len(attempts))
            raise
        served = holds.specs[index]
        cost = self.catalog.cost(served, response.usage)
        await holds.settle(index, response.usage, cost)
        latency = perf_counter() - started
        self._records.success(spec, served, call, response.usage, cost, latency, attempts)
        return Completion(
            response.text,
            response.tool_calls,
            response.finish_reason,
            response.usage,
            cost,
            served.name,
            served.provider,
            attempts,
            latency,
            response.raw,
            messages,
            response.refusal,
            call.request_id,
            served.deployment.label if served.deployment is not None else None,
        )

    async def _tool_loop(
        self, model: str, messages: list[Message], call: _Call, toolset: ToolSet, max_steps: int
    ) -> Completion:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        usage, cost, attempts, latency = Usage(), 0.0, [], 0.0
        priced = True
        for _ in range(max_steps):
            step = await self.complete(model, messages, call)
            usage, latency = usage + step.usage, latency + step.latency
            attempts.extend(step.attempts)
            priced = priced and step.cost is not None
            cost += step.cost or 0.0
            messages.append(Message.assistant(step.text, step.tool_calls))
            if not step.tool_calls:
                step.usage, step.attempts, step.latency = usage, attempts, latency
                step.cost = cost if priced else None
                step.messages = messages
                return step
            messages.extend(
                await run_tool_calls(toolset, step.tool_calls, self._log, self._tracing, self.tool_governor, call)
            )
        raise ToolError(
            f"the model {model!r} still asked for tools after max_steps={max_steps} model calls; "
            "raise max_steps, or check that the tools' answers let the model finish"
        )
