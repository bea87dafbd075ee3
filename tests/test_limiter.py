"""The limiter's arithmetic and queueing, on a virtual clock: exact, and no sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import subprocess
import sys

import pytest
from aiolimiter import AsyncLimiter
from storm import RULES as STORM_RULES
from storm import Storm
from virtual_time import run

from okx_async import LimitKey, MemoryLimiter, Outcome, RateLimit
from okx_async._window import SlidingWindow

RULE = RateLimit(5, 2.0)
KEY = LimitKey("42", "/api/v5/finance/flexible-loan/max-collateral-redeem-amount")
MARGIN = 0.02


def _max_in_window(times: list[float], window: float) -> int:
    """Most grants in any half-open window (t - window, t]."""
    return max(sum(1 for s in times if t - window < s <= t) for t in times)


# The pure arithmetic ------------------------------------------------------------


def test_first_five_go_at_once_and_sixth_waits_for_first_finish_plus_window() -> None:
    w = SlidingWindow(RULE, MARGIN)
    for _ in range(5):
        assert w.ready_at(0.0) == 0.0
        w.grant(0.0)
    assert w.ready_at(0.0) == math.inf  # all in flight: nothing known yet
    w.finish(0.3)
    assert w.ready_at(0.3) == pytest.approx(0.3 + 2.0 + MARGIN)
    assert w.ready_at(2.32) == pytest.approx(2.32)


def test_slots_free_one_by_one_in_finish_order() -> None:
    w = SlidingWindow(RULE, 0.0)
    for _ in range(5):
        w.grant(0.0)
    for t in (0.1, 0.2, 0.3, 0.4, 0.5):
        w.finish(t)
    assert w.ready_at(1.0) == pytest.approx(2.1)
    assert w.grant(2.1) is False  # every sliding-window counter accepts one refill
    assert w.ready_at(2.1) == pytest.approx(2.2)
    assert w.grant(2.2) is True  # but some would refuse a second: it probes the server
    # The rest wait for the probe's answer, or an even pace if that comes first.
    assert w.ready_at(2.2) == pytest.approx(2.2 + 2.0 / 5)
    w.finish(2.25, probe=True, accepted=True, granted_at=2.2)
    assert w.ready_at(2.25) == pytest.approx(2.3)  # answered: the next slot to cool


def test_a_rejected_probe_leaves_bursts_unconfirmed() -> None:
    w = SlidingWindow(RateLimit(1, 1.0), 0.0)
    assert w.grant(0.0) is False
    w.finish(0.0)
    assert w.grant(1.0) is True
    w.finish(1.0, probe=True, accepted=False)
    assert w.grant(2.0) is True  # the next reuse probes again


def test_even_pacing_needs_no_probe() -> None:
    w = SlidingWindow(RateLimit(1, 1.0), 0.0)
    w.grant(0.0)
    w.finish(0.0)
    w.pace_evenly()
    assert w.grant(1.0) is False


def test_given_back_slot_is_free_at_once() -> None:
    w = SlidingWindow(RateLimit(1, 2.0), MARGIN)
    w.grant(0.0)
    w.give_back()
    assert w.ready_at(0.0) == 0.0


def test_giving_back_an_older_grant_keeps_the_spacing_of_the_later_one() -> None:
    w = SlidingWindow(RULE, 0.0)
    w.pace_evenly()
    w.grant(0.0)
    w.grant(0.4)
    # The first one's waiter was cancelled before its own thread woke it.
    w.give_back(granted_at=0.0)
    assert w.ready_at(0.4) == pytest.approx(0.8)


def test_pause_holds_every_grant_for_a_window() -> None:
    w = SlidingWindow(RULE, MARGIN)
    w.pause(1.0)
    assert w.ready_at(1.0) == pytest.approx(3.0 + MARGIN)


def test_even_pacing_spaces_grants() -> None:
    w = SlidingWindow(RULE, MARGIN)
    w.pace_evenly()
    w.grant(0.0)
    assert w.ready_at(0.0) == pytest.approx((2.0 + MARGIN) / 5)


# The async bucket on a virtual clock ------------------------------------------------


async def _fan_out(
    limiter: MemoryLimiter, n: int, rtt: float, rule: RateLimit = RULE
) -> list[float]:
    """Run ``n`` requests of ``rtt`` seconds each; return when each was granted."""
    loop = asyncio.get_running_loop()
    grants: list[float] = []

    async def one() -> None:
        permit = limiter.slot(KEY, rule)
        async with permit:
            grants.append(loop.time())
            await asyncio.sleep(rtt)
            permit.finish(Outcome.ACCEPTED)

    await asyncio.gather(*(one() for _ in range(n)))
    return grants


def test_twelve_requests_follow_the_schedule_exactly() -> None:
    grants = run(_fan_out(MemoryLimiter(margin=MARGIN), 12, rtt=0.1))
    cool = 2.0 + MARGIN  # a slot comes back a window after its answer
    # Every sliding-window counter accepts the first refilled request; some would
    # refuse the second, which goes as the probe. The next ones that some counter
    # could still refuse wait for the answer before them.
    refill = [0.1 + cool, 0.1 + cool, 0.2 + cool, 0.3 + cool, 0.4 + cool]
    # Answers to requests sent after the first answer came back measure the path:
    # from then on a slot cools 3/4 of the fastest round trip earlier. By then the
    # answers ruled out every counter, so refilled slots go together.
    credit = 0.75 * 0.1
    later = [refill[0] + 0.1 + cool - credit] * 2
    assert grants == pytest.approx([0.0] * 5 + refill + later)


def test_schedule_never_exceeds_the_rule_in_any_window() -> None:
    grants = run(_fan_out(MemoryLimiter(margin=MARGIN), 31, rtt=0.05))
    assert _max_in_window(grants, RULE.window) <= RULE.requests
    least = (31 - 1) // 5 * RULE.window
    # Each window costs one round trip and the margin, less the round-trip credit
    # once the path was measured. The probes delay only the four slots spaced behind
    # the first, not the first grant of each later window.
    assert grants[-1] == pytest.approx(least + 6 * (0.05 + MARGIN) - 5 * 0.75 * 0.05)


def test_the_round_trip_credit_holds_the_rule_only_under_assumption_a() -> None:
    """3 per 1 s, every answer 62.5 ms after its grant; docs/limiter.md, assumption A."""
    rtt, rule = 0.0625, RateLimit(3, 1.0)
    grants = run(_fan_out(MemoryLimiter(margin=0.0), 9, rtt=rtt, rule=rule))
    # The first answers measure nothing (a connection may have been opened for them);
    # later slots cool 3/4 of the round trip before answer + window.
    credit = 0.75 * rtt
    assert grants == [0.0] * 3 + [1.0625, 1.0625, 1.125] + [2.125 - credit] * 2 + [2.140625]
    # So counting a slot from its grant until its answer plus the window, four are
    # held at 2.078125: the guarantee is about arrivals, not answers.
    held = sum(1 for g in grants[:7] if grants[6] < g + rtt + rule.window)
    assert held == 4

    def most_in_a_window(uplinks: tuple[float, ...]) -> int:
        arrivals = sorted(g + u for g, u in zip(grants, uplinks, strict=True))
        return _max_in_window(arrivals, rule.window)

    def worst(low: float, high: float) -> int:
        """Each request's trip there anywhere in [low, high], the rest of rtt back."""
        return max(most_in_a_window(u) for u in itertools.product((low, high), repeat=9))

    # Assumption A: the round trip is at most 4/3 of the path's fixed part, here
    # rtt <= 4/3 (least uplink + least downlink), so the uplinks spread over rtt / 4.
    for low in (0.0, rtt / 4, rtt / 2, 3 * rtt / 4):
        assert worst(low, low + rtt / 4) <= rule.requests
    # Spread wider than A allows, a request can arrive inside the window it left.
    assert worst(0.0, rtt / 2) > rule.requests


def test_waiters_are_served_first_in_first_out_and_newcomers_do_not_overtake() -> None:
    async def main() -> list[int]:
        limiter = MemoryLimiter(margin=0.0)
        order: list[int] = []

        async def one(i: int) -> None:
            async with limiter.slot(KEY, RateLimit(1, 1.0)):
                order.append(i)

        tasks = [asyncio.create_task(one(i)) for i in range(5)]
        await asyncio.sleep(1.5)  # 0 and 1 are through; 2 is next at t=2
        late = asyncio.create_task(one(99))
        await asyncio.gather(*tasks, late)
        return order

    assert run(main()) == [0, 1, 2, 3, 4, 99]


def test_cancelled_waiter_neither_blocks_others_nor_leaks_a_slot() -> None:
    async def main() -> tuple[list[float], int]:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        grants: list[float] = []

        async def one() -> None:
            async with limiter.slot(KEY, RateLimit(1, 1.0)):
                grants.append(loop.time())

        first, doomed, third = (asyncio.create_task(one()) for _ in range(3))
        await asyncio.sleep(0.5)
        doomed.cancel()
        await asyncio.gather(first, third)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        budget = limiter.budget(KEY)
        assert budget is not None
        return grants, budget.in_flight

    grants, in_flight = run(main())
    assert grants == pytest.approx([0.0, 1.0])  # the third took the cancelled one's turn
    assert in_flight == 0


def test_slot_granted_then_cancelled_before_use_is_given_back() -> None:
    async def main() -> float:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        rule = RateLimit(1, 1.0)
        async with limiter.slot(KEY, rule):
            pass
        waiter = asyncio.create_task(limiter.slot(KEY, rule).__aenter__())
        await asyncio.sleep(0)  # queued behind the cooling slot; the limiter's timer is armed
        # Due at the same moment as the limiter's timer, so it runs after the grant and
        # before the granted task resumes: the race this test is about.
        loop.call_at(1.0, waiter.cancel)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        async with limiter.slot(KEY, rule):
            return loop.time()

    assert run(main()) == pytest.approx(1.0)  # not held until 2.0


def test_cancelled_request_holds_its_slot_for_a_window_from_cancellation() -> None:
    async def main() -> float:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        rule = RateLimit(1, 1.0)

        async def hung() -> None:
            async with limiter.slot(KEY, rule):
                await asyncio.sleep(100)

        task = asyncio.create_task(hung())
        await asyncio.sleep(3.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with limiter.slot(KEY, rule):
            return loop.time()

    # It may have reached the server just before it was cancelled.
    assert run(main()) == pytest.approx(4.0)


def test_a_50011_pauses_everyone_then_paces_evenly() -> None:
    async def main() -> list[float]:
        limiter = MemoryLimiter(margin=MARGIN)
        permit = limiter.slot(KEY, RULE)
        async with permit:
            permit.finish(Outcome.THROTTLED)
        return await _fan_out(limiter, 6, rtt=0.0)

    grants = run(main())
    pace = (RULE.window + MARGIN) / RULE.requests
    start = RULE.window + MARGIN
    assert grants == pytest.approx([start + i * pace for i in range(6)])


def test_a_50011_stops_the_next_in_line_from_going_out() -> None:
    async def main() -> list[float]:
        limiter = MemoryLimiter(margin=MARGIN)
        loop = asyncio.get_running_loop()
        grants: list[float] = []

        async def one(i: int) -> None:
            permit = limiter.slot(KEY, RateLimit(1, 1.0))
            async with permit:
                grants.append(loop.time())
                permit.finish(Outcome.THROTTLED if i == 1 else Outcome.ACCEPTED)

        await asyncio.gather(*(one(i) for i in range(3)), return_exceptions=True)
        return grants

    # 0 at 0; 1 at 1.02 is rejected; 2 waits out the pause (and the pacing), not 1 window.
    grants = run(main())
    assert grants[2] - grants[1] == pytest.approx(1.0 + MARGIN)
    assert grants[2] - grants[1] >= 1.0


def test_budgets_are_per_user_and_endpoint() -> None:
    async def main() -> list[float]:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        grants: list[float] = []

        async def one(key: LimitKey) -> None:
            async with limiter.slot(key, RateLimit(1, 1.0)):
                grants.append(loop.time())

        keys = [KEY, LimitKey("43", KEY.endpoint), LimitKey("42", "/api/v5/account/config")]
        await asyncio.gather(*(one(k) for k in keys))
        return grants

    assert run(main()) == [0.0, 0.0, 0.0]


def test_idle_budgets_are_evicted_so_memory_stays_flat() -> None:
    async def main() -> int:
        limiter = MemoryLimiter(margin=0.0, max_idle=10)
        for user in range(100):
            async with limiter.slot(LimitKey(str(user), "/x"), RateLimit(5, 0.01)):
                pass
            await asyncio.sleep(0.02)
        return len(limiter._buckets)

    assert run(main()) <= 10


def test_aiolimiter_leaky_bucket_breaks_the_any_window_guarantee() -> None:
    """Why the limiter is not aiolimiter.AsyncLimiter(5, 2): see docs/dependencies.md."""

    async def main() -> list[float]:
        limiter = AsyncLimiter(5, 2.0)
        loop = asyncio.get_running_loop()
        grants: list[float] = []

        async def one() -> None:
            async with limiter:
                grants.append(loop.time())

        await asyncio.gather(*(one() for _ in range(20)))
        return grants

    grants = run(main())
    assert _max_in_window(grants, 2.0) > 5


# Rules, future completions and eviction, with explicit times --------------------------


def test_a_completion_in_the_future_keeps_the_cooling_times_in_order() -> None:
    w = SlidingWindow(RateLimit(2, 1.0), 0.0)
    w.grant(0.0)
    w.grant(0.0)
    w.finish(5.0)  # abandoned: it may arrive as late as 5.0
    w.finish(0.5)
    assert w.ready_at(0.5) == pytest.approx(1.5)  # the earlier end frees first
    assert not w.idle(5.9)
    assert w.idle(6.0)


def test_a_second_rule_governs_next_to_the_first_and_keeps_the_accounting() -> None:
    w = SlidingWindow(RateLimit(5, 2.0), 0.0)
    for _ in range(3):
        w.grant(0.0)
        w.finish(0.1)
    w.use(RateLimit(3, 1.0), 0.5)
    assert len(w.rules) == 2
    assert w.ready_at(0.5) == pytest.approx(1.1)  # the 3-per-1s rule is full until then
    w.use(RateLimit(5, 2.0), 1.1)
    assert w.ready_at(1.1) == pytest.approx(1.1)
    for t in (1.1, 1.1):
        w.grant(t)
        w.finish(t)
    # Five in (0.1, 2.1] now: the 5-per-2s rule still holds the next one back.
    assert w.ready_at(1.2) == pytest.approx(2.1)


def test_a_rule_with_a_longer_window_that_joins_later_counts_the_requests_before() -> None:
    w = SlidingWindow(RateLimit(3, 1.0), 0.0)
    for end in (0.1, 0.1, 1.15):
        w.grant(0.0)
        w.finish(end)
    # Past the first rule's window for two of them, but inside the second's.
    w.use(RateLimit(4, 2.0), 1.2)
    assert w.ready_at(1.2) == pytest.approx(1.2)
    w.grant(1.2)
    assert w.ready_at(1.2) == pytest.approx(2.1)


def test_rules_are_forgotten_once_the_budget_is_quiet() -> None:
    w = SlidingWindow(RateLimit(5, 2.0), 0.0)
    w.grant(0.0)
    w.finish(0.0)
    w.use(RateLimit(1, 1.0), 0.5)
    assert len(w.rules) == 2
    w.use(RateLimit(1, 1.0), 3.0)
    assert list(w.rules) == [RateLimit(1, 1.0)]


def test_a_stricter_rule_with_more_slots_held_than_it_allows_waits_for_enough_to_cool() -> None:
    w = SlidingWindow(RateLimit(5, 1.0), 0.0)
    for t in (0.1, 0.2, 0.3, 0.4):
        w.grant(0.0)
        w.finish(t)
    w.use(RateLimit(2, 1.0), 0.5)
    # Four held, two allowed: three must cool before the next grant.
    assert w.ready_at(0.5) == pytest.approx(1.3)


def test_idle_only_when_nothing_is_in_flight_cooling_or_paused() -> None:
    w = SlidingWindow(RateLimit(5, 1.0), 0.0)
    w.grant(0.0)
    assert not w.idle(0.0)
    w.finish(0.2)
    assert w.ready_at(0.3) == 0.3  # a free slot, but one still cooling
    assert not w.idle(0.3)
    assert w.idle(1.2)
    w.pause(1.2)
    w.pace_evenly()
    assert not w.idle(2.0)
    assert w.idle(2.2)  # paced, but quiet: forgetting it breaks no rule


def test_abandoned_in_flight_slots_cool_from_the_abandonment() -> None:
    w = SlidingWindow(RateLimit(1, 1.0), 0.0)
    w.grant(0.0)
    w.abandon(1, 4.0)
    assert w.in_flight == 0
    assert w.ready_at(4.0) == pytest.approx(5.0)


# Cancellation in the step of a grant, closed loops, changed rules, eviction ------------


def test_waiters_cancelled_in_the_step_of_a_grant_leak_nothing() -> None:
    """A grant to a waiter cancelled in the same loop step takes nothing."""

    async def main() -> tuple[float, int, list[object]]:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        stray: list[object] = []
        loop.set_exception_handler(lambda _loop, context: stray.append(context))
        rule = RateLimit(1, 1.0)
        async with limiter.slot(KEY, rule):
            pass
        doomed = asyncio.gather(*(limiter.slot(KEY, rule).__aenter__() for _ in range(2)))
        # Armed before the limiter's timer for the same moment, so it runs first.
        loop.call_at(1.0, doomed.cancel)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        async with limiter.slot(KEY, rule):
            granted = loop.time()
        await asyncio.sleep(0)
        budget = limiter.budget(KEY)
        assert budget is not None
        return granted, budget.in_flight, stray

    granted, in_flight, stray = run(main())
    assert stray == []
    assert in_flight == 0
    assert granted == pytest.approx(1.0)


def test_a_second_event_loop_does_not_wait_for_the_first_ones_timer() -> None:
    """The timer of a closed loop must not stand in for a new one."""
    limiter = MemoryLimiter(margin=0.0)
    rule = RateLimit(1, 1.0)

    async def first() -> None:
        async with limiter.slot(KEY, rule):
            pass
        waiter = asyncio.create_task(limiter.slot(KEY, rule).__aenter__())
        await asyncio.sleep(0.5)  # queued; the timer for t=1.0 is armed on this loop
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter

    async def second() -> float:
        async with limiter.slot(KEY, rule):
            return asyncio.get_running_loop().time()

    run(first())
    # The new loop's clock starts where the old one stopped, as time.monotonic() would.
    assert run(second(), start=0.5) == pytest.approx(1.0)  # cooling accounting kept


def test_two_rules_for_one_key_share_one_budget_and_the_stricter_governs() -> None:
    """Switching rules keeps the budget's accounting: it does not start a fresh one."""

    async def main() -> list[float]:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        grants: list[float] = []
        rules = [RateLimit(5, 0.5), RateLimit(3, 0.5)]

        async def one(i: int) -> None:
            permit = limiter.slot(KEY, rules[i % 2])
            async with permit:
                grants.append(loop.time())
                await asyncio.sleep(0.01)
                permit.finish(Outcome.ACCEPTED)

        await asyncio.gather(*(one(i) for i in range(20)))
        return grants

    grants = run(main())
    assert len(grants) == 20
    assert _max_in_window(grants, 0.5) <= 3


def test_eviction_keeps_a_budget_that_is_still_cooling() -> None:
    """Eviction under max_idle never forgets slots still cooling."""

    async def main() -> list[float]:
        limiter = MemoryLimiter(margin=0.0, max_idle=2)
        loop = asyncio.get_running_loop()
        grants = await _fan_out(limiter, 3, rtt=0.1)
        await asyncio.sleep(0.4)
        for user in ("a", "b", "c"):  # new budgets push the registry over max_idle
            async with limiter.slot(LimitKey(user, "/x"), RULE):
                pass
        await asyncio.sleep(0.1)
        start = loop.time()
        later = await _fan_out(limiter, 5, rtt=0.1)
        return [*grants, start, *later]

    everything = run(main())
    grants = [*everything[:3], *everything[4:]]
    assert everything[3] == pytest.approx(0.6)
    assert _max_in_window(grants, RULE.window) <= RULE.requests


def test_a_paced_budget_is_evicted_once_quiet() -> None:
    async def main() -> bool:
        limiter = MemoryLimiter(margin=0.0, max_idle=1)
        permit = limiter.slot(KEY, RULE)
        async with permit:
            permit.finish(Outcome.THROTTLED)
        await asyncio.sleep(RULE.window * 2)
        async with limiter.slot(LimitKey("other", "/x"), RULE):
            pass
        return KEY in limiter._buckets

    assert run(main()) is False


def test_a_request_left_in_flight_is_held_until_grant_plus_lifetime_plus_window() -> None:
    """A request abandoned mid-flight may still reach the server until its own deadline."""

    async def main(cancel_at: float) -> float:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        rule = RateLimit(1, 1.0)

        async def hung() -> None:
            async with limiter.slot(KEY, rule, lifetime=5.0):
                await asyncio.sleep(100)

        task = asyncio.create_task(hung())
        await asyncio.sleep(cancel_at)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with limiter.slot(KEY, rule):
            return loop.time()

    assert run(main(3.0)) == pytest.approx(6.0)  # 0 + 5 s lifetime + 1 s window
    assert run(main(8.0)) == pytest.approx(9.0)  # past its lifetime: from the cancellation


def test_a_permit_finished_explicitly_cools_from_its_end_whatever_the_lifetime() -> None:
    async def main() -> float:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        rule = RateLimit(1, 1.0)
        permit = limiter.slot(KEY, rule, lifetime=5.0)
        async with permit:
            await asyncio.sleep(0.2)
            permit.finish(Outcome.UNKNOWN)
        async with limiter.slot(KEY, rule):
            return loop.time()

    assert run(main()) == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("outcome", "next_grant"),
    [
        # The waiter takes the slot the moment the attempt is known to be unsent.
        (Outcome.NOT_SENT, 0.3),
        # With no evidence, the slot cools a window from the attempt's end.
        (Outcome.UNKNOWN, 1.3),
    ],
)
def test_a_slot_whose_request_was_never_sent_is_free_at_once(
    outcome: Outcome, next_grant: float
) -> None:
    """A connection refused 0.3 s after the grant: nothing reached the server."""
    async def main() -> float:
        limiter = MemoryLimiter(margin=0.0)
        loop = asyncio.get_running_loop()
        rule = RateLimit(1, 1.0)
        permit = limiter.slot(KEY, rule)
        async with permit:
            waiter = asyncio.create_task(limiter.slot(KEY, rule).__aenter__())
            await asyncio.sleep(0.3)
            permit.finish(outcome)
        await waiter
        return loop.time()

    assert run(main()) == pytest.approx(next_grant)


_TWO_RUNS = """
import asyncio
from okx_async import OkxClient, RateLimit
from okx_async.simulator import DEMO_CREDENTIALS, DEMO_UID, Simulator

ENDPOINT = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
RULES = {ENDPOINT: RateLimit(2, 0.3)}

async def once(leave_queued):
    async with Simulator(limit=2, window=0.3) as sim, OkxClient(
        DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID, rate_limits=RULES
    ) as okx:
        if leave_queued:  # two go out, two wait for the limiter's timer, then give up
            try:
                async with asyncio.timeout(0.1):
                    await okx.max_collateral_redeem_amounts(["BTC", "ETH", "SOL", "XRP"])
            except TimeoutError:
                pass
            return 0
        return len(await okx.max_collateral_redeem_amounts(["BTC", "ETH", "SOL"]))

asyncio.run(once(True))
print("second run:", asyncio.run(once(False)))
"""


def test_two_asyncio_runs_share_the_process_limiter_and_do_not_hang() -> None:
    """A script that calls asyncio.run() twice: the process-wide limiter, two runs."""
    done = subprocess.run(
        [sys.executable, "-c", _TWO_RUNS], capture_output=True, text=True, timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "second run: 3" in done.stdout


# A storm of cancellations ------------------------------------------------------------------


def test_a_storm_of_random_timeouts_and_cancellations_leaks_nothing() -> None:
    """Tiny windows; random asyncio.timeout / TaskGroup / gather cancellations."""

    async def main() -> Storm:
        rng = random.Random(8)
        loop = asyncio.get_running_loop()
        stray: list[object] = []
        loop.set_exception_handler(lambda _loop, context: stray.append(context))
        storm = Storm(MemoryLimiter(margin=0.0, rtt_fraction=0.0))
        for i in range(300):
            await storm.burst(rng, LimitKey(str(i % 5), "/storm"))
        storm.assert_nothing_left()
        for key in list(storm.limiter._buckets):
            async with asyncio.timeout(1.0), storm.limiter.slot(key, STORM_RULES[0]):
                pass  # every budget still grants
        assert stray == []
        return storm

    storm = run(main())
    assert storm.served == 300
    storm.assert_within_rules()
