"""The pure arithmetic of one rate-limit budget, with time passed in: no clock, no I/O."""

from __future__ import annotations

import bisect
import math

import attrs

from ._adapt import Backoff, RttFloor, SwcSuspect

#: Added to every window: room for clock granularity on the server side.
DEFAULT_MARGIN = 0.02
#: Finished requests stay in the accounting at least this long, so that a rule which
#: joins later with a longer window (another client of the user) still counts them.
HISTORY = 60.0


@attrs.frozen
class RateLimit:
    """A rule of the form "``requests`` per ``window`` seconds"."""

    requests: int = attrs.field(validator=attrs.validators.gt(0))
    window: float = attrs.field(validator=attrs.validators.gt(0))



class SlidingWindow:
    """The pure arithmetic of one budget, with time passed in: no clock, no I/O.

    A slot is *in flight* from grant to completion, then *cooling* until
    ``completion + window + margin``, less the round-trip credit below. A new grant
    needs fewer than ``requests`` slots in flight or cooling, the pause (after a
    50011) to be over and, once switched to even pacing, ``pace`` seconds since the
    last grant.

    A completion may lie in the future: a request abandoned mid-flight is held as
    if it reached the server as late as it still could (:meth:`finish` with that
    time). Several rules may be in force at once (:meth:`use`), when clients of one
    user disagree; a grant must then satisfy every one of them, so the strictest
    governs each window.

    The first ``requests`` grants go at once. Later grants are checked against every
    sliding-window counter that fits what the server accepted so far
    (:class:`SwcSuspect`): a grant one of them would refuse is a *probe*, and only
    one probe is in flight at a time, or one per ``(window + margin) / requests``
    seconds if answers are slow. A counter thus costs about one rejection (two at
    most in the tests), and refilled bursts go out together once no counter fits.

    A slot whose request was answered and accepted cools ``rtt.credit`` seconds
    earlier: the server counted the request at least the answer's trip back before
    the answer arrived, and the next request takes at least the trip there. That
    keeps the rule only under assumption A (docs/limiter.md, "Anchoring earlier than
    the answer"); without ``rtt`` every slot is anchored at its answer. Only round trips of
    requests granted after the budget's first answer are sampled, so a connection's
    set-up is not mistaken for the path. After a 50011 the budget anchors at the
    answer again, for good.
    """

    __slots__ = (
        "_anchor_fully", "_ends", "_first_answer", "_fresh", "_longest", "_probe_pace",
        "_probing", "_rules", "_throttled_at", "_undo", "backoff", "in_flight", "last_grant",
        "margin", "pace", "paused_until", "rtt", "rule", "suspect",
    )

    def __init__(
        self, rule: RateLimit, margin: float = DEFAULT_MARGIN, rtt: RttFloor | None = None
    ) -> None:
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
        #: Even spacing under every rule in force: probes' and pacing's unit.
        self._probe_pace = (rule.window + margin) / rule.requests
        #: The sliding-window counters that still fit what the server accepted.
        self.suspect = SwcSuspect(rule.requests, rule.window)
        #: A probe is in flight: the next risky grant waits for its answer (or pace).
        self._probing = False
        #: The round-trip floor this budget subtracts; None anchors at the answer.
        self.rtt = rtt
        #: When the first answer came back; later grants ride a kept-alive connection.
        self._first_answer = math.inf
        #: A 50011 was seen: no more round-trip credit for this budget.
        self._anchor_fully = False
        #: The slow-down of even pacing after repeated 50011s (foreign traffic).
        self.backoff = Backoff()
        self._throttled_at = -math.inf
        #: The latest grant's time and what it changed, for :meth:`give_back`.
        self._undo = (math.nan, -math.inf, False)

    @property
    def rules(self) -> tuple[RateLimit, ...]:
        """Every rule in force; a grant satisfies all of them."""
        return self._rules

    @property
    def longest(self) -> float:
        """The longest window in force, with the margin: how long any slot cools."""
        return self._longest

    @property
    def bursts_ok(self) -> bool:
        """No sliding-window counter fits the server's answers: refills go out together."""
        return self.suspect.cleared

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
        self._probe_pace = max((r.window + self.margin) / r.requests for r in self._rules)
        strictest = min(self._rules, key=lambda r: r.requests / r.window)
        self.suspect = self.suspect.for_rule(strictest.requests, strictest.window)
        if self.pace:
            self.pace_evenly()

    def _cooled(self, now: float) -> None:
        """Forget the finished requests no rule counts any more, nor one that may join."""
        keep = max(self._longest, HISTORY)
        gone = bisect.bisect_right(self._ends, now, key=lambda end: end + keep)
        if gone:
            del self._ends[:gone]

    def ready_at(self, now: float) -> float:
        """The earliest time a new grant is allowed; ``inf`` until a request finishes."""
        self._cooled(now)
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
        if self._probing and not self.pace and self.suspect.risky(at):
            at = max(at, self.last_grant + self._probe_pace)
        return at

    def grant(self, now: float) -> bool:
        """Take a slot; call only when ``ready_at(now) <= now``. True if it is a probe."""
        self.in_flight += 1
        self._undo = (now, self.last_grant, bool(self._fresh))
        self.last_grant = now
        if self.pace or self.suspect.cleared:
            self._fresh -= bool(self._fresh)
            return False
        if self._fresh:
            self._fresh -= 1
            probe = False
        else:
            probe = self.suspect.risky(now)
            self._probing |= probe
        self.suspect.sent(now)
        return probe

    def finish(
        self,
        now: float,
        *,
        probe: bool = False,
        accepted: bool = True,
        granted_at: float | None = None,
    ) -> None:
        """The request of a granted slot is over: it may have reached the server until now.

        ``now`` may lie in the future, for a request that may still arrive after it
        was abandoned. ``accepted`` says the server let the request through its limit.
        ``granted_at`` is given when an answer came back (accepted or 50011), and is
        when its slot was granted: the round trip is sampled and, for an accepted
        answer, the slot may cool earlier by the round-trip credit.
        """
        self.in_flight -= 1
        end = now
        if granted_at is not None:
            rtt = now - granted_at
            if self.rtt is not None:
                if granted_at >= self._first_answer:
                    self.rtt.observe(now, rtt)
                if accepted and not self._anchor_fully:
                    end -= min(self.rtt.credit(now), rtt)
            self._first_answer = min(self._first_answer, now)
            if self.pace:
                if accepted:
                    self.pace = self._probe_pace * self.backoff.accepted()
            elif not self.suspect.cleared:
                if accepted:
                    # While the first burst lasts nothing was refilled, so an
                    # acceptance rules out no counter: skip the work.
                    if not self._fresh:
                        self.suspect.accepted(granted_at)
                else:
                    self.suspect.refused(granted_at)
        bisect.insort(self._ends, end)
        if probe:
            self._probing = False

    def give_back(self, *, probe: bool = False, granted_at: float | None = None) -> None:
        """A slot granted at ``granted_at`` was never used to send anything.

        A grant of the latest instant (``granted_at=None`` means the latest) is
        undone: the spacing counts from the grant before it, and a slot of the first
        burst comes back. Grants of one instant are interchangeable, since the first
        burst is taken in grant order. After a later grant, or a second give-back,
        only the slot comes back: the later grant sets the spacing.
        """
        self.in_flight -= 1
        if probe:
            self._probing = False
        at, last_grant, fresh = self._undo
        if granted_at is None or granted_at == at:
            self.last_grant = last_grant
            self._fresh += fresh
            self._undo = (math.nan, self.last_grant, False)

    def throttled(self, now: float, granted_at: float | None = None) -> bool:
        """The server answered 50011 at ``now``; True if this is the budget's first.

        The first pauses every grant for a window and switches to even pacing. Each
        later one slows the pacing down multiplicatively (:class:`Backoff`) and holds
        the next grant for the new spacing, unless the rejected request was granted
        before the last 50011 was handled: then it is an echo of that one.
        """
        self._anchor_fully = True
        first = not self.pace
        if first:
            self.pace_evenly()
            self.pause(now)
        elif granted_at is None or granted_at >= self._throttled_at:
            self.pace = self._probe_pace * self.backoff.rejected()
            self.paused_until = max(self.paused_until, now + self.pace)
        self._throttled_at = now
        return first

    def pause(self, now: float) -> None:
        """Hold every grant for a whole window: the server says we are over."""
        self.paused_until = max(self.paused_until, now + self._longest)

    def pace_evenly(self) -> None:
        """Space grants evenly, for servers that punish bursts (sliding-window counters)."""
        self.pace = self._probe_pace * self.backoff.factor

    def idle(self, now: float) -> bool:
        """True when forgetting this budget would change nothing the rules count.

        Nothing in flight or cooling, no pause. The pacing learnt after a 50011 is
        forgotten with it: a quiet budget starts again with a burst.
        """
        self._cooled(now)
        ends = self._ends
        return (
            self.in_flight == 0 and (not ends or ends[-1] + self._longest <= now)
            and self.paused_until <= now and not self._probing
        )

    def abandon(self, count: int, now: float) -> None:
        """``count`` requests in flight will never be finished: they cool from ``now``."""
        self.in_flight -= count
        for _ in range(count):
            bisect.insort(self._ends, now)
        self._probing = False
