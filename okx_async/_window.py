"""The pure arithmetic of one rate-limit budget, with time passed in: no clock, no I/O."""

from __future__ import annotations

import math
from collections import deque

import attrs

#: Added to every window: room for clock granularity on the server side.
DEFAULT_MARGIN = 0.02


@attrs.frozen
class RateLimit:
    """A rule of the form "``requests`` per ``window`` seconds"."""

    requests: int = attrs.field(validator=attrs.validators.gt(0))
    window: float = attrs.field(validator=attrs.validators.gt(0))



class SlidingWindow:
    """The pure arithmetic of one budget, with time passed in: no clock, no I/O.

    A slot is *in flight* from grant to completion, then *cooling* until
    ``completion + window + margin``. A new grant needs fewer than ``requests``
    slots in flight or cooling, the pause (after a 50011) to be over and, once
    switched to even pacing, ``pace`` seconds since the last grant.

    The first ``requests`` grants go at once. The next ``requests`` grants, which
    reuse cooled slots, are *probes*: each goes alone, once the one before it was
    answered. A server that counts with a sliding-window counter rejects a refilled
    burst part-way through; met one request at a time, that costs one rejection
    rather than a burst of them. Once a whole window's worth of probes was accepted,
    refilled slots go out together again.
    """

    __slots__ = (
        "_cooling", "_fresh", "_probes_left", "_probing", "bursts_ok", "in_flight",
        "last_grant", "margin", "pace", "paused_until", "rule",
    )

    def __init__(self, rule: RateLimit, margin: float = DEFAULT_MARGIN) -> None:
        self.rule = rule
        self.margin = margin
        #: Requests granted and not finished yet.
        self.in_flight = 0
        #: When each finished slot becomes free; ascending, since completions are.
        self._cooling: deque[float] = deque()
        self.paused_until = -math.inf
        #: Minimum spacing between grants, or 0 for bursts.
        self.pace = 0.0
        self.last_grant = -math.inf
        #: Grants left in the first burst, which needs no probe.
        self._fresh = rule.requests
        #: Accepted probes still needed before refilled bursts are trusted.
        self._probes_left = rule.requests
        #: A probe is in flight; nothing else is granted until it is answered.
        self._probing = False
        #: The server accepted enough probes, so refilled slots may go out together.
        self.bursts_ok = False

    def ready_at(self, now: float) -> float:
        """The earliest time a new grant is allowed; ``inf`` until a request finishes."""
        cooling = self._cooling
        while cooling and cooling[0] <= now:
            cooling.popleft()
        if self._probing:
            return math.inf
        if self.in_flight + len(cooling) < self.rule.requests:
            at = now
        elif cooling:
            at = cooling[0]
        else:
            return math.inf
        return max(at, self.paused_until, self.last_grant + self.pace)

    def grant(self, now: float) -> bool:
        """Take a slot; call only when ``ready_at(now) <= now``. True if it is the probe."""
        self.in_flight += 1
        self.last_grant = now
        if self._fresh:
            self._fresh -= 1
            return False
        if self.bursts_ok or self.pace:
            return False
        self._probing = True
        return True

    def finish(self, now: float, *, probe: bool = False, accepted: bool = True) -> None:
        """The request of a granted slot is over: it may have reached the server until now.

        ``accepted`` says the server let the request through its rate limit.
        """
        self.in_flight -= 1
        self._cooling.append(now + self.rule.window + self.margin)
        if probe:
            self._probing = False
            if accepted:
                self._probes_left -= 1
                self.bursts_ok = self._probes_left <= 0

    def give_back(self, *, probe: bool = False) -> None:
        """A granted slot was never used to send anything."""
        self.in_flight -= 1
        if probe:
            self._probing = False

    def pause(self, now: float) -> None:
        """Hold every grant for a whole window: the server says we are over."""
        self.paused_until = max(self.paused_until, now + self.rule.window + self.margin)

    def pace_evenly(self) -> None:
        """Space grants evenly, for servers that punish bursts (sliding-window counters)."""
        self.pace = (self.rule.window + self.margin) / self.rule.requests

    def idle(self, now: float) -> bool:
        """True when forgetting this budget would change nothing."""
        return self.in_flight == 0 and self.ready_at(now) <= now and self.pace == 0.0
