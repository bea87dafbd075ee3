"""The virtual-time event loop: its clock jumps to exactly the next timer; a stuck loop raises."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from okx_async.simulator import Deadlock, VirtualTimeLoop
from okx_async.simulator._virtual import run


def test_an_hour_of_sleep_passes_in_no_real_time() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.perf_counter()
    assert run(main()) == 3600.0
    assert time.perf_counter() - started < 0.5


def test_every_timer_fires_at_exactly_the_time_it_was_set_for() -> None:
    # 0.1 + 0.2 steps are not exact in binary: a clock that adds up the waits drifts
    # off the times the timers were set for; one that lands on them does not.
    async def main() -> list[tuple[float, float]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[float, float]] = []
        for step in [0.1, 0.2, 0.7, 1e-9, 0.3] * 20:
            when = loop.time() + step
            fired = loop.create_future()
            loop.call_at(when, fired.set_result, None)
            await fired
            seen.append((when, loop.time()))
        return seen

    for when, now in run(main()):
        assert now == when


def test_timers_keep_their_order_and_ready_work_takes_no_time() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []

        async def after(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            log.append((name, loop.time()))

        await asyncio.gather(after("c", 3.0), after("a", 1.0), after("b", 2.0), after("now", 0))
        return log

    assert run(main()) == [("now", 0.0), ("a", 1.0), ("b", 2.0), ("c", 3.0)]


def test_a_loop_that_can_never_progress_raises_deadlock_naming_the_waiting_task() -> None:
    async def stuck_forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(Deadlock, match=r"at virtual time 5 s .*stuck_forever"):
        run(asyncio.wait_for(stuck_forever(), None), start=5.0)


def test_a_timeout_ends_a_wait_that_nothing_else_would() -> None:
    async def main() -> float:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.Event().wait()
        return asyncio.get_running_loop().time()

    assert run(main()) == 30.0


def test_work_in_threads_is_waited_for_in_real_time_and_takes_no_virtual_time() -> None:
    done = threading.Event()

    def work() -> str:
        time.sleep(0.05)  # real time: the loop must wait, not call it a deadlock
        done.set()
        return "done"

    async def main() -> tuple[str, float, float]:
        loop = asyncio.get_running_loop()
        timer = asyncio.ensure_future(asyncio.sleep(10))  # must not fire before the thread
        result = await asyncio.to_thread(work)
        at = loop.time()
        await timer
        return result, at, loop.time()

    assert run(main()) == ("done", 0.0, 10.0)
    assert done.is_set()


def test_run_cancels_what_is_left_as_asyncio_run_does() -> None:
    cancelled: list[float] = []

    async def background() -> None:
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            cancelled.append(asyncio.get_running_loop().time())
            raise

    async def main() -> None:
        asyncio.get_running_loop().create_task(background())
        await asyncio.sleep(1)

    run(main())
    assert cancelled == [1.0]


def test_a_second_loop_goes_on_from_where_the_first_stopped() -> None:
    first = VirtualTimeLoop()
    try:
        first.run_until_complete(asyncio.sleep(7))
    finally:
        first.close()
    second = VirtualTimeLoop(first.time())
    try:
        assert second.time() == 7.0
        second.run_until_complete(asyncio.sleep(1))
        assert second.time() == 8.0
    finally:
        second.close()
