"""What every model call leaves behind: metrics, a usage-ledger row and one log line."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agentrt.calls._call import _Call
from agentrt.errors import PolicyError
from agentrt.store.ledger import UsageRecord
from agentrt.types import Usage

if TYPE_CHECKING:
    from agentrt.models import ModelSpec
    from agentrt.observability import CallMetrics
    from agentrt.store.ledger import UsageLedger
    from agentrt.types import Attempt

__all__ = ["CallRecords"]


class CallRecords:
    """Records each call's outcome; all of it in memory or handed to a writer, none of it I/O."""

    def __init__(self, metrics: CallMetrics | None, ledger: UsageLedger | None, log: Any) -> None:
        self._metrics = metrics
        self._ledger = ledger
        self._log = log

    def success(
        self,
        requested: ModelSpec,
        served: ModelSpec,
        call: _Call,
        usage: Usage,
        cost: float | None,
        latency: float,
        attempts: list[Attempt],
    ) -> None:
        self._charged(served, call, usage, cost, latency, len(attempts), "ok", "model_call")
        metrics = self._metrics
        if metrics is not None and len(attempts) > 1:
            for attempt in attempts:
                if attempt.error is not None:
                    metrics.record_failed_attempt(model=attempt.model, provider=attempt.provider)
            if served is not requested:
                metrics.record_fallback(requested=requested.name, served=served.name)

    def failure(
        self,
        spec: ModelSpec,
        call: _Call,
        err: BaseException,
        latency: float,
        attempts: int,
        usage: Usage | None = None,
        cost: float | None = None,
    ) -> None:
        """A failed call; ``usage`` and ``cost`` when it was charged for output delivered before it failed."""
        if isinstance(err, GeneratorExit | asyncio.CancelledError | PolicyError):
            return  # not a call's failure: a refusal has its audit row, as when no fallback was in play
        outcome = type(err).__name__
        if usage is not None:  # charged: its tokens count in the metrics, as in the ledger and the budget
            self._charged(spec, call, usage, cost, latency, attempts, outcome)
        else:
            if self._metrics is not None:
                self._metrics.record_failure(
                    model=spec.name,
                    provider=spec.provider,
                    operation=call.operation,
                    error_type=outcome,
                    latency=latency,
                )
            if self._ledger is not None:
                self._ledger.record(_row(spec, call, Usage(), None, latency, attempts, outcome))
        self._log.warning(
            "model_call_failed",
            request_id=call.request_id,
            model=spec.name,
            provider=spec.provider,
            operation=call.operation,
            error_type=outcome,
            error=str(err),
            latency_ms=round(latency * 1000, 3),
        )

    def abandoned(
        self,
        requested: ModelSpec,
        served: ModelSpec,
        call: _Call,
        usage: Usage,
        cost: float | None,
        latency: float,
        attempts: list[Attempt],
    ) -> None:
        """A stream its reader left early: charged for what it delivered, its ledger row marked ``cancelled``."""
        self._charged(served, call, usage, cost, latency, len(attempts), "cancelled", "model_call_abandoned")

    def cached(self, spec: ModelSpec, call: _Call, latency: float) -> None:
        """A call served from the response cache: no tokens, $0, its ledger row marked ``cached``."""
        usage = Usage()
        if self._metrics is not None:
            self._metrics.record_success(
                model=spec.name,
                provider=spec.provider,
                operation=call.operation,
                input_tokens=0,
                output_tokens=0,
                cost=0.0,
                latency=latency,
                outcome="cached",
            )
        if self._ledger is not None:
            row = _row(spec, call, usage, 0.0, latency, 0, "ok")
            row.cached, row.deployment = True, None  # no deployment served it
            self._ledger.record(row)
        self._log.info(
            "model_call_cached",
            request_id=call.request_id,
            model=spec.name,
            operation=call.operation,
            user=call.principal.user,
            tenant=call.principal.tenant,
            latency_ms=round(latency * 1000, 3),
        )

    def _charged(
        self,
        served: ModelSpec,
        call: _Call,
        usage: Usage,
        cost: float | None,
        latency: float,
        attempts: int,
        outcome: str,
        log_event: str | None = None,
    ) -> None:
        """A call that used tokens: the metrics and the ledger count them alike, whatever its outcome;
        ``log_event`` names its log line (a failure logs its own)."""
        if self._metrics is not None:
            self._metrics.record_success(
                model=served.name,
                provider=served.provider,
                operation=call.operation,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost=cost,
                latency=latency,
                outcome=outcome,
            )
        if self._ledger is not None:
            self._ledger.record(_row(served, call, usage, cost, latency, attempts, outcome))
        if log_event is not None:
            self._log.info(
                log_event,
                request_id=call.request_id,
                model=served.name,
                provider=served.provider,
                operation=call.operation,
                user=call.principal.user,
                tenant=call.principal.tenant,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost=cost,
                latency_ms=round(latency * 1000, 3),
                attempts=attempts,
            )


def _row(
    spec: ModelSpec, call: _Call, usage: Usage, cost: float | None, latency: float, attempts: int, outcome: str
) -> UsageRecord:
    return UsageRecord(
        request_id=call.request_id,
        user=call.principal.user,
        tenant=call.principal.tenant,
        api_key=call.principal.api_key,
        model=spec.name,
        provider=spec.provider,
        operation=call.operation,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cost=cost,
        latency=latency,
        outcome=outcome,
        attempts=attempts,
        deployment=spec.deployment.label if spec.deployment is not None else None,
    )
