"""Rate limiting per ``(user id, endpoint)``: the interface and the in-memory limiter.

The guarantee of :class:`MemoryLimiter`: never more than ``rule.requests`` requests
*arrive at the server* inside any window of ``rule.window`` seconds, and no request
waits longer than that needs. With the round-trip credit (``rtt_fraction``, 0.75 by
default) it holds under assumption A of docs/limiter.md: the fastest round trip
answered in the last minute exceeds the path's fixed part (least time there plus
least time back) by at most a third of it. ``MemoryLimiter(rtt_fraction=0)`` holds it
whatever the network does.

Why slots are anchored at the response: a request reaches the server some unknown
time after we send it, so counting send times is not enough once the network
jitters. The server received a request no later than the moment its answer reached
us, so a slot is held while its request is in flight and becomes free again
``window + margin`` after the request finished (answer, error or timeout). A request
abandoned mid-flight (cancelled) may still arrive until its own timeout, so it is
held until ``grant + lifetime + window + margin``. The cost is about one round trip
per window, which the credit wins back: an accepted answer's slot frees up to
``rtt_fraction`` times the fastest recent round trip earlier, since the server
counted the request at least the trip back before the answer arrived, and the next
request takes at least the trip there. The first 50011 turns the credit off for that
budget.

One :class:`MemoryLimiter`, the process-wide one included, serves any number of
threads, each running its own event loop: one budget per user across all of them,
served first in, first out (``_bucket.py`` says how).
"""

from __future__ import annotations

import asyncio
import enum
import math
import threading
from types import TracebackType
from typing import Protocol, runtime_checkable

import attrs

from ._adapt import DEFAULT_RTT_FRACTION, RttFloor
from ._bucket import Bucket, _LoopState
from ._window import DEFAULT_MARGIN, RateLimit, SlidingWindow


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
    #: Nothing reached the server (no connection could be opened): the slot is free
    #: again at once, as if never granted.
    NOT_SENT = "not sent"


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
    grants another slot. :attr:`Outcome.NOT_SENT` means no connection opened, so
    nothing reached the server: the slot may be used again at once (a limiter that
    counts it as :attr:`Outcome.UNKNOWN` is merely slower).

    ``lifetime`` is how long after the grant the request, once sent, may still reach
    the server (the transport's total timeout). A permit left without
    :meth:`Permit.finish`, say by a cancellation mid-request, is counted as if the
    request arrived as late as ``grant + lifetime``; with ``None``, as late as the
    moment it was left.
    """

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        ...

    async def aclose(self) -> None: ...


class _MemoryPermit:
    __slots__ = ("_bucket", "_granted", "_key", "_lifetime", "_limiter", "_outcome", "_probe",
                 "_rule", "_state")

    def __init__(
        self, limiter: MemoryLimiter, key: LimitKey, rule: RateLimit, lifetime: float | None
    ) -> None:
        self._limiter = limiter
        self._key = key
        self._rule = rule
        self._lifetime = lifetime
        self._bucket: Bucket | None = None
        self._state: _LoopState | None = None
        self._probe = False
        self._granted = -math.inf
        self._outcome: Outcome | None = None

    def finish(self, outcome: Outcome) -> None:
        self._outcome = outcome

    async def __aenter__(self) -> None:
        # Looked up here, not in slot(): an evicted bucket must not be waited on.
        bucket = self._bucket = self._limiter._bucket(self._key, self._rule)
        self._state, self._probe, self._granted = await bucket.acquire(self._rule)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._bucket is not None and self._state is not None
        outcome, until = self._outcome, -math.inf
        if outcome is Outcome.NOT_SENT:
            self._bucket.give_back(self._state, probe=self._probe, granted_at=self._granted)
            return
        if outcome is None:
            # Left mid-request: the request may still reach the server until its end.
            outcome = Outcome.UNKNOWN
            if self._lifetime is not None:
                until = self._granted + self._lifetime
        self._bucket.release(
            self._state, accepted=outcome is Outcome.ACCEPTED,
            throttled=outcome is Outcome.THROTTLED, probe=self._probe, until=until,
            # Only an answer bounds when the server counted the request.
            answered_at_grant=self._granted if outcome is not Outcome.UNKNOWN else None,
        )


class MemoryLimiter:
    """The in-process limiter; one is shared by every client of the process.

    Never more than ``rule.requests`` arrivals in any ``rule.window`` per key: with
    the round-trip credit (``rtt_fraction > 0``) under assumption A of
    docs/limiter.md, with ``rtt_fraction=0`` whatever the network does.

    Example::

        limiter = MemoryLimiter()
        async with limiter.slot(LimitKey("123", "/api/v5/x"), RateLimit(5, 2)):
            ...  # send one request

    Budgets that have fully cooled are forgotten once there are more than
    ``max_idle`` of them, so a long-running process keeps a flat footprint.

    Safe to share between threads, each running its own event loop (a sync wrapper,
    a thread pool calling ``asyncio.run()``): they draw on the same budgets, and a
    waiter is woken on its own loop.
    """

    __slots__ = ("_buckets", "_lock", "margin", "max_idle", "rtt_fraction")

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
        self._buckets: dict[LimitKey, Bucket] = {}
        #: Guards the registry and every bucket in it, for threads with loops of their own.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemoryLimiter margin={self.margin} budgets={len(self._buckets)}>"

    def _bucket(self, key: LimitKey, rule: RateLimit) -> Bucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_idle:
                    self._evict_idle()
                rtt = RttFloor(self.rtt_fraction) if self.rtt_fraction else None
                window = SlidingWindow(rule, self.margin, rtt)
                bucket = self._buckets[key] = Bucket(key, window, self._lock)
            return bucket

    def _evict_idle(self) -> None:
        """Forget every quiet bucket; under the lock, in a running loop."""
        loop = asyncio.get_running_loop()
        for key, bucket in list(self._buckets.items()):
            if bucket.quiet(bucket._time(loop)):
                self._buckets.pop(key).forget(loop)

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        return _MemoryPermit(self, key, rule, lifetime)

    async def aclose(self) -> None:
        """Nothing to close; here for the :class:`Limiter` interface."""

    def budget(self, key: LimitKey) -> SlidingWindow | None:
        """The live arithmetic of one budget, for inspection and tests."""
        bucket = self._buckets.get(key)
        return bucket.window if bucket else None


_default_limiter: MemoryLimiter | None = None
_default_lock = threading.Lock()


def default_limiter() -> MemoryLimiter:
    """The process-wide registry of budgets that clients share unless given another.

    Safe from any thread: every thread's clients draw on the same budgets.
    """
    global _default_limiter  # noqa: PLW0603 - one registry per process is the point
    limiter = _default_limiter
    if limiter is None:
        with _default_lock:
            limiter = _default_limiter
            if limiter is None:
                limiter = _default_limiter = MemoryLimiter()
    return limiter
