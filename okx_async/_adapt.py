"""What a budget learns from the network, with time passed in: no clock, no I/O.

- :class:`RttFloor`: a lower bound on the fixed part of the round trip, from the
  fastest recent answers, which a slot may subtract from its cooling time.
- :class:`Backoff`: multiplicative slow-down of even pacing after repeated 50011s,
  with slow recovery, for a budget shared with traffic we cannot see.

The reasoning and the assumptions are in docs/limiter.md ("Anchoring earlier than
the answer").
"""

from __future__ import annotations

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
RECOVERY_STEP = 0.04


class Backoff:
    """A multiplier (>= 1) on a budget's even pace: AIMD on rejections and acceptances.

    >>> b = Backoff(); b.rejected(); b.rejected(); b.factor
    2.25
    >>> for _ in range(10): b.accepted()
    >>> round(b.factor, 2)
    1.85
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
