"""What a budget learns from the network, with time passed in: no clock, no I/O.

- :class:`RttFloor`: a lower bound on the fixed part of the round trip, from the
  fastest recent answers, which a slot may subtract from its cooling time.
- :class:`Backoff`: multiplicative slow-down of even pacing after repeated 50011s,
  with slow recovery, for a budget shared with traffic we cannot see.

The reasoning and the assumptions are in docs/limiter.md ("Anchoring earlier than
the answer").
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections import deque

#: The share of the fastest recent round trip taken as the path's fixed part.
DEFAULT_RTT_FRACTION = 0.75
#: How long a round-trip sample counts, so a route change is noticed.
DEFAULT_RTT_HORIZON = 60.0


class RttFloor:
    """``fraction`` times the fastest round trip answered within the last ``horizon`` s.

    A sliding-window minimum: the deque holds ``(time, rtt)`` with rising ``rtt``,
    so the front is the minimum and each sample is added and dropped once.

    >>> floor = RttFloor(fraction=0.5, horizon=10.0)
    >>> floor.observe(0.0, 0.2); floor.observe(1.0, 0.3); floor.credit(1.0)
    0.1
    >>> floor.credit(10.5)  # the 0.2 s sample is older than the horizon
    0.15
    """

    __slots__ = ("_samples", "fraction", "horizon")

    def __init__(
        self, fraction: float = DEFAULT_RTT_FRACTION, horizon: float = DEFAULT_RTT_HORIZON
    ) -> None:
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
        if horizon <= 0:
            raise ValueError(f"horizon must be positive, got {horizon!r}")
        self.fraction = fraction
        self.horizon = horizon
        self._samples: deque[tuple[float, float]] = deque()

    def observe(self, now: float, rtt: float) -> None:
        """An answer came back ``rtt`` seconds after its request was granted."""
        samples = self._samples
        while samples and samples[-1][1] >= rtt:
            samples.pop()
        samples.append((now, rtt))

    def minimum(self, now: float) -> float:
        """The fastest round trip within the horizon; ``inf`` without one."""
        samples = self._samples
        horizon = now - self.horizon
        while samples and samples[0][0] < horizon:
            samples.popleft()
        return samples[0][1] if samples else math.inf

    def credit(self, now: float) -> float:
        """Seconds a slot answered at ``now`` may be freed earlier than ``answer + window``."""
        fastest = self.minimum(now)
        return 0.0 if fastest == math.inf else self.fraction * fastest


#: Each 50011 met while already pacing multiplies the spacing by this...
BACKOFF_FACTOR = 1.5
#: ...up to this many times the even pace (one request per ~3 windows at N = 5)...
BACKOFF_CAP = 16.0
#: ...and each accepted request takes this much of the multiplier back off.
RECOVERY_STEP = 0.02


class Backoff:
    """A multiplier (>= 1) on a budget's even pace: AIMD on rejections and acceptances.

    >>> b = Backoff()
    >>> b.rejected(), b.rejected()
    (1.5, 2.25)
    >>> [round(b.accepted(), 2) for _ in range(10)][-1]
    2.05
    """

    __slots__ = ("factor",)

    def __init__(self) -> None:
        self.factor = 1.0

    def rejected(self) -> float:
        """The server still said 50011: slow down; returns the new factor."""
        self.factor = min(self.factor * BACKOFF_FACTOR, BACKOFF_CAP)
        return self.factor

    def accepted(self) -> float:
        """One request got through: recover a little; returns the new factor."""
        self.factor = max(1.0, self.factor - RECOVERY_STEP)
        return self.factor


#: Window boundaries a sliding-window counter could have, per window: the resolution
#: of the detector. More costs CPU per refilled grant until the suspicion is cleared.
SWC_PHASES = 24
_EPSILON = 1e-9


class SwcSuspect:
    """Is the server perhaps a sliding-window counter, and would it refuse a request now?

    A sliding-window counter (``prev * (1 - elapsed / window) + cur``, windows
    aligned to an origin we cannot see) refuses a refilled burst part-way through,
    where a sliding log accepts it. Each possible origin (``phases`` of them per
    window) is a hypothesis. A request that some remaining hypothesis would refuse
    is *risky*; the window lets only one risky request be in flight at a time, so a
    counter costs about one rejection before the budget switches to even pacing (the
    origins are a grid, so a request near the real counter's edge can cost a second).
    Every accepted request rules out the hypotheses that would have refused it;
    once none is left, nothing is risky any more.

    Times are when requests were granted: a request arrives later, but a common
    delay only shifts the origin, which is unknown anyway.

    >>> s = SwcSuspect(5, 2.0)
    >>> for _ in range(5): s.sent(0.0)
    >>> s.risky(2.1)  # the first refilled request: every counter accepts it
    False
    >>> s.sent(2.1); s.risky(2.1)  # the second may meet a window that just began
    True
    """

    __slots__ = ("_origins", "_sent", "limit", "window")

    def __init__(self, limit: int, window: float, phases: int = SWC_PHASES) -> None:
        self.limit = limit
        self.window = window
        self._origins = [window * i / phases for i in range(phases)]
        #: Grant times of requests not refused, oldest first (two windows' worth).
        self._sent: deque[float] = deque()

    def for_rule(self, limit: int, window: float) -> SwcSuspect:
        """A fresh suspicion under another rule, keeping what was sent."""
        other = SwcSuspect(limit, window)
        other._sent = self._sent.copy()
        return other

    @property
    def cleared(self) -> bool:
        """No counter fits what the server accepted: bursts are safe."""
        return not self._origins

    def sent(self, t: float) -> None:
        """A request was granted at ``t`` (grant times never go backwards)."""
        sent = self._sent
        sent.append(t)
        horizon = t - 2 * self.window
        while sent[0] < horizon:
            sent.popleft()

    def refused(self, t: float) -> None:
        """The request granted at ``t`` was refused: the server did not count it."""
        with contextlib.suppress(ValueError):
            self._sent.remove(t)

    def accepted(self, t: float) -> None:
        """The request granted at ``t`` was accepted: drop every origin that refuses it."""
        if self._origins:
            self._origins = [o for o in self._origins if not self._refuses(o, t, before=True)]

    def risky(self, t: float) -> bool:
        """Would any remaining origin refuse one more request at ``t``?"""
        return any(self._refuses(o, t, before=False) for o in self._origins)

    def _refuses(self, origin: float, t: float, *, before: bool) -> bool:
        window = self.window
        start = origin + math.floor((t - origin) / window) * window
        sent = self._sent
        # ``before``: the request at ``t`` is itself in the log; count only earlier ones.
        end = bisect.bisect_left(sent, t) if before else bisect.bisect_right(sent, t)
        cur_from = bisect.bisect_left(sent, start, 0, end)
        prev_from = bisect.bisect_left(sent, start - window, 0, cur_from)
        estimate = (cur_from - prev_from) * (1.0 - (t - start) / window) + (end - cur_from)
        return math.floor(estimate + _EPSILON) + 1 > self.limit
