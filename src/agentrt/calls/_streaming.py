"""Streams: ``rt.stream``, its tool loop, and one streamed model call from admission to ``Completed``.

A fallback (or the next deployment) may serve the call before the first event,
never after. A stream served from the response cache replays the stored events;
a stream is stored only when it completed (never one left early, failed, or cut
at the output cap).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentrt.calls._cached import replay_cached
from agentrt.calls._call import _Call, call_settings
from agentrt.calls._deadline import call_timeout, deadline_seconds
from agentrt.calls._messages import Prompt, to_messages
from agentrt.calls._plan import PlannedCalls
from agentrt.calls._span_attributes import request_attributes, response_attributes
from agentrt.calls._stream_step import OpenStream, read_stream
from agentrt.calls._tool_selection import ToolsArg, resolve_tools
from agentrt.calls._tooling import run_tool_calls
from agentrt.calls.principal import Principal, request_id
from agentrt.errors import ToolError
from agentrt.resilience import stream_plan
from agentrt.types import (
    Attempt,
    Completed,
    Completion,
    Message,
    ResponseFormat,
    StreamEvent,
    Usage,
)

if TYPE_CHECKING:
    from agentrt.cache import CachePlan

__all__ = ["StreamingCalls"]


class StreamingCalls(PlannedCalls):
    """``stream``: the part of the pipeline that delivers a call as events."""

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
        cache: bool | str | None = None,
        cache_ttl: float | None = None,
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
        ``cache`` is as for :meth:`generate`; a hit replays the stored events.
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
            cache,
            cache_ttl,
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
        cache: bool | str | None,
        cache_ttl: float | None,
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
            cache=cache,
            cache_ttl=cache_ttl,
        )
        if current_request_id is not None:
            call.request_id = current_request_id
        toolset, call.tool_specs = resolve_tools(tools, self.tool_registry)
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
            messages.extend(
                await run_tool_calls(toolset, completion.tool_calls, self._log, self._tracing, self.tool_governor, call)
            )
        raise ToolError(
            f"the model {model!r} still asked for tools after max_steps={max_steps} model calls; "
            "raise max_steps, or check that the tools' answers let the model finish"
        )

    async def _stream_step(self, model: str, messages: list[Message], call: _Call) -> AsyncGenerator[StreamEvent, None]:
        if self._tracing is None:
            async with aclosing(self._stream_step_cached(model, messages, call)) as untraced:
                async for event in untraced:
                    yield event
            return
        # The span is not made current: a context attached in an async generator would be
        # detached in another context when the consumer stops early.
        with self._tracing.span(f"chat {model}", request_attributes("chat", model, call), current=False) as span:
            async with aclosing(self._stream_step_cached(model, messages, call)) as step:
                async for event in step:
                    if span is not None and isinstance(event, Completed):
                        span.set_attributes(response_attributes(event.completion))
                        call.parent_span = span
                    yield event

    async def _stream_step_cached(
        self, model: str, messages: list[Message], call: _Call
    ) -> AsyncGenerator[StreamEvent, None]:
        """One streamed model call, from the cache when it has the answer; stored there when it completes."""
        cache = self.cache
        plan: CachePlan | None = None
        if cache is not None and cache.consulted(call):
            spec = self.catalog.resolve(model)
            plan = cache.plan(spec, messages, call)
            if plan is not None and plan.read:
                answer = await cache.get(plan)
                if answer is not None:
                    async with aclosing(replay_cached(self.policy, self._records, spec, messages, call, answer)) as hit:
                        async for event in hit:
                            yield event
                    return
        if cache is None or plan is None:
            async with aclosing(self._stream_step_untraced(model, messages, call)) as step:
                async for event in step:
                    yield event
            return
        events: list[StreamEvent] = []
        async with aclosing(self._stream_step_untraced(model, messages, call)) as step:
            async for event in step:
                if isinstance(event, Completed):
                    await cache.put(plan, event.completion, events)
                else:
                    events.append(event)
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
                candidates = self._stream_candidates(holds)
                try:
                    async with asyncio.timeout_at(deadline):  # one deadline: the opening and every event after
                        events, index = await stream_plan(candidates, attempts=attempts, request_id=call.request_id)
                except TimeoutError as err:
                    raise call_timeout(spec, call.timeout) from err
            except BaseException as err:
                await holds.release_all()
                self._records.failure(spec, call, err, perf_counter() - started, len(attempts))
                raise
            step = OpenStream(holds, index, call, attempts, started, holds.request(index).max_output_tokens)
            self._open_streams.add(step)
        finally:
            self._in_flight.leave()
        async with aclosing(read_stream(self.catalog, self._records, self._log, step, events, deadline)) as delivered:
            async for event in delivered:
                yield event
