"""What a budget has left for one call: the output that still fits, and refusals that say how to fit.

A call holds its input estimate plus its maximum output. When a budget cannot
hold that, two things help the caller: knowing the largest maximum output that
fits (``max_output_tokens``), and knowing whether waiting can help at all (a
request bigger than the whole budget never fits, whatever the period). With
``clip_output`` the engine itself lowers the call's output to what fits.
"""

from __future__ import annotations

from datetime import datetime

from agentrt.models import Price
from agentrt.policy.budgets import Budget
from agentrt.policy.reservation import cost_units_ceil, usd
from agentrt.types import Usage

__all__ = ["BudgetRefusal", "output_that_fits"]

_NO_OUTPUT_LIMIT = 1 << 40  # an output price of 0: the cost budget puts no bound on the output


def output_that_fits(budget: Budget, used: tuple[int, int], input_tokens: int, price: Price | None) -> int:
    """The largest output (tokens) a call of ``input_tokens`` may hold on ``budget`` beside ``used``.

    ``used`` is the (tokens, cost units) the counter already holds, used plus
    reserved; (0, 0) asks what fits an empty budget. Below 1 nothing fits (the
    input alone, or with one token of output, is too much).
    """
    fits = _NO_OUTPUT_LIMIT
    if budget.max_tokens is not None:
        fits = budget.max_tokens - used[0] - input_tokens
    if budget.max_cost is not None and price is not None:
        left = budget.max_cost - used[1]
        per_token = price.output * 1000.0  # cost units (nano-USD) per output token, at USD per million
        base = cost_units_ceil(price.cost(Usage(input_tokens, 0)))
        candidate = _NO_OUTPUT_LIMIT if per_token <= 0 else int((left - base) // per_token)
        # The reservation rounds its cost up: step down until the rounded cost fits too.
        while 0 < candidate < _NO_OUTPUT_LIMIT and cost_units_ceil(price.cost(Usage(input_tokens, candidate))) > left:
            candidate -= 1
        fits = min(fits, candidate if base <= left else -1)
    return fits


class BudgetRefusal:
    """The message and the reset time of a budget's refusal of one reservation."""

    __slots__ = ("message", "resets_at")

    def __init__(
        self,
        budget: Budget,
        scope: str,
        kind: str,
        used: int,
        reserved: int,
        request: tuple[int, int],
        input_tokens: int,
        price: Price | None,
        resets_at: datetime | None,
    ) -> None:
        tokens, cost = request
        if kind == "tokens":
            amounts = (
                f"{used} tokens used + {reserved} reserved + {tokens} for this request "
                f"would exceed max_tokens={budget.max_tokens}"
            )
            never = budget.max_tokens is not None and tokens > budget.max_tokens
        else:
            amounts = (
                f"${usd(used):.6f} used + ${usd(reserved):.6f} reserved + "
                f"${usd(cost):.6f} for this request would exceed max_cost=${budget.max_cost_usd:g}"
            )
            never = budget.max_cost is not None and cost > budget.max_cost
        held = (used + reserved, 0) if kind == "tokens" else (0, used + reserved)
        fits_now = output_that_fits(budget, held, input_tokens, price)
        fits_empty = output_that_fits(budget, (0, 0), input_tokens, price)
        if never:
            # Waiting for the next period cannot help: say so, and give no reset time to wait for.
            resets_at = None
            amounts += "; the request alone is more than the whole budget, so it can never be admitted as is"
        if fits_empty < 1:
            hint = "the input alone does not fit the budget: send less input"
        elif fits_now >= 1:
            hint = f"pass max_output_tokens (or max_tokens) of at most {fits_now}, or set clip_output: true on it"
        else:
            hint = f"pass max_output_tokens (or max_tokens) of at most {fits_empty} once it resets"
        if resets_at is not None:
            when = f"it resets at {resets_at.isoformat()}"
        elif never or budget.period != "total":
            when = "waiting will not help"
        else:
            when = "it never resets: raise it to go on"
        self.message = f"budget {budget.label} for {scope}: {amounts}; {hint}; {when}"
        self.resets_at = resets_at
