"""Rate limiting per ``(user id, endpoint)``: the interface and the in-memory limiter.

The guarantee: never more than ``rule.requests`` requests *arrive at the server*
inside any window of ``rule.window`` seconds, and no request waits longer than that
needs.

Why slots are anchored at the response: a request reaches the server some unknown
time after we send it, so counting send times is not enough once the network
jitters. The server received a request no later than the moment its answer reached
us, so a slot is held while its request is in flight and becomes free again
``window + margin`` after the request finished (answer, error, timeout or
cancellation, whichever came first). The cost is about one round trip per window.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
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
    """A :class:`SlidingWindow` with a FIFO of waiting tasks, woken by one timer."""

    __slots__ = ("_timer", "_timer_at", "_waiters", "key", "window")

    def __init__(self, key: LimitKey, window: SlidingWindow) -> None:
        self.key = key
        self.window = window
        self._waiters: deque[asyncio.Future[tuple[bool, float]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __repr__(self) -> str:
        w = self.window
        return (
            f"<_Bucket {self.key.user_id}:{self.key.endpoint} in_flight={w.in_flight} "
            f"waiters={len(self._waiters)} pace={w.pace}>"
        )

    async def acquire(self) -> tuple[bool, float]:
        """Wait for a slot; return whether the grant is a probe, and when it was made."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiters and self.window.ready_at(now) <= now:
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
                self.window.give_back(probe=waiter.result()[0])
            else:
                self._waiters.remove(waiter)
            self._wake(loop)
            raise

    def release(self, outcome: Outcome, *, probe: bool, granted_at: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Only an answer bounds when the server counted the request.
        answered = granted_at if outcome is not Outcome.UNKNOWN else None
        self.window.finish(
            now, probe=probe, accepted=outcome is Outcome.ACCEPTED, granted_at=answered
        )
        if outcome is Outcome.THROTTLED:
            # Before anyone else is granted: the next in line must not go out now.
            self._throttle(now, answered)
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
            at = self.window.ready_at(now)
            if at > now:
                break
            waiters.popleft().set_result((self.window.grant(now), now))
        if waiters and at != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
            if at < math.inf:
                self._timer = loop.call_at(at, self._on_timer, loop)
                self._timer_at = at

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        self._wake(loop)

    def busy(self, now: float) -> bool:
        return bool(self._waiters) or not self.window.idle(now)


class _MemoryPermit:
    __slots__ = ("_bucket", "_granted", "_outcome", "_probe")

    def __init__(self, bucket: _Bucket) -> None:
        self._bucket = bucket
        self._probe = False
        self._outcome = Outcome.UNKNOWN
        self._granted = 0.0

    def finish(self, outcome: Outcome) -> None:
        self._outcome = outcome

    async def __aenter__(self) -> None:
        self._probe, self._granted = await self._bucket.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bucket.release(self._outcome, probe=self._probe, granted_at=self._granted)


class MemoryLimiter:
    """The in-process limiter; one is shared by every client of the process.

    Example::

        limiter = MemoryLimiter()
        async with limiter.slot(LimitKey("123", "/api/v5/x"), RateLimit(5, 2)):
            ...  # send one request

    Idle budgets are forgotten once there are more than ``max_idle`` of them, so a
    long-running process keeps a flat footprint.
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
        if bucket is None or bucket.window.rule != rule:
            # A changed rule starts afresh: the old arithmetic no longer applies.
            if len(self._buckets) >= self.max_idle:
                self._evict_idle()
            rtt = RttFloor(self.rtt_fraction) if self.rtt_fraction else None
            bucket = self._buckets[key] = _Bucket(key, SlidingWindow(rule, self.margin, rtt))
        return bucket

    def _evict_idle(self) -> None:
        now = asyncio.get_running_loop().time()
        for key in [k for k, b in self._buckets.items() if not b.busy(now)]:
            del self._buckets[key]

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        return _MemoryPermit(self._bucket(key, rule))

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
