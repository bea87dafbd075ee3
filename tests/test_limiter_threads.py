"""The process-wide limiter shared by threads, each running its own event loop.

A sync wrapper, a notebook's background thread or a thread pool calling
``asyncio.run()``: every thread has its own loop and its own clients, and all of them
draw on one budget per user. The simulator runs in a thread of its own, over loopback
HTTP, with a short rule so that each test takes well under two seconds.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from schedule import ENDPOINT, assert_schedule, least_time
from shared_clock import Lockstep
from storm import RULES as STORM_RULES
from storm import Storm

from okx_async import LimitKey, MemoryLimiter, OkxClient, RateLimit
from okx_async.simulator import DEMO_CREDENTIALS, DEMO_CREDENTIALS_2, DEMO_UID, Simulator

LIMIT, WINDOW = 5, 0.25
RULES = {ENDPOINT: RateLimit(LIMIT, WINDOW)}
CCYS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "USDT", "USDC", "LTC", "DOT"]
#: Longer than any test here needs; a thread still running then is stuck.
JOIN = 10.0
#: Bursts of calls each thread of the storm cancels, about 0.4 s of them.
BURSTS = 12
#: What each window may cost beyond the rule: the margin (20 ms), a round trip over
#: loopback and a wake-up across threads.
PER_WINDOW = 0.05
#: The trips there and back over loopback with up to 8 threads on the machine: the
#: rest of PER_WINDOW once the margin is counted.
LOOPBACK = (0.015, 0.015)


class SimulatorThread:
    """A :class:`Simulator` serving from its own thread and event loop."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.sim: Simulator | None = None

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Simulator(**self._options) as sim:
            self.sim = sim
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Simulator:
        self._thread.start()
        assert self._ready.wait(JOIN), "the simulator did not start"
        assert self.sim is not None
        return self.sim

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(JOIN)


def run_in_threads(jobs: list[Callable[[], Coroutine[Any, Any, object]]]) -> list[object]:
    """``asyncio.run(job())`` for each job in a thread of its own; fail if any hangs."""
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        try:
            start.wait(JOIN)
            results[i] = asyncio.run(jobs[i]())
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} of {len(threads)} threads never finished"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with SimulatorThread(limit=LIMIT, window=WINDOW) as simulator:
        yield simulator


@pytest.mark.real_time("threads, each with its own real event loop, against a simulator "
                        "over loopback: what only real threads and sockets show")
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_threads_of_one_user_share_one_budget_at_full_speed(
    sim: Simulator, threads: int
) -> None:
    """Each thread fans out with a client of its own; 16 requests in all."""
    per_thread = 16 // threads
    ccys = CCYS[:per_thread]

    def job(i: int) -> Callable[[], Coroutine[Any, Any, object]]:
        async def fan_out() -> object:
            creds = DEMO_CREDENTIALS if i % 2 else DEMO_CREDENTIALS_2
            async with OkxClient(creds, base_url=sim.base_url, user_id=DEMO_UID,
                                 rate_limits=RULES) as okx:
                return sorted(await okx.max_collateral_redeem_amounts(ccys))

        return fan_out

    results = run_in_threads([job(i) for i in range(threads)])

    assert results == [sorted(ccys)] * threads
    assert sim.rejections() == []
    times = assert_schedule(sim.arrivals, rule=RateLimit(LIMIT, WINDOW), latency=LOOPBACK)
    n = per_thread * threads
    least = least_time(n, RateLimit(LIMIT, WINDOW))
    windows = (n - 1) // LIMIT
    span = times[-1] - times[0]
    print(f"\n{threads} threads: {n} requests in {span:.3f} s, the least {least:.3f} s")
    assert least <= span <= least + windows * PER_WINDOW


@pytest.mark.real_time("cancellations from several threads, each with its own real loop")
def test_a_storm_of_cancellations_from_several_threads_leaks_nothing() -> None:
    """Four threads, each its own loop, cancel calls on shared budgets every way."""
    storm = Storm(MemoryLimiter(margin=0.0, rtt_fraction=0.0))
    keys = [LimitKey(str(i), "/storm") for i in range(3)]
    stray: list[object] = []

    def job(seed: int) -> Callable[[], Coroutine[Any, Any, object]]:
        async def storms() -> object:
            rng = random.Random(seed)
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: stray.append(context))
            for _ in range(BURSTS):
                await storm.burst(rng, rng.choice(keys))
            return None

        return storms

    run_in_threads([job(seed) for seed in range(4)])

    assert storm.served == 4 * BURSTS
    assert stray == []
    storm.assert_nothing_left()
    storm.assert_within_rules()

    async def every_budget_still_grants() -> None:
        for key in keys:
            async with asyncio.timeout(1.0), storm.limiter.slot(key, STORM_RULES[0]):
                pass

    asyncio.run(every_budget_still_grants())


# On one virtual clock: exact times -------------------------------------------------------


def test_a_loop_closed_with_its_slot_in_flight_holds_another_up_a_window_at_most() -> None:
    """A thread's loop closed without cancelling its tasks: its slot is never released."""
    step = Lockstep(2)
    here, there = step.threads
    limiter = MemoryLimiter(margin=0.0)
    rule = RateLimit(1, 1.0)
    key = LimitKey("42", "/api/v5/x")

    async def hold_for_ever() -> None:
        async with limiter.slot(key, rule):
            await asyncio.Event().wait()

    async def one() -> float:
        async with limiter.slot(key, rule):
            return asyncio.get_running_loop().time()

    there.create_task(hold_for_ever())
    step.settle()
    waiter = here.create_task(one())
    step.settle()  # waits at 0 with the only slot in flight on the other thread
    # The pending task is destroyed with its loop; asyncio says so, rightly.
    there.loop.set_exception_handler(lambda _loop, _context: None)
    there.call(there.loop.close)
    step.advance(3.0)
    step.shutdown()
    # Noticed when the waiter looked again a window later; the slot cooled from then.
    assert waiter.done()
    assert waiter.result() == 2.0
