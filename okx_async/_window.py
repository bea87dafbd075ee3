"""The pure arithmetic of one rate-limit budget, with time passed in: no clock, no I/O."""

from __future__ import annotations

import bisect
import math

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

    A completion may lie in the future: a request abandoned mid-flight is held as
    if it reached the server as late as it still could (:meth:`finish` with that
    time). Several rules may be in force at once (:meth:`use`), when clients of one
    user disagree; a grant must then satisfy every one of them, so the strictest
    governs each window.

    The first ``requests`` grants go at once. The next ``requests`` grants, which
    reuse cooled slots, are *probes*: each goes alone, once the one before it was
    answered. A server that counts with a sliding-window counter rejects a refilled
    burst part-way through; met one request at a time, that costs one rejection
    rather than a burst of them. Once a whole window's worth of probes was accepted,
    refilled slots go out together again.
    """

    __slots__ = (
        "_ends", "_fresh", "_longest", "_probes_left", "_probing", "_rules", "bursts_ok",
        "in_flight", "last_grant", "margin", "pace", "paused_until", "rule",
    )

    def __init__(self, rule: RateLimit, margin: float = DEFAULT_MARGIN) -> None:
        #: The rule most recently asked for; :attr:`rules` holds every rule in force.
        self.rule = rule
        self.margin = margin
        self._rules: tuple[RateLimit, ...] = (rule,)
        self._longest = rule.window + margin
        #: Requests granted and not finished yet.
        self.in_flight = 0
        #: When each finished request may last have reached the server, ascending.
        self._ends: list[float] = []
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

    @property
    def rules(self) -> tuple[RateLimit, ...]:
        """Every rule in force; a grant satisfies all of them."""
        return self._rules

    def use(self, rule: RateLimit, now: float, *, waiting: bool = False) -> None:
        """Govern by ``rule`` too, from ``now``, keeping the accounting.

        A rule stays in force, next to the ones already there, until the budget is
        quiet (:meth:`idle`) with nobody ``waiting`` under it: the requests counted
        under the old rule still count.
        """
        self.rule = rule
        if self._rules == (rule,):
            return
        if not waiting and self.idle(now):
            self._rules = (rule,)
        elif rule not in self._rules:
            self._rules = (*self._rules, rule)
        else:
            return
        self._longest = max(r.window for r in self._rules) + self.margin
        self._fresh = min(self._fresh, rule.requests)
        self._probes_left = min(self._probes_left, rule.requests)
        if self.pace:
            self.pace_evenly()

    def _cooled(self, now: float) -> None:
        """Forget the finished requests that no rule counts any more."""
        longest = self._longest
        gone = bisect.bisect_right(self._ends, now, key=lambda end: end + longest)
        if gone:
            del self._ends[:gone]

    def ready_at(self, now: float) -> float:
        """The earliest time a new grant is allowed; ``inf`` until a request finishes."""
        self._cooled(now)
        if self._probing:
            return math.inf
        ends = self._ends
        at = max(now, self.paused_until, self.last_grant + self.pace)
        for rule in self._rules:
            cool = rule.window + self.margin
            # The same sum as the time returned below, so a timer set for it frees it.
            first_live = bisect.bisect_right(ends, now, key=lambda end: end + cool)
            held = self.in_flight + len(ends) - first_live
            if held < rule.requests:
                continue
            # held - requests + 1 of the cooling slots must come back, oldest first.
            index = first_live + held - rule.requests
            if index >= len(ends):
                return math.inf
            at = max(at, ends[index] + cool)
        return at

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

        ``now`` may lie in the future, for a request that may still arrive after it
        was abandoned. ``accepted`` says the server let the request through its limit.
        """
        self.in_flight -= 1
        bisect.insort(self._ends, now)
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
        self.paused_until = max(self.paused_until, now + self._longest)

    def pace_evenly(self) -> None:
        """Space grants evenly, for servers that punish bursts (sliding-window counters)."""
        self.pace = max((r.window + self.margin) / r.requests for r in self._rules)

    def idle(self, now: float) -> bool:
        """True when forgetting this budget would change nothing the rules count.

        Nothing in flight or cooling, no pause. The pacing learnt after a 50011 is
        forgotten with it: a quiet budget starts again with a burst.
        """
        self._cooled(now)
        return (
            self.in_flight == 0 and not self._ends and self.paused_until <= now
            and not self._probing
        )

    def abandon(self, count: int, now: float) -> None:
        """``count`` requests in flight will never be finished: they cool from ``now``."""
        self.in_flight -= count
        for _ in range(count):
            bisect.insort(self._ends, now)
        self._probing = False
