"""One budget's FIFO of waiters, shared by every event loop that uses it, in any thread.

A :class:`Bucket` adds a queue and timers to a :class:`~okx_async.SlidingWindow`.
Threads each running their own loop (a sync wrapper, a notebook's background thread,
a pool calling ``asyncio.run()``) draw on one budget per user:

* **One lock.** Every change of a bucket, and of the registry, happens under the
  limiter's ``threading.Lock``: a few arithmetic steps, never an ``await``. The only
  calls out are ``call_soon``, ``call_soon_threadsafe`` and ``call_at``, which queue
  a callback and return.
* **One queue, first in first out across loops.** A slot goes to the head of the
  queue, whichever thread frees it. The grant reaches its waiter through the
  waiter's own loop (``call_soon`` on the loop doing the work, ``call_soon_threadsafe``
  on another), queued under the lock, so every loop resumes its waiters in the order
  they were granted.
* **A timer per loop.** Each loop with waiters keeps its own ``call_at`` timer for
  the moment the next slot cools; only its own thread arms or cancels it. When a
  slot frees earlier than a waiting loop's timer, the thread that freed it asks that
  loop (``call_soon_threadsafe``) to look again. No loop relies on another to wake
  it, so one that stops strands nobody.
* **One clock.** The budget keeps the event loops' time: each step reads its own
  loop's ``time()``, and the budget's time never goes backwards (the latest reading
  wins). Every asyncio loop reads ``time.monotonic()``, so the loops of all threads
  agree; a loop with a clock of its own (a virtual-time test loop) must share it with
  every other loop that uses the limiter at the same time.
* **A closed loop.** Its waiters are dropped, and the slots its tasks still held
  cool from the moment that is noticed, since their requests may have reached the
  server until then. ``asyncio.run()`` cancels its tasks before it closes the loop,
  so this only happens to a loop closed with requests in flight. While another loop
  holds slots, waiters look again at least once a window, so a loop closed without
  releasing its slots holds the others up at most a window longer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from functools import partial

from ._window import RateLimit, SlidingWindow

log = logging.getLogger(__name__)

class _LoopState:
    """What a bucket keeps per event loop: its permits, its waiters and its timer."""

    __slots__ = ("closed", "held", "loop", "timer", "timer_at", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: Slots granted to this loop's tasks and not released yet.
        self.held = 0
        #: This loop's waiters still in the queue.
        self.waiting = 0
        self.timer: asyncio.TimerHandle | None = None
        #: By when this loop looks at the queue again (a timer, or a request to look).
        self.timer_at = math.inf
        #: The loop closed; its permits were accounted for and no longer count.
        self.closed = False


class _Waiter:
    """A task waiting for a slot; ``grant`` is set, under the lock, when it gets one."""

    __slots__ = ("future", "grant", "queued", "state")

    def __init__(self, future: asyncio.Future[None], state: _LoopState) -> None:
        self.future = future
        self.state = state
        #: (whether it is a probe, grant time), once granted.
        self.grant: tuple[bool, float] | None = None
        self.queued = True

    def done(self) -> bool:
        """True once it can no longer take a slot from the queue."""
        return not self.queued


class Bucket:
    """A :class:`SlidingWindow` with a FIFO of waiting tasks of any loop and thread."""

    __slots__ = ("_lock", "_loops", "_now", "_waiters", "key", "window")

    def __init__(self, key: object, window: SlidingWindow, lock: threading.Lock) -> None:
        self.key = key
        self.window = window
        self._lock = lock
        self._waiters: deque[_Waiter] = deque()
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        #: The budget's time: the latest any loop read.
        self._now = -math.inf

    def __repr__(self) -> str:
        w = self.window
        return (
            f"<Bucket {self.key} in_flight={w.in_flight} waiters={len(self._waiters)} "
            f"loops={len(self._loops)} pace={w.pace}>"
        )

    @property
    def _held(self) -> int:
        """Slots granted and not released yet, on every live loop."""
        return sum(state.held for state in self._loops.values())

    def _time(self, loop: asyncio.AbstractEventLoop) -> float:
        """``loop.time()``, never earlier than a time already used (under the lock)."""
        now = loop.time()
        if now < self._now:
            return self._now
        self._now = now
        return now

    def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState(loop)
        return state

    # -- acquire and release, each in the caller's own loop --------------------------

    async def acquire(self, rule: RateLimit) -> tuple[_LoopState, bool, float]:
        """Wait for a slot under ``rule``; return (its loop's state, probe, grant time)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            now = self._time(loop)
            self._reap(now)
            state = self._state(loop)
            self.window.use(rule, now, waiting=bool(self._waiters))
            if not self._waiters and self.window.ready_at(now) <= now:
                state.held += 1
                return state, self.window.grant(now), now
            waiter = _Waiter(loop.create_future(), state)
            self._waiters.append(waiter)
            state.waiting += 1
            self._wake(now, loop)
        if waiter.queued:
            log.debug("waiting for a slot on %s (%d queued)", self.key, len(self._waiters))
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.grant is not None:
                    # Granted, then cancelled before it could send: the slot is unused.
                    state.held -= 1
                    probe, granted_at = waiter.grant
                    self.window.give_back(probe=probe, granted_at=granted_at)
                elif waiter.queued:
                    self._waiters.remove(waiter)
                    waiter.queued = False
                    state.waiting -= 1
                self._wake(self._time(loop), loop)
            raise
        assert waiter.grant is not None
        return state, *waiter.grant

    def release(
        self, state: _LoopState, *, accepted: bool, throttled: bool, probe: bool,
        until: float, answered_at_grant: float | None,
    ) -> None:
        """A request is over; it may have reached the server until ``until`` or now.

        ``answered_at_grant`` is the grant time of a request that was answered, which
        alone bounds when the server counted it.
        """
        here = _running_loop()
        with self._lock:
            if state.closed:
                return  # its loop was found closed: _reap accounted for it
            now = self._time(here or state.loop)
            if state.loop.is_closed():
                # A task of a closed loop, destroyed: _reap cools its slot from now.
                self._wake(now, here)
                return
            state.held -= 1
            self.window.finish(
                max(now, until), probe=probe, accepted=accepted, granted_at=answered_at_grant
            )
            if throttled:
                # Before anyone else is granted: the next in line must not go out now.
                self._throttle(now, answered_at_grant)
            self._wake(now, here)

    def give_back(self, state: _LoopState, *, probe: bool, granted_at: float) -> None:
        """A slot granted at ``granted_at`` sent nothing: it is free again at once."""
        here = _running_loop()
        with self._lock:
            if state.closed:
                return  # its loop was found closed: _reap accounted for it
            state.held -= 1
            self.window.give_back(probe=probe, granted_at=granted_at)
            self._wake(self._time(here or state.loop), here)

    def _throttle(self, now: float, granted_at: float | None) -> None:
        window = self.window
        if window.throttled(now, granted_at):
            log.warning(
                "OKX answered 50011 although %s kept within %s; pausing for a window and "
                "switching to even pacing", self.key, window.rule,
            )
        else:
            log.info("OKX answered 50011 again on %s; spacing requests %.3fs apart",
                     self.key, window.pace)

    # -- waking, under the lock -------------------------------------------------------

    def _wake(self, now: float, here: asyncio.AbstractEventLoop | None) -> None:
        """Grant slots to the head of the queue; make sure every waiting loop looks again.

        Runs on ``here`` (None: outside any loop), under the lock.
        """
        self._reap(now)
        waiters = self._waiters
        at = math.inf
        while waiters:
            head = waiters[0]
            state = head.state
            if head.future.done() or state.closed:
                # Cancelled in this very step, or its loop is gone: it takes nothing.
                waiters.popleft()
                head.queued = False
                state.waiting -= 1
                continue
            at = self.window.ready_at(now)
            if at > now:
                break
            waiters.popleft()
            head.queued = False
            state.waiting -= 1
            head.grant = (self.window.grant(now), now)
            # Every grant takes one hop through its loop's queue, own loop or not, so
            # each loop resumes its waiters in the order they were granted.
            if self._tell(state, partial(_deliver, head), here):
                state.held += 1
            else:
                # Its loop closed this very moment: undo the grant, the latest one.
                self.window.give_back(probe=head.grant[0], granted_at=now)
            at = math.inf
        if waiters:
            total = self._held if len(self._loops) > 1 else 0
            for state in self._loops.values():
                if not state.waiting:
                    continue
                due = at
                if total > state.held:
                    # Another loop holds slots: if it closes without releasing them,
                    # only looking again notices, so look at least once a window.
                    due = min(due, now + self.window.longest)
                if state.loop is here:
                    self._arm(state, due)
                elif state.timer_at > due and self._tell(
                    state, partial(self._on_timer, state), here
                ):
                    state.timer_at = now  # asked to look now; it re-arms for itself

    @staticmethod
    def _tell(
        state: _LoopState, callback: Callable[[], None], here: asyncio.AbstractEventLoop | None
    ) -> bool:
        """Queue ``callback`` on ``state``'s loop; False if that loop is closed."""
        if state.loop is here:
            state.loop.call_soon(callback)
            return True
        try:
            state.loop.call_soon_threadsafe(callback)
        except RuntimeError:  # closed: the next _reap forgets it
            return False
        return True

    def _arm(self, state: _LoopState, at: float) -> None:
        """(Re-)arm ``state``'s timer for ``at``; only in that loop's own thread."""
        if at == state.timer_at:
            return
        if state.timer is not None:
            state.timer.cancel()
        state.timer, state.timer_at = None, math.inf
        if at < math.inf:
            state.timer = state.loop.call_at(at, self._on_timer, state)
            state.timer_at = at

    def _on_timer(self, state: _LoopState) -> None:
        """A slot may have cooled, or another loop asked: look again, on ``state.loop``."""
        loop = state.loop
        with self._lock:
            if state.timer is not None:
                state.timer.cancel()  # asked before it fired; a fired one ignores this
            state.timer, state.timer_at = None, math.inf
            self._wake(self._time(loop), loop)

    def _reap(self, now: float) -> None:
        """Forget closed loops: their waiters leave, their slots cool from ``now``."""
        if not any(loop.is_closed() for loop in self._loops):
            return
        gone = [state for loop, state in self._loops.items() if loop.is_closed()]
        for state in gone:
            del self._loops[state.loop]
            state.closed = True
            if state.held:
                # Their requests may have reached the server until now.
                self.window.abandon(state.held, now)
                state.held = 0
        for waiter in self._waiters:
            if waiter.state.closed:
                waiter.queued = False
        self._waiters = deque(w for w in self._waiters if w.queued)

    # -- the registry's view ----------------------------------------------------------

    def quiet(self, now: float) -> bool:
        """True when forgetting the bucket would change nothing: no waiter, nothing cooling."""
        if self._waiters:
            return False
        self._reap(now)
        return not self._waiters and self._held == 0 and self.window.idle(now)

    def forget(self, here: asyncio.AbstractEventLoop) -> None:
        """The registry drops the bucket; a timer left on another loop fires harmlessly."""
        state = self._loops.get(here)
        if state is not None and state.timer is not None:
            state.timer.cancel()
            state.timer, state.timer_at = None, math.inf
        self._loops.clear()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _deliver(waiter: _Waiter) -> None:
    """On the waiter's own loop: wake it, unless it was cancelled meanwhile."""
    if not waiter.future.done():
        waiter.future.set_result(None)
