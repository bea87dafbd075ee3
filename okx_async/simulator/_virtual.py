"""An event loop whose clock jumps to the next timer instead of sleeping.

When nothing is ready to run, the loop does not wait: its clock moves straight to
the next timer. A minute of ``asyncio.sleep`` or of rate-limit waiting passes in
microseconds of real time, and every timer fires at exactly the time it was set
for, so a schedule can be asserted exactly.

It is for code that does no I/O: the in-process simulator and the client wired
to it. Sockets and subprocesses need a real loop (the simulator over loopback
HTTP), since a clock that jumps would time out every wait for the network at
once. Work handed to threads (``run_in_executor``, ``asyncio.to_thread``) is
waited for in real time and takes no virtual time.

A loop with no timer armed, nothing ready and no thread at work can never make
progress: it raises :class:`Deadlock` instead of hanging.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["Deadlock", "VirtualTimeLoop", "run"]

#: Tasks named in a Deadlock's message, at most.
_NAMED_TASKS = 5


class Deadlock(RuntimeError):
    """Every task waits for something that no timer, thread or I/O will ever bring."""


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, moves the loop's clock instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if self._loop.threads_at_work:
            # A thread's result arrives through the loop's self-pipe: wait for it for
            # real, so that thread work takes no virtual time and timers keep their order.
            return super().select(None)
        if timeout is None:
            raise Deadlock(self._loop.describe_deadlock())
        self._loop.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual, starting at ``start`` seconds.

    Usage::

        loop = VirtualTimeLoop()
        loop.run_until_complete(asyncio.sleep(3600))  # returns at once
        assert loop.time() == 3600.0

    A second loop started where the first one stopped (``VirtualTimeLoop(first.time())``)
    stands for a second ``asyncio.run()`` in one process: the clock goes on, the loop is new.
    """

    def __init__(self, start: float = 0.0) -> None:
        #: The virtual clock, in seconds.
        self.now = float(start)
        #: Jobs running in threads for this loop, which it waits for in real time.
        self.threads_at_work = 0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def advance(self, timeout: float) -> None:
        """Move the clock to the next timer, at most ``timeout`` ahead."""
        target = self.now + timeout
        # The loop computed ``timeout`` as ``when - now``; landing on ``when`` itself
        # (not on ``now + (when - now)``, which may differ in the last bit) makes every
        # timer fire at exactly the time it was set for.
        scheduled: list[asyncio.TimerHandle] = getattr(self, "_scheduled", [])
        if scheduled and scheduled[0].when() <= target:
            target = scheduled[0].when()
        self.now = max(self.now, target)

    def describe_deadlock(self) -> str:
        """What a Deadlock says: that nothing can happen, and which tasks wait."""
        tasks = [task for task in asyncio.all_tasks(self) if not task.done()]
        named = "; ".join(_awaiting(task) for task in tasks[:_NAMED_TASKS])
        more = f" and {len(tasks) - _NAMED_TASKS} more" if len(tasks) > _NAMED_TASKS else ""
        return (
            f"at virtual time {self.now:g} s no timer is armed, nothing is ready and no "
            f"thread is at work, so {len(tasks)} waiting task(s) can never resume: "
            f"{named}{more}"
        )

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.threads_at_work += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, future: asyncio.Future[Any]) -> None:
        self.threads_at_work -= 1

    async def shutdown_default_executor(self, *args: Any) -> None:
        # Joins the executor's threads in a thread of its own, which reports back
        # through the self-pipe: a wait for real, not a deadlock.
        self.threads_at_work += 1
        try:
            await super().shutdown_default_executor(*args)
        finally:
            self.threads_at_work -= 1


def _awaiting(task: asyncio.Task[Any]) -> str:
    """The chain of coroutines a task is suspended in, outermost first."""
    chain: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and hasattr(coro, "cr_await") and len(chain) < 20:
        chain.append(getattr(coro, "__qualname__", repr(coro)))
        coro = coro.cr_await
    return f"{task.get_name()} in " + " > ".join(chain) if chain else repr(task)


def run(coro: Coroutine[Any, Any, T], *, start: float = 0.0) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`, as ``asyncio.run`` would.

    Tasks still pending when ``coro`` returns are cancelled, as ``asyncio.run`` does.
    """
    with asyncio.Runner(loop_factory=functools.partial(VirtualTimeLoop, start)) as runner:
        return runner.run(coro)
