"""Rate limits on every backend: exact sliding windows for rpm and tpm, scopes, filters, retry_after."""

from __future__ import annotations

import pytest
from policy_support import ALICE, BOB, CAROL, OTHER, PRICED, FakeClock, MakeEngine, ask, policies

from agentrt.calls.principal import Principal
from agentrt.errors import RateLimitExceeded
from agentrt.types import Usage


async def test_rpm_admits_exactly_the_limit_then_refuses_with_retry_after(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "rpm": 3}]))
    for _ in range(3):
        await engine.admit(ask())
        clock.advance(10)
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask())
    err = caught.value
    assert err.scope == "user=alice"
    assert err.limit == "user rpm=3"
    # The first request (30 s ago) leaves the window 30 s from now.
    assert err.retry_after == pytest.approx(30.0)
    assert "3 of 3 requests" in str(err)
    assert "retry in 30.00s" in str(err)


async def test_the_window_slides_rather_than_resetting_at_a_minute_boundary(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    engine = await make_engine(policies(limits=[{"scope": "global", "rpm": 2}]))
    await engine.admit(ask())  # t=0
    clock.advance(59)
    await engine.admit(ask())  # t=59
    clock.advance(0.5)
    with pytest.raises(RateLimitExceeded):  # a fixed window would have reset at t=60 (or earlier)
        await engine.admit(ask())
    clock.advance(0.5)  # t=60: the first request has left the window, exactly
    await engine.admit(ask())
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask())
    assert caught.value.retry_after == pytest.approx(59.0)  # the request at t=59 leaves at t=119


async def test_retry_after_is_when_the_request_really_fits(make_engine: MakeEngine, clock: FakeClock) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "rpm": 2}]))
    await engine.admit(ask())
    clock.advance(5)
    await engine.admit(ask())
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask())
    retry_after = caught.value.retry_after
    assert retry_after is not None
    clock.advance(retry_after - 0.001)
    with pytest.raises(RateLimitExceeded):
        await engine.admit(ask())
    clock.advance(0.001)
    await engine.admit(ask())


async def test_tpm_reserves_the_worst_case_and_settle_replaces_it(make_engine: MakeEngine, clock: FakeClock) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "tpm": 1000}]))
    first = await engine.admit(ask(input_tokens=100, max_output_tokens=500))  # holds 600
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(input_tokens=100, max_output_tokens=400))  # 600 + 500 > 1000
    assert "600 of 1000 tokens" in str(caught.value)
    await engine.settle(first, Usage(100, 50), 0.0)  # used 150: 850 left
    second = await engine.admit(ask(input_tokens=100, max_output_tokens=700))  # 150 + 800 = 950
    clock.advance(1)
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(input_tokens=10, max_output_tokens=50))
    # 150 (t=0) + 800 (t=0) + 60 > 1000: both entries must leave, at t=60.
    assert caught.value.retry_after == pytest.approx(59.0)
    await engine.release(second)  # a failed call gives its tokens back
    await engine.admit(ask(input_tokens=10, max_output_tokens=50))


async def test_tpm_counts_actual_usage_above_the_reservation(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "tpm": 1000}]))
    reservation = await engine.admit(ask(input_tokens=100, max_output_tokens=100))
    await engine.settle(reservation, Usage(300, 600), 0.0)  # the estimate was low: 900 used
    with pytest.raises(RateLimitExceeded):
        await engine.admit(ask(input_tokens=100, max_output_tokens=100))
    await engine.admit(ask(input_tokens=50, max_output_tokens=50))


async def test_a_request_larger_than_tpm_never_fits_and_says_so(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "tpm": 1000}]))
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(input_tokens=200, max_output_tokens=900))
    assert caught.value.retry_after is None
    assert "lower max_output_tokens" in str(caught.value)


async def test_a_released_request_still_counts_against_rpm(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "rpm": 1, "tpm": 1000}]))
    await engine.release(await engine.admit(ask()))
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask())
    assert "requests" in str(caught.value)


async def test_each_scope_key_has_its_own_window(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "rpm": 1}, {"scope": "tenant", "rpm": 2}]))
    await engine.admit(ask(ALICE))
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(ALICE))
    assert caught.value.limit == "user rpm=1"
    await engine.admit(ask(BOB))  # another user, same tenant acme: the tenant's second request
    await engine.admit(ask(CAROL))  # another tenant
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(Principal("dave", "acme")))
    assert (caught.value.limit, caught.value.scope) == ("tenant rpm=2", "tenant=acme")


async def test_principals_without_the_field_share_one_bucket(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "tenant", "rpm": 2}]))
    await engine.admit(ask(Principal("x")))
    await engine.admit(ask(Principal("y")))
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(Principal("z")))
    assert caught.value.scope == "tenant=-"
    await engine.admit(ask(Principal("z", "-")))  # a tenant literally named "-" is not the shared bucket


async def test_combined_scopes_count_per_combination(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "tenant+model", "rpm": 1}]))
    await engine.admit(ask(ALICE, PRICED))
    await engine.admit(ask(ALICE, OTHER))
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(BOB, PRICED))
    assert caught.value.scope == "tenant=acme|model=gpt-4o-mini"


async def test_limits_restricted_to_models_and_providers_apply_only_there(make_engine: MakeEngine) -> None:
    engine = await make_engine(
        policies(
            limits=[
                {"scope": "global", "models": ["gpt-*"], "rpm": 1},
                {"scope": "global", "providers": ["anthropic"], "rpm": 2},
            ]
        )
    )
    await engine.admit(ask(model=PRICED))
    with pytest.raises(RateLimitExceeded):
        await engine.admit(ask(model=PRICED))
    await engine.admit(ask(model=OTHER))
    await engine.admit(ask(model=OTHER))
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask(model=OTHER))
    assert caught.value.limit == "global rpm=2 providers=['anthropic']"


async def test_a_denied_request_holds_nothing_anywhere(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "rpm": 5}, {"scope": "global", "tpm": 300}]))
    await engine.admit(ask(input_tokens=100, max_output_tokens=100))
    with pytest.raises(RateLimitExceeded):  # the user's rpm passes, the global tpm does not
        await engine.admit(ask(input_tokens=100, max_output_tokens=100))
    explanation = await engine.explain(ALICE, PRICED)
    user_window = next(limit for limit in explanation.limits if limit.scope == "user")
    assert user_window.requests == 1


async def test_limits_of_equal_scope_and_filters_merge_into_one_window(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "rpm": 2}, {"scope": "user", "tpm": 10_000}]))
    await engine.admit(ask())
    await engine.admit(ask())  # logged once per request, not once per limit entry
    with pytest.raises(RateLimitExceeded) as caught:
        await engine.admit(ask())
    assert caught.value.limit == "user rpm=2 tpm=10000"


async def test_a_settle_after_its_request_left_the_window_changes_nothing_in_it(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    engine = await make_engine(policies(limits=[{"scope": "user", "tpm": 1000}]))
    slow = await engine.admit(ask(input_tokens=100, max_output_tokens=100))
    clock.advance(61)
    await engine.admit(ask(input_tokens=100, max_output_tokens=100))
    await engine.settle(slow, Usage(500, 500), 0.0)  # a call longer than the window: it counts no more
    await engine.admit(ask(input_tokens=400, max_output_tokens=400))  # 200 + 800 = 1000: fits exactly
