"""The attack on "a budget is never exceeded": random calls through the real pipeline against one budget.

A plain module (the test folders are not packages) shared by the property tests and the crash test's
worker. A runtime's providers point at a :class:`FakeUpstream` on loopback; every call is made as one
principal, so one budget (tokens, or cost) counts all of them. What the pipeline promises
(``src/agentrt/calls/pipeline.py``, "Output limits"), and so what is checked:

- the provider is told the output size the policy held, so usage stays within the hold;
- a stream whose output passes that size is cut and settled at it;
- the one exception: a non-streamed answer from an upstream that ignores the cap is settled at the
  provider's own count, which may pass the hold (by what it wrote beyond the cap it was sent);
- a stream left early (``break``, a cancelled task) is settled for what it delivered, marked ``cancelled``.

So the counters may pass the budget only by what non-streamed answers wrote beyond the cap they were
sent (:attr:`Account.allowed_tokens`), and never otherwise.
"""

from __future__ import annotations

import asyncio
import gc
import math
import sqlite3
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrt import Runtime
from agentrt.calls import Principal, request_id
from agentrt.errors import ModelError, PolicyError, ProviderError
from agentrt.policy import PolicyEngine
from agentrt.store import AuditTrail, UsageLedger
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import Completed, Completion, TextDelta

USER = "alice"
PRINCIPAL = Principal(USER)
MAX_TOKENS = 1200
MODEL_MAX_OUTPUT = 800  # solo's and primary's max_output_tokens: what a call that names no limit holds
MAX_COST_USD = 0.004
NANO = 1_000_000_000
RETRY_ATTEMPTS = 2  # per candidate: a scripted primary failure is sent this many times

# (input, output) USD per million tokens; "pricey" is the configured fallback of "primary".
PRICES = {"solo": (1.0, 2.0), "primary": (1.0, 2.0), "gem": (1.0, 2.0), "pricey": (5.0, 10.0)}
PROVIDER_MODELS = {"solo": "gpt-solo", "primary": "gpt-test", "gem": "gemini-test", "pricey": "claude-test"}
CALLED_MODELS = ("solo", "primary", "gem", "pricey")  # OpenAI, OpenAI falling back to Anthropic, Gemini, Anthropic

# Output bytes per token of the scripted upstream: English text. The pipeline cuts a stream once its output
# passes 8 bytes per token of its cap, and settles at the cap a stream the provider counts past it
# (calls/_stream_step.py), so denser tokens past the cap are caught too.
BYTES_PER_TOKEN = 4
# A clip_output budget lowers the hold of a call whose caller named a limit, and the provider is told the
# smaller of the two (calls/_candidates.py): the property tests combine clip_output with caller limits.
CLIP_TELLS_PROVIDER_WHEN_CALLER_NAMED_A_LIMIT = True


def runtime_config(
    up_urls: dict[str, str], folder: Path, backend: str, measure: str, *, clip: bool, key_prefix: str
) -> dict[str, Any]:
    """A runtime on ``folder``'s SQLite store, counting one user budget (``measure``: tokens or cost)."""
    retry = {"attempts": RETRY_ATTEMPTS, "backoff": "1ms", "max_backoff": "2ms"}
    breaker = {"failures": 10_000, "cooldown": "1s"}
    budget: dict[str, Any] = {"scope": "user", "period": "total", "clip_output": clip}
    if measure == "tokens":
        budget["max_tokens"] = MAX_TOKENS
    else:
        budget["max_cost"] = MAX_COST_USD
    return {
        "logging": {"level": "warning", "console": {"format": "off"}, "file": {"path": str(folder / "log.jsonl")}},
        "store": {"url": f"sqlite:///{folder / 'agentrt.db'}"},
        "providers": {
            "oai": {
                "kind": "openai",
                "api_key": "sk-test-key-0123456789",
                "base_url": up_urls["openai"],
                "timeout": "30s",
                "retry": retry,
                "breaker": breaker,
            },
            "gg": {
                "kind": "google",
                "api_key": "AIza-test-key-0123456789",
                "base_url": up_urls["google"],
                "timeout": "30s",
                "retry": retry,
                "breaker": breaker,
            },
            "ant": {
                "kind": "anthropic",
                "api_key": "sk-ant-test-key-0123456789",
                "base_url": up_urls["anthropic"],
                "timeout": "30s",
                "retry": retry,
                "breaker": breaker,
            },
        },
        "models": {
            "solo": {
                "provider": "oai",
                "name": "gpt-solo",
                "pricing": _price("solo"),
                "max_output_tokens": MODEL_MAX_OUTPUT,
            },
            "primary": {
                "provider": "oai",
                "name": "gpt-test",
                "pricing": _price("primary"),
                "max_output_tokens": MODEL_MAX_OUTPUT,
                "fallbacks": ["pricey"],
            },
            "gem": {
                "provider": "gg",
                "name": "gemini-test",
                "pricing": _price("gem"),
                "max_output_tokens": MODEL_MAX_OUTPUT,
            },
            "pricey": {"provider": "ant", "name": "claude-test", "pricing": _price("pricey")},
        },
        "policies": {"backend": backend, "key_prefix": key_prefix, "budgets": [budget]},
        "observability": {"monitor": {"enabled": False}},
    }


def _price(model: str) -> dict[str, float]:
    input_price, output_price = PRICES[model]
    return {"input": input_price, "output": output_price}


def upstream_urls(up: FakeUpstream) -> dict[str, str]:
    return {"openai": up.openai_base_url, "anthropic": up.anthropic_base_url, "google": up.google_base_url}


# --- one call ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallOp:
    """One call: how it is made, how the caller limits it, what the upstream does, how it is left."""

    stream: bool
    model: str  # one of CALLED_MODELS; "primary" falls back to "pricey"
    primary_fails: int | None  # 503 or 429 for every try of "primary": the fallback serves
    limit: tuple[str, int]  # (how the caller names it, value); ("none", 0): no limit named
    reply_ratio: float  # how much the upstream writes, as a multiple of the limit the caller named (see reply_for)
    leave: tuple[str, int] | None  # ("break" | "cancel", after k text deltas); streams only


NAMED_LIMITS = ("max_output_tokens", "max_tokens", "params_max_completion_tokens")
"""The ways a caller names an output limit (``params_generation_config`` is a provider's own parameter)."""


def call_options(limit: tuple[str, int]) -> dict[str, Any]:
    style, value = limit
    if style == "max_output_tokens":
        return {"max_output_tokens": value}
    if style == "max_tokens":
        return {"max_tokens": value}
    if style == "params_max_completion_tokens":
        return {"params": {"max_completion_tokens": value}}
    if style == "params_generation_config":  # Gemini's own spelling: must not lift the cap; OpenAI refuses it
        return {"params": {"generationConfig": {"maxOutputTokens": value}}}
    return {}


UNNAMED_LIMIT_SCALE = MODEL_MAX_OUTPUT  # what reply_ratio multiplies when the caller named no usable limit


def reply_bytes(op: CallOp) -> int:
    """The output bytes the upstream writes, whatever cap it was sent: ``reply_ratio`` times the caller's
    limit (or UNNAMED_LIMIT_SCALE tokens), so that some answers land just past the cap and some far past it."""
    style, value = op.limit
    scale = value if style in NAMED_LIMITS else 0
    if not 0 < scale <= 4000:
        scale = UNNAMED_LIMIT_SCALE
    return max(1, round(op.reply_ratio * scale * BYTES_PER_TOKEN))


def reply_for(op: CallOp) -> Reply:
    """What the upstream writes: ``reply_bytes(op)`` of text, counted at BYTES_PER_TOKEN."""
    size = reply_bytes(op)
    output_tokens = math.ceil(size / BYTES_PER_TOKEN)
    # One input token: under any input bound, so only the output can pass a hold.
    return Reply(text="x" * size, usage=(1, output_tokens), chunk_size=16)


@dataclass
class Outcome:
    """What one call did, as seen by its caller."""

    request_id: str
    result: str  # "ok", "cancelled" or the error's class name
    completion: Completion | None = None
    cap_sent: int | None = None  # the output limit the serving candidate's request carried
    served: str | None = None


def _cap_in(body: Any) -> int | None:
    """The output limit a request body carries (OpenAI, Anthropic or Gemini)."""
    if not isinstance(body, dict):
        return None
    generation = body.get("generationConfig")
    if isinstance(generation, dict) and isinstance(generation.get("maxOutputTokens"), int):
        return int(generation["maxOutputTokens"])
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int):
            return value
    return None


async def run_call(rt: Runtime, up: FakeUpstream, op: CallOp, rid: str) -> Outcome:
    """Make the call ``op`` as request ``rid`` and report what it did."""
    up.reset()
    if op.model == "primary" and op.primary_fails is not None:
        up.script(Fault(status=op.primary_fails, times=RETRY_ATTEMPTS), model=PROVIDER_MODELS["primary"])
    up.script(reply_for(op))
    token = request_id.set(rid)
    try:
        outcome = await _call(rt, op, rid)
    except (PolicyError, ProviderError, ModelError) as err:  # what a caller meets; anything else fails the test
        outcome = Outcome(rid, type(err).__name__)
    finally:
        request_id.reset(token)
    if outcome.completion is not None:
        served = PROVIDER_MODELS[outcome.completion.model]
        answered = [r for r in up.requests if r.model == served and r.rejection is None]
        outcome.served = outcome.completion.model
        outcome.cap_sent = _cap_in(answered[-1].body) if answered else None
    return outcome


async def run_burst(rt: Runtime, up: FakeUpstream, op: CallOp, rids: list[str]) -> list[Outcome]:
    """Make the stream ``op`` as every request of ``rids`` at once: admissions race for the same budget.

    Only streams: every stream must stay within its cap, so no allowance depends on which reply served
    which call (with concurrent calls the fake's replies and requests no longer pair up).
    """
    assert op.stream
    up.reset()
    if op.model == "primary" and op.primary_fails is not None:
        up.script(Fault(status=op.primary_fails, times=RETRY_ATTEMPTS * len(rids)), model=PROVIDER_MODELS["primary"])
    up.script(*[reply_for(op) for _ in rids])

    async def one(rid: str) -> Outcome:
        request_id.set(rid)  # each task runs in its own copy of the context
        try:
            return await _call(rt, op, rid)
        except (PolicyError, ProviderError, ModelError) as err:
            return Outcome(rid, type(err).__name__)

    outcomes = await asyncio.gather(*(one(rid) for rid in rids))
    caps = [cap for cap in (_cap_in(r.body) for r in up.requests if r.rejection is None) if cap is not None]
    for outcome in outcomes:
        if outcome.completion is not None:
            outcome.served = outcome.completion.model
            outcome.cap_sent = max(caps)  # the largest sent: a weaker check than a single call's
    return list(outcomes)


async def _call(rt: Runtime, op: CallOp, rid: str) -> Outcome:
    options = call_options(op.limit)
    if not op.stream:
        completion = await rt.generate(op.model, "count the sheep", user=USER, **options)
        return Outcome(rid, "ok", completion)
    events = rt.stream(op.model, "count the sheep", user=USER, **options)
    if op.leave is None:
        async with asyncio.timeout(20):
            final = [e async for e in events][-1]
        assert isinstance(final, Completed)
        return Outcome(rid, "ok", final.completion)
    how, after = op.leave
    if how == "break":
        deltas = 0
        async for event in events:
            if isinstance(event, Completed):
                return Outcome(rid, "ok", event.completion)
            deltas += isinstance(event, TextDelta)
            if deltas > after:
                break  # no aclose(): the event loop finalises the abandoned generator
        del events
        return Outcome(rid, "cancelled")
    return await _cancel_after(events, after, rid)


async def _cancel_after(events: Any, after: int, rid: str) -> Outcome:
    """Read ``after`` + 1 text deltas in a task, then cancel it (as a server does when its client leaves)."""
    enough = asyncio.Event()
    finished: list[Completion] = []

    async def read() -> None:
        deltas = 0
        async for event in events:
            if isinstance(event, Completed):
                finished.append(event.completion)
                return
            deltas += isinstance(event, TextDelta)
            if deltas > after:
                enough.set()
                await asyncio.sleep(3600)

    task = asyncio.create_task(read())
    waiter = asyncio.create_task(enough.wait())
    await asyncio.wait([task, waiter], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # a call that failed raises here, as it would to its caller
        return Outcome(rid, "ok", finished[0]) if finished else Outcome(rid, "cancelled")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return Outcome(rid, "cancelled")


# --- the account ---------------------------------------------------------------------------

REFUSALS = {"BudgetExceeded", "PolicyDenied", "RateLimitExceeded"}


@dataclass
class Account:
    """What the test allows the counters to hold beyond the budget: the documented exception only."""

    measure: str
    allowed_tokens: int = 0
    allowed_cost_units: int = 0
    calls: int = 0
    outcomes: Tally[str] = field(default_factory=Tally)
    worst_excess: int = -(10**12)  # the most the counters ever passed the budget by, beyond what is allowed
    # Per completed call, the audit rows it must have: (allow, deny), one per candidate the policy was asked about.
    audit_rows: dict[str, tuple[int, int]] = field(default_factory=dict)

    def record(self, outcome: Outcome, stream: bool, *, fallbacks: bool = True) -> None:
        """Count a call; ``fallbacks=False``: it had one candidate, so a refusal is exactly one deny row."""
        self.calls += 1
        self.outcomes[outcome.result] += 1
        completion = outcome.completion
        if completion is None:
            if outcome.result in REFUSALS and not fallbacks:
                self.audit_rows[outcome.request_id] = (0, 1)
            elif outcome.result == "CapabilityError":  # refused by the model's own limits, before the policy
                self.audit_rows[outcome.request_id] = (0, 0)
            return
        refused = [a for a in completion.attempts if a.error_type in REFUSALS]
        admitted = {a.model for a in completion.attempts if a.error_type not in REFUSALS}
        self.audit_rows[outcome.request_id] = (len(admitted), len(refused))
        assert outcome.cap_sent is not None, (
            f"{outcome.request_id}: the provider was not told an output limit, so no hold can bound the call"
        )
        beyond = completion.usage.output_tokens - outcome.cap_sent
        if stream:
            assert beyond <= 0, (
                f"{outcome.request_id}: a stream settled {completion.usage.output_tokens} output tokens, past "
                f"the cap of {outcome.cap_sent} it was sent; it must be cut there"
            )
        elif beyond > 0:  # the documented exception: a whole answer past its cap is settled at the provider's count
            assert outcome.served is not None
            self.allowed_tokens += beyond
            self.allowed_cost_units += math.ceil(beyond * PRICES[outcome.served][1] * 1000)  # nano-USD per token

    def check(self, used_tokens: int, used_cost: float, reserved_tokens: int, reserved_cost: float) -> None:
        if self.measure == "tokens":
            excess = used_tokens + reserved_tokens - MAX_TOKENS - self.allowed_tokens
        else:
            # A nano-dollar of rounding per call is the counters' resolution, not an overspend.
            units = round((used_cost + reserved_cost) * NANO)
            excess = units - round(MAX_COST_USD * NANO) - self.allowed_cost_units - self.calls
        self.worst_excess = max(self.worst_excess, excess)
        assert excess <= 0, (
            f"the budget was exceeded: {used_tokens} tokens / ${used_cost:.9f} used and {reserved_tokens} tokens / "
            f"${reserved_cost:.9f} held, beyond the budget and the documented exception ({self.allowed_tokens} "
            f"tokens, {self.allowed_cost_units} nano-USD) by {excess} {self.measure}"
        )


async def counters(rt: Runtime, *, settle_wait: float = 5.0) -> tuple[int, float, int, float]:
    """The budget's (used tokens, used cost, reserved tokens, reserved cost), once no call holds any of it.

    A stream left with ``break`` or by a cancelled task is settled when the event loop finalises its
    generator: at once, or at the next garbage collection when a traceback keeps it in a reference cycle
    (a busy process collects often; an idle test would wait for ever, so it collects here).
    """
    engine = rt.calls.policy
    assert isinstance(engine, PolicyEngine)
    spec = rt.models.resolve("solo")
    deadline = asyncio.get_running_loop().time() + settle_wait
    while True:
        flush = getattr(engine.backend, "flush", None)
        if flush is not None:
            await flush()
        (budget,) = (await engine.explain(PRINCIPAL, spec)).budgets
        if (budget.reserved_tokens == 0 and budget.reserved_cost == 0) or asyncio.get_running_loop().time() > deadline:
            return budget.used_tokens, budget.used_cost, budget.reserved_tokens, budget.reserved_cost
        gc.collect()
        await asyncio.sleep(0.01)


# --- ledger, counters and audit trail agree ------------------------------------------------


@dataclass
class Records:
    """The ledger's and the audit trail's rows, by request id."""

    ledger: dict[str, list[tuple[str, int, float]]]  # request id -> [(outcome, tokens, cost)]
    allowed: Tally[str]
    denied: Tally[str]

    def tokens(self, ids: set[str] | None = None) -> int:
        return sum(t for rid, rows in self.ledger.items() if ids is None or rid in ids for _, t, _ in rows)

    def cost(self, ids: set[str] | None = None) -> float:
        return sum(c for rid, rows in self.ledger.items() if ids is None or rid in ids for _, _, c in rows)

    def rows(self, ids: set[str] | None = None) -> int:
        return sum(len(rows) for rid, rows in self.ledger.items() if ids is None or rid in ids)


def read_records(db: Path) -> Records:
    with sqlite3.connect(db) as conn:
        ledger: dict[str, list[tuple[str, int, float]]] = {}
        for rid, outcome, tokens, cost in conn.execute(
            "SELECT request_id, outcome, input_tokens + output_tokens, COALESCE(cost, 0) FROM agentrt_usage"
        ):
            ledger.setdefault(rid, []).append((outcome, tokens, cost))
        allowed: Tally[str] = Tally()
        denied: Tally[str] = Tally()
        for rid, decision in conn.execute("SELECT request_id, decision FROM agentrt_audit"):
            (allowed if decision == "allow" else denied)[rid] += 1
    return Records(ledger, allowed, denied)


async def flush_records(rt: Runtime) -> None:
    await rt.services.get(UsageLedger).flush()
    await rt.services.get(AuditTrail).flush()


def check_records_agree(
    records: Records,
    used_tokens: int,
    used_cost: float,
    ids: set[str] | None = None,
    *,
    charged_ids: set[str] | None,
    unaudited_ok: frozenset[str] = frozenset(),
    unrecorded_ok: frozenset[str] = frozenset(),
    expected_audit: dict[str, tuple[int, int]] | None = None,
) -> None:
    """Ledger rows, counters and audit rows agree (over the request ids ``ids``, or all of them).

    - one ledger row per call at most; each call the policy allowed has exactly one;
    - a ledger row without an allow row is a refusal that charged nothing (``unaudited_ok``, and the
      calls in ``unrecorded_ok`` that may lack their ledger row: excused, see the crash test);
    - the ledger's tokens and cost are the counters' (``charged_ids``: calls whose tokens count here);
    - a call in ``expected_audit`` has exactly its (allow, deny) audit rows.
    """
    for rid, rows in records.ledger.items():
        if ids is not None and rid not in ids:
            continue
        assert rid is not None, "a ledger row has no request id: it cannot be joined to its audit row"
        assert len(rows) == 1, f"{rid}: {len(rows)} ledger rows for one call: {rows}"
        ((outcome, tokens, _),) = rows
        if records.allowed[rid] == 0 and rid not in unaudited_ok:
            assert outcome in REFUSALS, f"{rid}: a ledger row ({outcome}, {tokens}) with no allow row"
            assert tokens == 0, f"{rid}: a refusal ({outcome}) charged {tokens} tokens"
            assert records.denied[rid] > 0, f"{rid}: refused ({outcome}) with no deny row in the audit trail"
    for rid, (allow, deny) in (expected_audit or {}).items():
        if ids is None or rid in ids:
            assert (records.allowed[rid], records.denied[rid]) == (allow, deny), (
                f"{rid}: {records.allowed[rid]} allow and {records.denied[rid]} deny rows in the audit trail, "
                f"for a call whose attempts say {allow} candidates admitted and {deny} refused"
            )
    for rid in records.allowed:
        if (ids is None or rid in ids) and rid not in unrecorded_ok:
            assert rid in records.ledger, f"{rid}: allowed by the policy, but no ledger row"
    assert records.tokens(charged_ids) == used_tokens, (
        f"the ledger holds {records.tokens(charged_ids)} tokens, the counters {used_tokens}"
    )
    assert abs(records.cost(charged_ids) - used_cost) <= 1e-9 * max(records.rows(charged_ids), 1), (
        f"the ledger holds ${records.cost(charged_ids):.9f}, the counters ${used_cost:.9f}"
    )
