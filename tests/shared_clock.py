"""Event loops in threads of their own on one virtual clock, run one at a time.

Several threads each running their own loop, made deterministic for property tests:
every loop reads the same virtual clock, and a driver runs the loops in turn, each in
its own thread, until none has anything left to do at the current time. Moving the
clock steps through every loop's timers in order, so a timer fires at its exact time
whichever loop it is on.

The driver looks at two private lists of ``asyncio.BaseEventLoop`` (``_ready`` and
``_scheduled``) to tell whether a loop has work; nothing else can say so.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class Clock:
    """The virtual time every loop of a :class:`Lockstep` reads."""

    def __init__(self, start: float) -> None:
        self.now = start


class _NeverWaits(selectors.DefaultSelector):
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return super().select(0)  # the driver moves the clock, never the loop


class ClockLoop(asyncio.SelectorEventLoop):
    """A loop whose ``time()`` is the shared virtual clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        super().__init__(_NeverWaits())

    def time(self) -> float:
        return self.clock.now


class LoopThread:
    """A :class:`ClockLoop` and the one thread that runs it (or the caller's own)."""

    def __init__(self, clock: Clock, *, own_thread: bool) -> None:
        self._pool = ThreadPoolExecutor(1) if own_thread else None
        self.clock = clock
        self.loop = ClockLoop(clock)

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` in this loop's thread and return its result."""
        if self._pool is None:
            return function()
        return self._pool.submit(function).result()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this loop, in its thread."""
        return self.call(partial(self.loop.run_until_complete, coro))

    def create_task(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task of ``coro`` on this loop, made in its thread; it runs as the loop does."""
        return self.call(partial(self.loop.create_task, coro))

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        """Schedule ``callback`` on this loop at ``when``."""
        self.call(partial(self.loop.call_at, when, callback))

    def busy(self) -> bool:
        """Callbacks ready, or a timer due at the current time."""
        loop: Any = self.loop
        if loop.is_closed():
            return False
        if loop._ready:
            return True
        scheduled = loop._scheduled
        return bool(scheduled) and scheduled[0].when() <= self.clock.now

    def next_timer(self) -> float:
        loop: Any = self.loop
        if loop.is_closed():
            return math.inf
        live = [h.when() for h in loop._scheduled if not h.cancelled()]
        return min(live, default=math.inf)

    def step(self) -> None:
        self.run(asyncio.sleep(0))

    def new_loop(self) -> None:
        """The thread's next ``asyncio.run()``: a new loop on the same clock."""
        self.loop = ClockLoop(self.clock)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class Lockstep:
    """Loops in several threads, one clock, run in turn until all are idle."""

    def __init__(self, threads: int, start: float = 0.0) -> None:
        self.clock = Clock(start)
        # The first runs in the caller's thread: most steps touch only it.
        self.threads = [LoopThread(self.clock, own_thread=i > 0) for i in range(threads)]

    def time(self) -> float:
        return self.clock.now

    def settle(self) -> None:
        """Run every loop until none has work at the current time."""
        for _ in range(1000):
            busy = [t for t in self.threads if t.busy()]
            if not busy:
                return
            for thread in busy:
                thread.step()
        raise RuntimeError("the loops never settle")

    def advance(self, dt: float) -> None:
        """Move the clock by ``dt``, firing every timer on the way at its own time."""
        target = self.clock.now + dt
        while True:
            self.settle()
            due = min(t.next_timer() for t in self.threads)
            if due > target:
                break
            self.clock.now = max(self.clock.now, due)
        self.clock.now = target
        self.settle()

    def shutdown(self) -> None:
        for thread in self.threads:
            thread.shutdown()
