"""Rate limiting per ``(user id, endpoint)``: the interface and the in-memory limiter.

The guarantee: never more than ``rule.requests`` requests *arrive at the server*
inside any window of ``rule.window`` seconds, and no request waits longer than that
needs.

Why slots are anchored at the response: a request reaches the server some unknown
time after we send it, so counting send times is not enough once the network
jitters. The server received a request no later than the moment its answer reached
us, so a slot is held while its request is in flight and becomes free again
``window + margin`` after the request finished (answer, error or timeout). A request
abandoned mid-flight (cancelled) may still arrive until its own timeout, so it is
held until ``grant + lifetime + window + margin``. The cost is about one round trip
per window.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from collections import deque
from types import TracebackType
from typing import Protocol, runtime_checkable

import attrs

from ._adapt import DEFAULT_RTT_FRACTION, RttFloor
from ._window import DEFAULT_MARGIN, RateLimit, SlidingWindow

log = logging.getLogger(__name__)

@attrs.frozen
class LimitKey:
    """What a budget is counted by: OKX counts private limits per user id and endpoint."""

    user_id: str
    endpoint: str


class Outcome(enum.Enum):
    """How a request ended, as far as the server's rate limit is concerned."""

    #: The server answered and its rate limit let the request through.
    ACCEPTED = "accepted"
    #: The server answered 50011: over the limit by its count.
    THROTTLED = "throttled"
    #: No evidence either way: a timeout, a dropped connection, a cancellation, a 5xx.
    UNKNOWN = "unknown"


class Permit(Protocol):
    """An acquired slot; leaving it records when the request was over.

    The caller says how the request ended with :meth:`finish` before it leaves the
    block; a permit left without it counts as :attr:`Outcome.UNKNOWN`.
    """

    def finish(self, outcome: Outcome) -> None: ...

    async def __aenter__(self) -> None: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Limiter(Protocol):
    """What :class:`~okx_async.OkxClient` needs from a limiter.

    ``permit = limiter.slot(key, rule)``, then ``async with permit: send()`` waits for
    a free slot and holds it while the request is in flight. ``permit.finish(outcome)``
    tells the limiter how it ended: :attr:`Outcome.THROTTLED` means the server still
    answered 50011, and the limiter backs off every waiter on that key before it
    grants another slot.

    ``lifetime`` is how long after the grant the request, once sent, may still reach
    the server (the transport's total timeout). A permit left without
    :meth:`Permit.finish`, say by a cancellation mid-request, is counted as if the
    request arrived as late as ``grant + lifetime``; with ``None``, as late as the
    moment it was left.
    """

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        ...

    async def aclose(self) -> None: ...


class _Bucket:
    """A :class:`SlidingWindow` with a FIFO of waiting tasks, woken by one timer.

    The waiters and the timer belong to the event loop that uses the bucket; a new
    loop (a second ``asyncio.run()``) starts with none of them but keeps the window,
    because the requests still cooling really did reach the server.
    """

    __slots__ = ("_held", "_loop", "_timer", "_timer_at", "_waiters", "generation", "key",
                 "window")

    def __init__(self, key: LimitKey, window: SlidingWindow) -> None:
        self.key = key
        self.window = window
        self._waiters: deque[asyncio.Future[tuple[bool, float]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Slots granted on ``_loop`` and not released yet.
        self._held = 0
        #: Bumped on every change of loop; a permit from an older one no longer counts.
        self.generation = 0

    def __repr__(self) -> str:
        w = self.window
        return (
            f"<_Bucket {self.key.user_id}:{self.key.endpoint} in_flight={w.in_flight} "
            f"waiters={len(self._waiters)} pace={w.pace}>"
        )

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move to ``loop``: the old loop's waiters and timer can never run again."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        self._waiters.clear()
        if self._held:
            # Granted on a loop that stopped before they were released: they may have
            # reached the server until now, so they cool from now.
            self.window.abandon(self._held, loop.time())
            self._held = 0
        self._loop = loop
        self.generation += 1

    async def acquire(self, rule: RateLimit) -> tuple[bool, float]:
        """Wait for a slot under ``rule``; return (whether it is the probe, grant time)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._adopt(loop)
        now = loop.time()
        self.window.use(rule, now, waiting=bool(self._waiters))
        if not self._waiters and self.window.ready_at(now) <= now:
            self._held += 1
            return self.window.grant(now), now
        waiter: asyncio.Future[tuple[bool, float]] = loop.create_future()
        self._waiters.append(waiter)
        self._wake(loop)
        if not waiter.done():
            log.debug("waiting for a slot on %s (%d queued)", self.key, len(self._waiters))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Granted, then cancelled before it could send: the slot is unused.
                self._held -= 1
                self.window.give_back(probe=waiter.result()[0])
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            if loop is self._loop:
                self._wake(loop)
            raise

    def release(
        self, outcome: Outcome, *, probe: bool, generation: int, until: float, granted_at: float
    ) -> None:
        """The request is over; it may have reached the server until ``until`` or now."""
        if generation != self.generation:
            return  # granted on a loop that is gone; _adopt accounted for it
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._held -= 1
        # Only an answer bounds when the server counted the request.
        answered = granted_at if outcome is not Outcome.UNKNOWN else None
        self.window.finish(
            max(now, until), probe=probe, accepted=outcome is Outcome.ACCEPTED,
            granted_at=answered,
        )
        if outcome is Outcome.THROTTLED:
            # Before anyone else is granted: the next in line must not go out now.
            self._throttle(now, answered)
        if loop is self._loop:
            self._wake(loop)

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

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        """Grant slots to the head of the queue, then arm the timer for the next one."""
        now = loop.time()
        waiters = self._waiters
        at = math.inf
        while waiters:
            head = waiters[0]
            if head.done():
                # Cancelled in this very step: it takes nothing and leaves no trace.
                waiters.popleft()
                continue
            at = self.window.ready_at(now)
            if at > now:
                break
            waiters.popleft()
            self._held += 1
            head.set_result((self.window.grant(now), now))
            at = math.inf
        if waiters and at != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
            if at < math.inf:
                self._timer = loop.call_at(at, self._on_timer, loop)
                self._timer_at = at

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        if loop is self._loop:
            self._wake(loop)

    def quiet(self, now: float) -> bool:
        """True when forgetting the bucket would change nothing: no waiter, nothing cooling."""
        return not self._waiters and self._held == 0 and self.window.idle(now)

    def forget(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf


class _MemoryPermit:
    __slots__ = ("_bucket", "_generation", "_granted", "_key", "_lifetime", "_limiter",
                 "_outcome", "_probe", "_rule")

    def __init__(
        self, limiter: MemoryLimiter, key: LimitKey, rule: RateLimit, lifetime: float | None
    ) -> None:
        self._limiter = limiter
        self._key = key
        self._rule = rule
        self._lifetime = lifetime
        self._bucket: _Bucket | None = None
        self._probe = False
        self._granted = -math.inf
        self._generation = -1
        self._outcome: Outcome | None = None

    def finish(self, outcome: Outcome) -> None:
        self._outcome = outcome

    async def __aenter__(self) -> None:
        # Looked up here, not in slot(): an evicted bucket must not be waited on.
        bucket = self._bucket = self._limiter._bucket(self._key, self._rule)
        self._probe, self._granted = await bucket.acquire(self._rule)
        self._generation = bucket.generation

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._bucket is not None
        outcome, until = self._outcome, -math.inf
        if outcome is None:
            # Left mid-request: the request may still reach the server until its end.
            outcome = Outcome.UNKNOWN
            if self._lifetime is not None:
                until = self._granted + self._lifetime
        self._bucket.release(outcome, probe=self._probe, generation=self._generation,
                             until=until, granted_at=self._granted)


class MemoryLimiter:
    """The in-process limiter; one is shared by every client of the process.

    Example::

        limiter = MemoryLimiter()
        async with limiter.slot(LimitKey("123", "/api/v5/x"), RateLimit(5, 2)):
            ...  # send one request

    Budgets that have fully cooled are forgotten once there are more than
    ``max_idle`` of them, so a long-running process keeps a flat footprint.
    """

    __slots__ = ("_buckets", "margin", "max_idle", "rtt_fraction")

    def __init__(
        self,
        *,
        margin: float = DEFAULT_MARGIN,
        max_idle: int = 1024,
        rtt_fraction: float = DEFAULT_RTT_FRACTION,
    ) -> None:
        if not 0.0 <= rtt_fraction < 1.0:
            raise ValueError(f"rtt_fraction must be in [0, 1), got {rtt_fraction!r}")
        self.margin = margin
        self.max_idle = max_idle
        #: Share of the fastest recent round trip a slot may cool earlier by; 0 anchors
        #: every slot at its answer (docs/limiter.md).
        self.rtt_fraction = rtt_fraction
        self._buckets: dict[LimitKey, _Bucket] = {}

    def __repr__(self) -> str:
        return f"<MemoryLimiter margin={self.margin} budgets={len(self._buckets)}>"

    def _bucket(self, key: LimitKey, rule: RateLimit) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_idle:
                self._evict_idle()
            rtt = RttFloor(self.rtt_fraction) if self.rtt_fraction else None
            bucket = self._buckets[key] = _Bucket(key, SlidingWindow(rule, self.margin, rtt))
        return bucket

    def _evict_idle(self) -> None:
        now = time.monotonic()
        with contextlib.suppress(RuntimeError):
            now = asyncio.get_running_loop().time()
        for key in [k for k, b in self._buckets.items() if b.quiet(now)]:
            self._buckets.pop(key).forget()

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        return _MemoryPermit(self, key, rule, lifetime)

    async def aclose(self) -> None:
        """Nothing to close; here for the :class:`Limiter` interface."""

    def budget(self, key: LimitKey) -> SlidingWindow | None:
        """The live arithmetic of one budget, for inspection and tests."""
        bucket = self._buckets.get(key)
        return bucket.window if bucket else None


_default_limiter: MemoryLimiter | None = None


def default_limiter() -> MemoryLimiter:
    """The process-wide registry of budgets that clients share unless given another."""
    global _default_limiter  # noqa: PLW0603 - one registry per process is the point
    if _default_limiter is None:
        _default_limiter = MemoryLimiter()
    return _default_limiter
