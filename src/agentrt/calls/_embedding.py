"""Embeddings: one model, no fallback (vectors of two models do not compare), admitted and recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Any

from agentrt.calls._call import call_settings
from agentrt.calls._plan import PlannedCalls
from agentrt.calls.policy_hook import Admission
from agentrt.calls.principal import Principal
from agentrt.models import check_request, estimate_tokens, input_token_bound
from agentrt.resilience import Candidate, run_plan
from agentrt.types import Attempt, EmbeddingRequest, Embeddings, Message

__all__ = ["EmbeddingCalls"]


class EmbeddingCalls(PlannedCalls):
    """``embed``: the part of the pipeline that turns texts into vectors."""

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


def _merged(params: Mapping[str, Any] | None, model_params: dict[str, Any]) -> dict[str, Any]:
    """Model parameters given as a mapping and as keywords; the keywords win."""
    if not params:
        return model_params
    return {**params, **model_params}
