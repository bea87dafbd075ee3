"""Server-side rate-limit algorithms, pure arithmetic over explicit ``now`` values.

Each one answers ``try_acquire(now) -> bool`` for one bucket key and records the
acquisition when it says yes. None of them reads a clock, so the tests drive them with
made-up times and never sleep.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Literal, Protocol

AlgorithmName = Literal["sliding-log", "fixed-window", "token-bucket", "sliding-window-counter"]

#: Float slack for comparisons that are exact in real numbers, e.g. a refill of
#: ``0.4 * 5 / 2.0`` tokens, so a schedule that is exactly on the limit is not refused
#: because of rounding.
_EPSILON = 1e-9


class RateLimitAlgorithm(Protocol):
    """One bucket's limiter: admits or refuses a request at time ``now``."""

    def try_acquire(self, now: float) -> bool:
        """Take one unit of budget at ``now`` and return True, or return False."""
        ...

    def idle(self, now: float) -> bool:
        """Return True when this state equals a fresh one, so it may be dropped."""
        ...


class SlidingLog:
    """At most ``limit`` accepted requests in any half-open window ``(t - window, t]``.

    The strictest reading of "N per W"::

        >>> log = SlidingLog(2, 1.0)
        >>> [log.try_acquire(t) for t in (0.0, 0.5, 0.9, 1.0)]
        [True, True, False, True]
    """

    __slots__ = ("_limit", "_times", "_window")

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        #: Accepted times still inside the window; never longer than ``limit``.
        self._times: deque[float] = deque()

    def try_acquire(self, now: float) -> bool:
        """Accept unless ``limit`` accepted times already lie in ``(now - window, now]``."""
        times = self._times
        horizon = now - self._window
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= self._limit:
            return False
        times.append(now)
        return True

    def idle(self, now: float) -> bool:
        """True once every accepted time has left the window."""
        return not self._times or self._times[-1] <= now - self._window

    def __repr__(self) -> str:
        return f"SlidingLog(limit={self._limit}, window={self._window}, held={len(self._times)})"


class FixedWindow:
    """At most ``limit`` per window ``[origin + k*window, origin + (k+1)*window)``."""

    __slots__ = ("_count", "_index", "_limit", "_origin", "_window")

    def __init__(self, limit: int, window: float, origin: float = 0.0) -> None:
        self._limit = limit
        self._window = window
        self._origin = origin
        self._index = -1
        self._count = 0

    def try_acquire(self, now: float) -> bool:
        """Accept unless the current window already holds ``limit`` requests."""
        index = math.floor((now - self._origin) / self._window)
        if index != self._index:
            self._index = index
            self._count = 0
        if self._count >= self._limit:
            return False
        self._count += 1
        return True

    def idle(self, now: float) -> bool:
        """True once the window that holds the count has ended."""
        return math.floor((now - self._origin) / self._window) != self._index

    def __repr__(self) -> str:
        return f"FixedWindow(limit={self._limit}, window={self._window}, count={self._count})"


class TokenBucket:
    """Capacity ``limit``, refilled continuously at ``limit / window`` per second, starts full."""

    __slots__ = ("_last", "_limit", "_rate", "_tokens")

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._rate = limit / window
        self._tokens = float(limit)
        #: Time of the last refill; None until the first request, so the bucket is
        #: full when its first request arrives whatever the clock says.
        self._last: float | None = None

    def try_acquire(self, now: float) -> bool:
        """Refill for the time elapsed, then take one token if there is one."""
        if self._last is not None:
            elapsed = max(0.0, now - self._last)
            self._tokens = min(float(self._limit), self._tokens + elapsed * self._rate)
        self._last = now
        if self._tokens + _EPSILON < 1.0:
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        return True

    def idle(self, now: float) -> bool:
        """True once the bucket would be full again."""
        if self._last is None:
            return True
        refilled = self._tokens + max(0.0, now - self._last) * self._rate
        return refilled + _EPSILON >= self._limit

    def __repr__(self) -> str:
        return f"TokenBucket(limit={self._limit}, rate={self._rate}, tokens={self._tokens:.3f})"


class SlidingWindowCounter:
    """The two-bucket approximation API gateways use, windows aligned to ``origin``.

    ``estimate = prev_count * (1 - elapsed_in_current / window) + cur_count``; a request
    is refused when ``floor(estimate) + 1 > limit``. The floor is what the ``limits``
    library (and the Redis recipes it follows) does: whole requests are counted, and
    without it a client evenly paced at ``window / limit`` would be refused in steady
    state even though no true window ever holds more than ``limit``.
    """

    __slots__ = ("_cur", "_index", "_limit", "_origin", "_prev", "_window")

    def __init__(self, limit: int, window: float, origin: float = 0.0) -> None:
        self._limit = limit
        self._window = window
        self._origin = origin
        self._index = 0
        self._prev = 0
        self._cur = 0

    def _roll(self, now: float) -> float:
        """Move to the window holding ``now``; return the time elapsed inside it."""
        offset = now - self._origin
        index = math.floor(offset / self._window)
        if index != self._index:
            self._prev = self._cur if index == self._index + 1 else 0
            self._cur = 0
            self._index = index
        return offset - index * self._window

    def estimate(self, now: float) -> float:
        """The weighted count the next decision at ``now`` would use."""
        elapsed = self._roll(now)
        return self._prev * (1.0 - elapsed / self._window) + self._cur

    def try_acquire(self, now: float) -> bool:
        """Accept unless counting this request would push the estimate past ``limit``."""
        if math.floor(self.estimate(now) + _EPSILON) + 1 > self._limit:
            return False
        self._cur += 1
        return True

    def idle(self, now: float) -> bool:
        """True once both counted windows are in the past."""
        return math.floor((now - self._origin) / self._window) > self._index + 1 or (
            self._prev == 0 and self._cur == 0
        )

    def __repr__(self) -> str:
        return (
            f"SlidingWindowCounter(limit={self._limit}, window={self._window}, "
            f"prev={self._prev}, cur={self._cur})"
        )


def make_algorithm(
    name: AlgorithmName, limit: int, window: float, origin: float = 0.0
) -> RateLimitAlgorithm:
    """Build a fresh limiter state for one bucket key."""
    if name == "sliding-log":
        return SlidingLog(limit, window)
    if name == "fixed-window":
        return FixedWindow(limit, window, origin)
    if name == "token-bucket":
        return TokenBucket(limit, window)
    if name == "sliding-window-counter":
        return SlidingWindowCounter(limit, window, origin)
    raise ValueError(f"unknown rate-limit algorithm: {name!r}")


def max_in_any_window(times: Iterable[float], window: float) -> int:
    """Return the most timestamps that fall in any half-open window ``(t - window, t]``.

    This is the test the sliding-log server applies, so a schedule with
    ``max_in_any_window(times, W) <= N`` is never refused by it::

        >>> max_in_any_window([0.0, 1.0, 2.0, 2.5], 2.0)
        3
    """
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        # Only windows ending at a timestamp matter: sliding the right edge to the
        # next timestamp can only add points.
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def least_time_beside(foreign: list[float], n: int, limit: int, window: float) -> float:
    """When the ``n``-th of our requests can arrive at the earliest (from 0), beside
    ``foreign`` arrivals, never more than ``limit`` of all in any window: greedy."""
    ours: list[float] = []

    def fits(t: float) -> bool:
        times = sorted([*foreign, *ours, t])
        return all(
            sum(1 for u in times if s - window < u <= s) <= limit
            for s in times if t <= s < t + window
        )

    while len(ours) < n:
        last = ours[-1] if ours else 0.0
        candidates = sorted(
            {last} | {u + window + 1e-9 for u in [*foreign, *ours] if u + window > last}
        )
        ours.append(next(t for t in candidates if fits(t)))
    return ours[-1]
