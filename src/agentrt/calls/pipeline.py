"""The call pipeline: every model call of the runtime goes through here.

::

    normalise the options (output-size aliases, response_format, OpenAI-style messages)
      -> resolve the model (alias -> spec) -> check capabilities
      -> plan: the model, then its fallbacks; each candidate admitted by the policy
         (its own rules, limits and price), then tried through its provider's guard
         (breaker -> concurrency slot -> timeout -> client -> retries)
      -> policy.settle the candidate that served (release the others) -> metrics, ledger, one log line
      -> Completion (text, tool calls, refusal, usage, cost, model, provider, attempts, latency, request id)

Nothing here does I/O but the provider call and the policy hook; the log line
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

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from agentrt.calls._call import _Call, call_settings
from agentrt.calls._candidates import DEFAULT_MAX_OUTPUT_RESERVATION, CallHolds
from agentrt.calls._deadline import DEFAULT_CALL_TIMEOUT, call_timeout, deadline_seconds
from agentrt.calls._in_flight import InFlight
from agentrt.calls._messages import Prompt, to_messages
from agentrt.calls._records import CallRecords
from agentrt.calls._span_attributes import attempt_attributes, request_attributes, response_attributes
from agentrt.calls._stream_step import OpenStream, read_stream, settle_open_streams
from agentrt.calls._tool_selection import ToolsArg, resolve_tools
from agentrt.calls._tooling import run_tool_calls
from agentrt.calls.policy_hook import Admission, PolicyHook
from agentrt.calls.principal import Principal, request_id
from agentrt.errors import ToolError
from agentrt.models import ModelCatalog, ModelSpec, check_request, estimate_tokens, input_token_bound
from agentrt.resilience import Candidate, StreamCandidate, run_plan, stream_plan
from agentrt.types import (
    Attempt,
    Completed,
    Completion,
    EmbeddingRequest,
    Embeddings,
    Message,
    ResponseFormat,
    StreamEvent,
    Usage,
)

if TYPE_CHECKING:
    from agentrt.calls.guards import ProviderGuards
    from agentrt.observability import CallMetrics
    from agentrt.observability.tracing import Tracing
    from agentrt.providers import ProviderRegistry
    from agentrt.store.ledger import UsageLedger
    from agentrt.tools import ToolSet

__all__ = ["DEFAULT_CALL_TIMEOUT", "DEFAULT_MAX_OUTPUT_RESERVATION", "CallPipeline"]

T = TypeVar("T")

class CallPipeline:
    """Model calls with policy, resilience, cost and records: what ``rt.generate`` and friends use."""

    def __init__(
        self,
        catalog: ModelCatalog,
        providers: ProviderRegistry,
        guards: ProviderGuards,
        policy: PolicyHook,
        metrics: CallMetrics | None = None,
        tracing: Tracing | None = None,
        ledger: UsageLedger | None = None,
    ) -> None:
        self.catalog = catalog
        self.providers = providers
        self.guards = guards
        self.policy = policy
        self._records = CallRecords(metrics, ledger, structlog.get_logger("agentrt.calls"))
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._log = structlog.get_logger("agentrt.calls")
        # Streams opened and not yet settled; weak, so a stream its reader dropped goes with its generator.
        self._open_streams: weakref.WeakSet[OpenStream] = weakref.WeakSet()
        # Calls under way (plain calls, embeddings, streams until they open): a stop waits for them.
        self._in_flight = InFlight()

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
        or a pydantic model class.
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
        )
        toolset, call.tool_specs = resolve_tools(tools)
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
            return completion

    async def _admitted(self, model: str, messages: list[Message], call: _Call, *, stream: bool) -> CallHolds:
        """Resolve the model, refuse what it cannot serve, and line up its candidates.

        A call without fallbacks is admitted here, so a policy refusal is raised
        as it is; with fallbacks, the plan admits each candidate before trying it.
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
        holds = CallHolds(self.policy, self._candidate_specs(spec, call, stream=stream), messages, call, bound)
        if len(holds.specs) == 1:
            await holds.admit(0)
        return holds

    def _hooks(self, holds: CallHolds, index: int) -> dict[str, Any]:
        if len(holds.specs) == 1:
            return {}
        return {"admit": partial(holds.admit, index), "release": partial(holds.release, index)}

    async def _complete(self, model: str, messages: list[Message], call: _Call) -> Completion:
        self._in_flight.enter()
        try:
            return await self._complete_counted(model, messages, call)
        finally:
            self._in_flight.leave()

    async def _complete_counted(self, model: str, messages: list[Message], call: _Call) -> Completion:
        holds = await self._admitted(model, messages, call, stream=False)
        spec = holds.specs[0]
        attempts: list[Attempt] = []
        started = perf_counter()
        try:
            candidates = [self._candidate(holds, index) for index in range(len(holds.specs))]
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
            messages.extend(await run_tool_calls(toolset, step.tool_calls, self._log, self._tracing))
        raise ToolError(
            f"the model {model!r} still asked for tools after max_steps={max_steps} model calls; "
            "raise max_steps, or check that the tools' answers let the model finish"
        )

    # --- stream ------------------------------------------------------------------------

    def stream(
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
        **model_params: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Like :meth:`generate`, as events: text and tool-call deltas, then one ``Completed``.

        A fallback may serve the call before the first event, never after.
        ``timeout`` bounds each model call of the stream to its last event. With
        runnable tools, the tool loop runs between steps and every step's deltas
        are streamed. A stream left early (``break``, ``aclose()``, a cancelled
        task) is charged for what it delivered, its ledger row marked ``cancelled``;
        so is a stream still open when the runtime stops. Close a stream you leave
        (``async with aclosing(rt.stream(...))``): a stream merely dropped is
        settled when the event loop finalises it, which may wait for a garbage
        collection, and holds its reservation until then. The request id is the
        one current when ``stream`` is called, not when the stream is first read.
        """
        return self._stream(
            request_id.get(),
            model,
            prompt,
            system,
            principal or Principal.of(user, tenant),
            fallbacks,
            timeout,
            tools,
            tool_choice,
            max_steps,
            max_output_tokens,
            temperature,
            response_format,
            params,
            model_params,
        )

    async def _stream(
        self,
        current_request_id: str | None,
        model: str,
        prompt: Prompt,
        system: str | None,
        principal: Principal,
        fallbacks: Sequence[str] | None,
        timeout: float | None,
        tools: ToolsArg,
        tool_choice: str | dict[str, Any] | None,
        max_steps: int,
        max_output_tokens: int | None,
        temperature: float | None,
        response_format: ResponseFormat | Mapping[str, Any] | type | None,
        params: Mapping[str, Any] | None,
        model_params: dict[str, Any],
    ) -> AsyncGenerator[StreamEvent, None]:
        messages = to_messages(prompt, system)
        call = call_settings(
            principal,
            "stream",
            fallbacks,
            timeout,
            tool_choice=tool_choice,
            response_format=response_format,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            params=params,
            model_params=model_params,
        )
        if current_request_id is not None:
            call.request_id = current_request_id
        toolset, call.tool_specs = resolve_tools(tools)
        usage, cost, attempts, latency, priced = Usage(), 0.0, list[Attempt](), 0.0, True
        for _ in range(max_steps if toolset is not None else 1):
            completion: Completion | None = None
            async with aclosing(self._stream_step(model, messages, call)) as step:
                async for event in step:
                    if isinstance(event, Completed):
                        completion = event.completion
                    else:
                        yield event
            assert completion is not None  # _stream_step ends with Completed or raises
            usage, latency = usage + completion.usage, latency + completion.latency
            attempts.extend(completion.attempts)
            priced = priced and completion.cost is not None
            cost += completion.cost or 0.0
            if toolset is None or not completion.tool_calls:
                completion.usage, completion.attempts, completion.latency = usage, attempts, latency
                completion.cost = cost if priced else None
                if toolset is not None:
                    messages.append(Message.assistant(completion.text))
                completion.messages = messages
                yield Completed(completion)
                return
            messages.append(Message.assistant(completion.text, completion.tool_calls))
            messages.extend(await run_tool_calls(toolset, completion.tool_calls, self._log, self._tracing))
        raise ToolError(
            f"the model {model!r} still asked for tools after max_steps={max_steps} model calls; "
            "raise max_steps, or check that the tools' answers let the model finish"
        )

    async def _stream_step(
        self, model: str, messages: list[Message], call: _Call
    ) -> AsyncGenerator[StreamEvent, None]:
        if self._tracing is None:
            async with aclosing(self._stream_step_untraced(model, messages, call)) as untraced:
                async for event in untraced:
                    yield event
            return
        # The span is not made current: a context attached in an async generator would be
        # detached in another context when the consumer stops early.
        with self._tracing.span(f"chat {model}", request_attributes("chat", model, call), current=False) as span:
            async with aclosing(self._stream_step_untraced(model, messages, call)) as step:
                async for event in step:
                    if span is not None and isinstance(event, Completed):
                        span.set_attributes(response_attributes(event.completion))
                    yield event

    async def _stream_step_untraced(
        self, model: str, messages: list[Message], call: _Call
    ) -> AsyncGenerator[StreamEvent, None]:
        self._in_flight.enter()  # until the stream is open: from then on, an open stream is settled at stop
        try:
            holds = await self._admitted(model, messages, call, stream=True)
            spec = holds.specs[0]
            attempts: list[Attempt] = []
            started = perf_counter()
            timeout = deadline_seconds(call.timeout)
            deadline = asyncio.get_running_loop().time() + timeout if timeout is not None else None
            try:
                candidates = [self._stream_candidate(holds, index) for index in range(len(holds.specs))]
                try:
                    async with asyncio.timeout_at(deadline):  # one deadline: the opening and every event after
                        events, index = await stream_plan(candidates, attempts=attempts, request_id=call.request_id)
                except TimeoutError as err:
                    raise call_timeout(spec, call.timeout) from err
            except BaseException as err:
                await holds.release_all()
                self._records.failure(spec, call, err, perf_counter() - started, len(attempts))
                raise
            step = OpenStream(holds, index, call, attempts, started, holds.requests[index].max_output_tokens)
            self._open_streams.add(step)
        finally:
            self._in_flight.leave()
        async with aclosing(read_stream(self.catalog, self._records, self._log, step, events, deadline)) as delivered:
            async for event in delivered:
                yield event

    # --- embeddings ----------------------------------------------------------------------

    async def embed(
        self,
        model: str,
        inputs: str | Sequence[str],
        *,
        user: str | None = None,
        tenant: str | None = None,
        principal: Principal | None = None,
        fallbacks: Sequence[str] | None = None,
        timeout: float | None = None,
        params: Mapping[str, Any] | None = None,
        **model_params: Any,
    ) -> Embeddings:
        """Embed ``inputs`` with ``model``.

        Embeddings never fall back: vectors from another model are not comparable
        with the ones already stored, so ``fallbacks`` must be empty.
        """
        if fallbacks:
            raise ValueError(
                "embeddings cannot fall back to another model: its vectors would not be comparable "
                "with those of the first; retry the same model instead"
            )
        if self._tracing is None:
            return await self._embed(model, inputs, user, tenant, principal, timeout, _merged(params, model_params))
        with self._tracing.span(f"embeddings {model}", {"gen_ai.operation.name": "embeddings"}) as span:
            result = await self._embed(model, inputs, user, tenant, principal, timeout, _merged(params, model_params))
            if span is not None:
                span.set_attributes(
                    {
                        "gen_ai.request.model": result.model,
                        "gen_ai.provider.name": result.provider,
                        "gen_ai.usage.input_tokens": result.usage.input_tokens,
                    }
                )
            return result

    async def _embed(
        self,
        model: str,
        inputs: str | Sequence[str],
        user: str | None,
        tenant: str | None,
        principal: Principal | None,
        timeout: float | None,
        params: dict[str, Any],
    ) -> Embeddings:
        self._in_flight.enter()
        try:
            return await self._embed_counted(model, inputs, user, tenant, principal, timeout, params)
        finally:
            self._in_flight.leave()

    async def _embed_counted(
        self,
        model: str,
        inputs: str | Sequence[str],
        user: str | None,
        tenant: str | None,
        principal: Principal | None,
        timeout: float | None,
        params: dict[str, Any],
    ) -> Embeddings:
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        spec = self.catalog.resolve(model)
        as_messages = [Message("user", text) for text in texts]
        check_request(spec, embeddings=True, input_tokens=estimate_tokens(as_messages))
        input_tokens = input_token_bound(as_messages)
        who = principal or Principal.of(user, tenant)
        call = call_settings(who, "embed", None, timeout)
        reservation = await self.policy.admit(
            Admission(who, "embed", spec, input_tokens, 0, request_id=call.request_id)
        )
        client = self.providers.get(spec.provider)
        request = EmbeddingRequest(spec.provider_model, texts, {**spec.params, **params})
        attempts: list[Attempt] = []
        started = perf_counter()
        try:
            candidate = Candidate(spec.name, self.guards.get(spec.provider), lambda: client.embed(request))
            result, _ = await self._within(timeout, spec, run_plan([candidate], attempts=attempts))
        except BaseException as err:
            await self.policy.release(reservation)
            self._records.failure(spec, call, err, perf_counter() - started, len(attempts))
            raise
        cost = self.catalog.cost(spec, result.usage)
        await self.policy.settle(reservation, result.usage, cost)
        latency = perf_counter() - started
        self._records.success(spec, spec, call, result.usage, cost, latency, attempts)
        return Embeddings(result.vectors, result.usage, cost, spec.name, spec.provider, attempts, latency)

    # --- plan ----------------------------------------------------------------------------

    def _candidate_specs(self, spec: ModelSpec, call: _Call, *, stream: bool) -> list[ModelSpec]:
        names = spec.fallbacks if call.fallbacks is None else call.fallbacks
        if not names:
            return [spec]
        specs = [spec]
        for name in names:
            fallback = self.catalog.resolve(name)
            if fallback in specs:
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
            specs.append(fallback)
        return specs

    def _candidate(self, holds: CallHolds, index: int) -> Candidate[Any]:
        spec, request = holds.specs[index], holds.requests[index]
        client = self.providers.get(spec.provider)
        guard = self.guards.get(spec.provider)
        tracing = self._tracing
        if tracing is None:
            return Candidate(spec.name, guard, lambda: client.complete(request), **self._hooks(holds, index))

        async def traced_attempt() -> Any:  # one span per try, retries included
            with tracing.span(f"attempt {spec.name}", attempt_attributes(spec)):
                return await client.complete(request)

        return Candidate(spec.name, guard, traced_attempt, **self._hooks(holds, index))

    def _stream_candidate(self, holds: CallHolds, index: int) -> StreamCandidate[Any]:
        spec, request = holds.specs[index], holds.requests[index]
        client = self.providers.get(spec.provider)
        return StreamCandidate(
            spec.name, self.guards.get(spec.provider), lambda: client.stream(request), **self._hooks(holds, index)
        )

    async def _within(self, timeout: float | None, spec: ModelSpec, awaitable: Any) -> Any:
        seconds = deadline_seconds(timeout)
        if seconds is None:
            return await awaitable
        try:
            async with asyncio.timeout(seconds):
                return await awaitable
        except TimeoutError as err:
            raise call_timeout(spec, timeout) from err


def _merged(params: Mapping[str, Any] | None, model_params: dict[str, Any]) -> dict[str, Any]:
    """Model parameters given as a mapping and as keywords; the keywords win."""
    if not params:
        return model_params
    return {**params, **model_params}
