"""The limiter on a slow, jittery network, against servers that count differently.

Everything runs on the virtual-time loop: a request's trip to the server and its
answer's trip back are sleeps, and the server is one of the simulator's counting
algorithms, fed the virtual time at which the request arrives. A run of minutes of
network time takes milliseconds, and schedules are exact.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from virtual_time import run

from okx_async import LimitKey, MemoryLimiter, Outcome, RateLimit
from okx_async._adapt import Backoff, RttFloor, SwcSuspect
from okx_async._window import SlidingWindow
from okx_async.simulator._algorithms import (
    FixedWindow,
    RateLimitAlgorithm,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
    least_time_beside,
    max_in_any_window,
)

KEY = LimitKey("42", "/api/v5/finance/flexible-loan/max-collateral-redeem-amount")
RULE = RateLimit(5, 2.0)
#: (grant -> counted, counted -> answered) for query ``i``, attempt ``attempt``.
Delays = Callable[[int, int], tuple[float, float]]


@dataclass
class Request:
    query: int | None  # None: the foreign sender
    granted: float
    arrived: float
    accepted: bool
    answered: float = math.nan


@dataclass
class Run:
    requests: list[Request] = field(default_factory=list)
    done: float = 0.0

    def accepted(self) -> list[float]:
        return sorted(r.arrived for r in self.requests if r.accepted)

    def ours(self) -> list[Request]:
        return [r for r in self.requests if r.query is not None]

    def rejections(self) -> list[Request]:
        return [r for r in self.ours() if not r.accepted]


async def _drive(
    server: RateLimitAlgorithm,
    n: int,
    delays: Delays,
    *,
    limiter: MemoryLimiter,
    rule: RateLimit = RULE,
    starts: list[float] | None = None,
    foreign: tuple[float, float] | None = None,
) -> Run:
    """``n`` queries through ``limiter`` to ``server``; a 50011 is retried through it.

    ``foreign``: ``(first, every)``, another sender on the same user that the
    limiter cannot see.
    """
    loop = asyncio.get_running_loop()
    result = Run()
    finished = asyncio.Event()

    async def query(i: int) -> None:
        if starts is not None:
            await asyncio.sleep(starts[i])
        for attempt in range(50):
            permit = limiter.slot(KEY, rule)
            async with permit:
                granted = loop.time()
                up, down = delays(i, attempt)
                await asyncio.sleep(up)
                request = Request(i, granted, loop.time(), server.try_acquire(loop.time()))
                result.requests.append(request)
                await asyncio.sleep(down)
                request.answered = loop.time()
                permit.finish(Outcome.ACCEPTED if request.accepted else Outcome.THROTTLED)
            if request.accepted:
                return
        raise AssertionError(f"query {i} was refused 50 times")

    async def stranger(first: float, every: float) -> None:
        await asyncio.sleep(first)
        while not finished.is_set():
            now = loop.time()
            result.requests.append(Request(None, now, now, server.try_acquire(now)))
            await asyncio.sleep(every)

    side = asyncio.create_task(stranger(*foreign)) if foreign else None
    await asyncio.gather(*(query(i) for i in range(n)))
    result.done = loop.time()
    finished.set()
    if side is not None:
        await side
    return result


def _fixed(up: float, down: float) -> Delays:
    return lambda i, attempt: (up, down)


# The pure pieces ---------------------------------------------------------------------


def test_rtt_floor_is_a_windowed_minimum() -> None:
    floor = RttFloor(fraction=0.5, horizon=10.0)
    assert floor.credit(0.0) == 0.0  # nothing measured, nothing subtracted
    for t, rtt in [(0.0, 0.30), (1.0, 0.20), (2.0, 0.25), (9.0, 0.40)]:
        floor.observe(t, rtt)
    assert floor.minimum(9.0) == pytest.approx(0.20)
    assert floor.minimum(11.5) == pytest.approx(0.25)  # the 0.20 s sample aged out
    assert floor.minimum(12.5) == pytest.approx(0.40)  # a route got slower: noticed
    floor.observe(13.0, 0.05)  # ... or faster: at once
    assert floor.credit(13.0) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="fraction"):
        RttFloor(fraction=1.0)


def test_backoff_is_multiplicative_down_and_slow_up() -> None:
    b = Backoff()
    assert [b.rejected() for _ in range(3)] == pytest.approx([1.5, 2.25, 3.375])
    for _ in range(20):
        b.accepted()
    assert b.factor == pytest.approx(3.375 - 20 * 0.02)
    for _ in range(200):
        b.accepted()
    assert b.factor == 1.0
    for _ in range(30):
        b.rejected()
    assert b.factor == 16.0  # capped


def test_swc_suspect_clears_once_no_counter_fits_the_answers() -> None:
    s = SwcSuspect(5, 2.0)
    times = [0.0] * 5 + [2.1 + 0.05 * i for i in range(30)]
    for t in times:
        s.sent(t)
        s.accepted(t)
    # Six requests within 1.5 s after a full window: no counter accepts that.
    assert s.cleared


def test_slot_cools_earlier_only_for_answers_on_a_warm_path() -> None:
    w = SlidingWindow(RULE, 0.0, RttFloor(fraction=0.5))

    def last_end() -> float:
        return max(w._ends)  # when the latest finished request may have reached the server

    for _ in range(5):
        w.grant(0.0)
    w.finish(0.4, granted_at=0.0)  # the first answer: maybe a new connection, not sampled
    assert last_end() == pytest.approx(0.4)
    w.grant(2.4)
    w.finish(2.6, granted_at=2.4)  # sampled: 0.2 s, so 0.1 s of credit
    assert last_end() == pytest.approx(2.5)
    w.grant(2.7)
    w.finish(2.9)  # no answer (timeout, cancellation): anchored at the end
    assert last_end() == pytest.approx(2.9)
    w.grant(2.9)
    w.finish(3.1, accepted=False, granted_at=2.9)
    w.throttled(3.1, granted_at=2.9)
    w.grant(6.0)
    w.finish(6.2, granted_at=6.0)  # after a 50011: back to the answer
    assert last_end() == pytest.approx(6.2)


# Safety within the assumptions ----------------------------------------------------------


@pytest.mark.parametrize("seed", range(24))
def test_never_more_than_n_in_any_window_with_adversarial_legs_within_the_assumptions(
    seed: int,
) -> None:
    """The legs' fixed parts are split any way between up and down, and the jitter on
    top is at most a third of them, so 3/4 of the fastest round trip is at most the
    fixed part (docs/limiter.md). Each request picks the worst extremes at random."""
    rng = random.Random(seed)
    fixed_up, fixed_down = rng.choice([0.0, 0.0005, 0.3]), rng.choice([0.0005, 0.05, 0.3, 1.5])
    jitter = (fixed_up + fixed_down) / 3
    legs = {
        i: [(fixed_up + rng.choice([0.0, jitter, rng.uniform(0, jitter)]),
             fixed_down + rng.choice([0.0, jitter]))
            for _ in range(5)]
        for i in range(40)
    }
    starts = [rng.choice([0.0, 0.0, rng.uniform(0, 20)]) for _ in range(40)]

    def delays(i: int, attempt: int) -> tuple[float, float]:
        return legs[i][attempt % 5]

    limiter = MemoryLimiter(margin=1e-6)
    result = run(_drive(SlidingLog(5, 2.0), 40, delays, limiter=limiter, starts=starts))
    assert not result.rejections()
    assert max_in_any_window(result.accepted(), 2.0) <= 5
    budget = limiter.budget(KEY)
    assert budget is not None and budget.rtt is not None
    assert budget.rtt.credit(result.done) > 0  # the credit was really in use


def test_the_credit_saves_most_of_a_round_trip_per_window() -> None:
    def timed(fraction: float) -> float:
        limiter = MemoryLimiter(rtt_fraction=fraction)
        return run(_drive(SlidingLog(5, 2.0), 31, _fixed(0.07, 0.08), limiter=limiter)).done

    full, credited = timed(0.0), timed(0.75)
    # Six windows of answer + margin; from the third on, 3/4 of 0.15 s is saved.
    assert full == pytest.approx(12.0 + 6 * (0.15 + 0.02) + 0.15)
    assert credited == pytest.approx(full - 5 * 0.75 * 0.15)


# Outside the assumptions ------------------------------------------------------------------


def test_when_the_bound_fails_a_50011_restores_full_anchoring_at_once() -> None:
    """A path whose legs swap: every round trip takes 0.2 s, but requests of one
    generation spend it all on the way up and the next all on the way back, so the
    credit of 0.15 s lets a request arrive 0.15 s too early. The server refuses it;
    nothing granted after that 50011 is refused, however the legs go on swapping."""

    def delays(i: int, attempt: int) -> tuple[float, float]:
        generation = i // 5 + attempt
        spread = (i % 5) * 0.01  # arrivals of a burst a little apart, as on a real link
        return (0.2 - spread, spread) if generation % 2 else (spread, 0.2 - spread)

    limiter = MemoryLimiter(margin=0.0)
    result = run(_drive(SlidingLog(5, 2.0), 40, delays, limiter=limiter))
    rejected = result.rejections()
    assert rejected, "the adversary should have beaten the bound"
    first_answer = min(r.answered for r in rejected)
    assert all(r.granted < first_answer for r in rejected)  # only those already out
    assert len(rejected) <= 2
    budget = limiter.budget(KEY)
    assert budget is not None and budget._anchor_fully
    assert len({r.query for r in result.ours() if r.accepted}) == 40


# The four server algorithms ------------------------------------------------------------------


@pytest.mark.parametrize(
    "server", [SlidingLog(5, 2.0), FixedWindow(5, 2.0, 0.37), TokenBucket(5, 2.0)],
    ids=["sliding-log", "fixed-window", "token-bucket"],
)
def test_no_rejection_from_servers_that_honour_any_window(server: RateLimitAlgorithm) -> None:
    rng = random.Random(7)
    legs = [(0.03 + rng.uniform(0, 0.04), 0.08) for _ in range(101)]
    result = run(_drive(server, 101, lambda i, a: legs[i], limiter=MemoryLimiter()))
    assert not result.rejections()
    assert max_in_any_window(result.accepted(), 2.0) <= 5


@pytest.mark.parametrize("phase", [i / 10 for i in range(10)])
def test_a_sliding_window_counter_costs_at_most_two_rejections_whatever_the_phase(
    phase: float,
) -> None:
    window = 0.5
    rule = RateLimit(5, window)
    server = SlidingWindowCounter(5, window, origin=phase * window)
    result = run(_drive(server, 30, _fixed(0.0005, 0.0005), limiter=MemoryLimiter(), rule=rule))
    assert len(result.rejections()) <= 2
    assert len({r.query for r in result.ours() if r.accepted}) == 30


@pytest.mark.parametrize(
    ("offset", "ours_refused", "theirs_refused", "took", "least"),
    [(0.0, 3, 1, 21.218, 16.0), (0.2, 3, 3, 18.4708, 14.0), (0.7, 3, 3, 18.78592, 14.0),
     (1.2, 3, 2, 20.84632, 15.8), (4.4, 3, 1, 21.1574, 15.6)],
)
def test_a_foreign_sender_costs_few_rejections_and_is_not_crowded_out(
    offset: float, ours_refused: int, theirs_refused: int, took: float, least: float
) -> None:
    """Another program on the same user has sent one request every 1.5 s since 0; our
    30 queries start at ``offset``. The goals: at most 3 rejections, within 1.3x the
    least time that the other program's accepted requests allow. The design gives
    exactly 3 rejections, and 1.32-1.36x: the time goal is missed (docs/performance.md,
    "Why the foreign-traffic time is missed"). Backing off less gets closer to that
    least time only by refusing the other program instead."""
    result = run(_drive(
        SlidingLog(5, 2.0), 30, _fixed(0.001, 0.001), limiter=MemoryLimiter(),
        foreign=(0.0, 1.5), starts=[offset] * 30,
    ))
    assert len(result.rejections()) == ours_refused <= 3
    theirs = [r for r in result.requests if r.query is None and offset <= r.arrived <= result.done]
    assert sum(1 for r in theirs if not r.accepted) == theirs_refused
    foreign = [r.arrived - offset for r in theirs if r.accepted]
    assert least_time_beside(foreign, 30, limit=5, window=2.0) == pytest.approx(least, abs=1e-6)
    assert result.done - offset == pytest.approx(took, abs=1e-9)
