"""The memory limiter against every interleaving hypothesis finds, on virtual time.

Two threads, each with its own event loop, share one limiter and one virtual clock
(``shared_clock.Lockstep``). Requests acquire on either thread and end every way a
request ends: answered (accepted or 50011) after a round trip, an error without an
answer, abandoned mid-flight; waiters are cancelled alone or together (also at the
very moment of a grant), rules change, budgets are evicted, clients close, a thread's
``asyncio.run()`` ends and the next one starts, and a loop is closed with requests
still in it.

The machine runs twice:

- **Credit off** (``rtt_fraction=0``): every slot is anchored at its answer. No rule
  in use ever had more grants in a window than it allows, counting each slot from its
  grant until its end plus the window. Answers may also come back at any time, even
  in the instant of the grant.
- **Credit on** (the default 0.75): no rule in use ever had more *arrivals* in a
  window than it allows, on a network that respects assumption A of docs/limiter.md.
  A request granted at ``g`` arrives at ``g + u`` and is answered at ``g + u + v``;
  uplinks are at least ``UP`` and downlinks at least ``DOWN``, and jitter adds at
  most a third of ``UP + DOWN`` to a round trip, so the fastest round trip is within
  4/3 of the path's fixed part. Requests granted before the budget's first answer may
  also pay a connection's set-up on the way there (assumption B). A request left
  without an answer arrives somewhere between ``g + UP`` and its end.

After every step, in both:

- ``in_flight`` equals the permits really held;
- no waiter waits while a slot is free, and every loop with waiters looks again by
  the time the next slot is free;
- nothing but ``CancelledError`` reaches a cancelled task or a loop's handler;
- waiters are served first in, first out, across both threads.

``pytest -m soak`` runs many more examples.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass, field
from functools import partial

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from shared_clock import Lockstep, LoopThread

from okx_async import LimitKey, MemoryLimiter, Outcome, RateLimit

KEY = LimitKey("42", "/api/v5/x")
RULES = [RateLimit(2, 0.5), RateLimit(3, 1.0), RateLimit(4, 2.0)]
LIFETIMES = [None, 0.25, 3.0]
OUTCOMES = [Outcome.ACCEPTED, Outcome.THROTTLED, Outcome.UNKNOWN, Outcome.NOT_SENT,
            None]  # None: abandoned
#: How a request ends by itself: answered after its round trip, or left to a step.
ANSWERS = [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.THROTTLED, None]
#: The path's fixed part, each way (dyadic, so virtual times add up exactly).
UP, DOWN = 1 / 64, 5 / 64
#: Jitter on each leg; a round trip's is at most a third of UP + DOWN (assumption A).
JITTER = [(0.0, 0.0), (2 / 64, 0.0), (0.0, 2 / 64), (1 / 64, 1 / 64)]
#: The most A allows, on one leg or the other: where a credit too large shows.
EDGE = [(2 / 64, 0.0), (0.0, 2 / 64)]
#: A connection's set-up on the way there, several round trips long.
SETUP = 16 / 64


@dataclass(eq=False)
class Request:
    """One call through the limiter, driven step by step by the state machine."""

    seq: int
    thread: int
    client: int
    rule: RateLimit
    lifetime: float | None
    #: Ends by itself with this answer after its round trip, or (None) by a step.
    answer: Outcome | None
    jitter: tuple[float, float]
    setup: bool
    #: Event numbers, which order what happened at one virtual time.
    asked: int
    #: How many times the budget had been forgotten (evicted) when it asked.
    era: int = 0
    task: asyncio.Task[None] | None = None
    granted: float | None = None
    granted_event: int = -1
    #: The uplink it took, once granted (answered requests).
    uplink: float | None = None
    #: When the slot stopped counting as in flight (inf while it is).
    end: float = math.inf
    #: When a waiter was cancelled without a grant.
    dropped: int | None = None
    #: Its loop was closed under it.
    stranded: bool = False
    #: It ended as never sent (no connection opened): it reached the server never.
    unsent: bool = False
    release: asyncio.Future[Outcome | None] | None = None
    surprise: list[BaseException] = field(default_factory=list)

    def cooled(self, window: float) -> float:
        """When its slot stops counting: a window after its end, at its end if unsent."""
        return self.end if self.unsent else self.end + window

    def arrival(self) -> tuple[float, float] | None:
        """The earliest and latest it may have reached the server; None if it never did."""
        if self.granted is None or self.unsent:
            return None
        if self.uplink is not None and self.end >= self.granted + self.uplink:
            at = self.granted + self.uplink
            return at, at
        if self.end < self.granted + UP:
            return None  # left before any byte could arrive
        return self.granted + UP, self.end


class LimiterMachine(RuleBasedStateMachine):
    """The limiter on two threads; subclasses say whether the round-trip credit is on."""

    requests = Bundle("requests")
    rtt_fraction = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.limiter = MemoryLimiter(margin=0.0, rtt_fraction=self.rtt_fraction)
        self.step = Lockstep(2)
        for thread in self.step.threads:
            self._watch(thread)
        self.rule_now = RULES[0]
        self.all: list[Request] = []
        self.stray: list[object] = []
        self.events = 0
        #: When the budget first saw an answer (None: not yet, or since it was evicted).
        self.first_answer: float | None = None
        #: Evictions so far: a forgotten budget starts its accounting afresh.
        self.era = 0
        #: When each loop closed under its requests.
        self.closed_at: dict[asyncio.AbstractEventLoop, float] = {}
        self.checked = 0

    def _event(self) -> int:
        self.events += 1
        return self.events

    def _watch(self, thread: LoopThread) -> None:
        thread.loop.set_exception_handler(lambda _loop, context: self.stray.append(context))

    def _now(self) -> float:
        return self.step.time()

    async def _run(self, request: Request) -> None:
        loop = asyncio.get_running_loop()
        permit = self.limiter.slot(KEY, request.rule, lifetime=request.lifetime)
        try:
            await permit.__aenter__()
        except asyncio.CancelledError:
            request.dropped = self._event()
            raise
        except BaseException as exc:
            request.surprise.append(exc)
            raise
        request.granted = loop.time()
        request.granted_event = self._event()
        outcome: Outcome | None = None
        try:
            if request.answer is None:
                request.release = loop.create_future()
                outcome = await request.release
            else:
                outcome = await self._answer(request)
            if outcome is not None:
                permit.finish(outcome)
        finally:
            now = loop.time()
            if outcome is None and request.lifetime is not None:
                request.end = max(now, request.granted + request.lifetime)
            else:
                request.end = now
            request.unsent = outcome is Outcome.NOT_SENT
            await permit.__aexit__(None, None, None)

    async def _answer(self, request: Request) -> Outcome:
        """The request goes out, arrives, and its answer comes back."""
        assert request.granted is not None and request.answer is not None
        up, down = request.jitter
        uplink = UP + up
        if request.setup and self._before_any_answer(request.granted):
            uplink += SETUP
        request.uplink = uplink
        await asyncio.sleep(uplink + DOWN + down)
        if self.first_answer is None:
            self.first_answer = asyncio.get_running_loop().time()
        return request.answer

    def _before_any_answer(self, t: float) -> bool:
        """No answer came back, or will come back, at or before ``t``."""
        if self.first_answer is not None:
            return False
        return not any(
            r.granted is not None and r.uplink is not None and r.end == math.inf
            and r.granted + r.uplink + DOWN + r.jitter[1] <= t for r in self.all
        )

    # Steps --------------------------------------------------------------------------

    @rule(target=requests, thread=st.integers(0, 1), client=st.integers(0, 1),
          lifetime=st.sampled_from(LIFETIMES), answer=st.sampled_from(ANSWERS),
          jitter=st.sampled_from(JITTER), setup=st.booleans())
    def acquire(
        self, *, thread: int, client: int, lifetime: float | None, answer: Outcome | None,
        jitter: tuple[float, float], setup: bool,
    ) -> Request:
        request = Request(len(self.all), thread, client, self.rule_now, lifetime, answer,
                          jitter, setup, self._event(), self.era)
        self.all.append(request)
        request.task = self.step.threads[thread].create_task(self._run(request))
        self.step.settle()
        return request

    @rule(thread=st.integers(0, 1), jitters=st.lists(st.sampled_from(EDGE), min_size=2,
                                                     max_size=6))
    def fan_out(self, thread: int, jitters: list[tuple[float, float]]) -> None:
        """Several calls at once, answered and accepted: where the credit matters.

        Each opens a connection if no answer came back yet.
        """
        for jitter in jitters:
            request = Request(len(self.all), thread, 0, self.rule_now, None,
                              Outcome.ACCEPTED, jitter, True, self._event(), self.era)
            self.all.append(request)
            request.task = self.step.threads[thread].create_task(self._run(request))
        self.step.settle()

    @rule(request=requests, outcome=st.sampled_from(OUTCOMES))
    def finish(self, request: Request, outcome: Outcome | None) -> None:
        """An error without an answer, or abandoned; with the credit off, any answer."""
        task = request.task
        if task is None or task.done() or request.stranded or request.granted is None:
            return
        on = self.step.threads[request.thread]
        if outcome is None:
            on.call(task.cancel)  # left mid-request: no finish()
        elif request.release is not None and not request.release.done():
            if self.rtt_fraction and outcome not in {Outcome.UNKNOWN, Outcome.NOT_SENT}:
                outcome = Outcome.UNKNOWN  # an answer comes only after its round trip
            on.call(partial(request.release.set_result, outcome))
        self.step.settle()

    def _cancel(self, doomed: list[Request], at: float | None = None) -> None:
        """Cancel each in its own thread, now or by a timer due at ``at``."""
        for request in dict.fromkeys(doomed):
            task = request.task
            if task is None or request.stranded:
                continue
            on = self.step.threads[request.thread]
            if at is None:
                on.call(task.cancel)
            else:
                on.call_at(at, task.cancel)

    def _pick(self, picked: list[int]) -> list[Request]:
        waiting = self._waiting()
        return [waiting[i % len(waiting)] for i in picked] if waiting else []

    @rule(picked=st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True))
    def cancel_waiters_together(self, picked: list[int]) -> None:
        self._cancel(self._pick(picked))
        self.step.settle()

    @rule(picked=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True))
    def cancel_at_the_next_grant(self, picked: list[int]) -> None:
        bucket = self.limiter._buckets.get(KEY)
        doomed = self._pick(picked)
        if bucket is None or not doomed:
            return
        now = self._now()
        at = min((s.timer_at for s in bucket._loops.values() if s.waiting), default=math.inf)
        if not now < at < math.inf:
            return
        # Due with the limiter's own timer: runs in the same instant as its grant.
        self._cancel(doomed, at)
        self.step.advance(at - now)

    @rule(dt=st.sampled_from([0.125, 0.25, 0.5]),
          picked=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True))
    def cancel_later(self, dt: float, picked: list[int]) -> None:
        """Armed before any limiter timer it may meet, so it can run before a grant."""
        self._cancel(self._pick(picked), self._now() + dt)

    @rule(dt=st.sampled_from([0.0625, 0.125, 0.25, 0.5, 1.0, 2.5]))
    def advance(self, dt: float) -> None:
        self.step.advance(dt)

    @rule(new=st.sampled_from(RULES))
    def change_rule(self, new: RateLimit) -> None:
        self.rule_now = new

    @rule(thread=st.integers(0, 1))
    def evict(self, thread: int) -> None:
        async def go() -> None:
            with self.limiter._lock:
                self.limiter._evict_idle()

        self.step.threads[thread].run(go())
        if KEY not in self.limiter._buckets:
            # Forgotten only when quiet under every rule in force: a rule that joins
            # later counts nothing from before, and a new budget learns the path again.
            self.era += 1
            self.first_answer = None
        self.step.settle()

    @rule(client=st.integers(0, 1))
    def close_client(self, client: int) -> None:
        """What OkxClient.aclose() does: every queued call of that client is cancelled."""
        self._cancel([r for r in self._waiting() if r.client == client])
        self.step.settle()

    @precondition(lambda self: self._now() < 1000)
    @rule(thread=st.integers(0, 1))
    def next_asyncio_run(self, thread: int) -> None:
        """asyncio.run() ends in that thread: its tasks are cancelled, then a new loop."""
        on = self.step.threads[thread]
        self._cancel([r for r in self.all if r.thread == thread and r.task is not None
                      and not r.task.done()])
        self.step.settle()
        on.call(on.loop.close)
        on.new_loop()
        self._watch(on)

    @precondition(lambda self: self._now() < 1000)
    @rule(thread=st.integers(0, 1))
    def loop_closed_under_its_requests(self, thread: int) -> None:
        """A loop closed without cancelling its tasks: they never run again."""
        on = self.step.threads[thread]
        now = self._now()
        for r in self.all:
            if r.task is not None and r.task.get_loop() is on.loop and not r.task.done():
                r.stranded = True
                if r.granted is None:
                    r.dropped = self._event()
                elif r.end == math.inf:
                    r.end = now  # it may have reached the server until the loop died
        # Its pending tasks are destroyed with it; asyncio reports that, rightly.
        on.loop.set_exception_handler(lambda _loop, _context: None)
        self.closed_at[on.loop] = now
        on.call(on.loop.close)
        on.new_loop()
        self._watch(on)
        self.step.settle()

    # Invariants --------------------------------------------------------------------------

    def _waiting(self) -> list[Request]:
        return [
            r for r in self.all
            if r.granted is None and r.dropped is None and r.task is not None
            and not r.task.done() and not r.stranded
        ]

    def _in_use(self, n: int, t: float, era: int) -> set[RateLimit]:
        """The rules in force at event ``n`` (time ``t``)."""
        return {
            r.rule for r in self.all
            if r.asked < n and r.era == era and (
                (r.granted is not None and t < r.cooled(r.rule.window))
                or (r.granted is None and (r.dropped is None or n < r.dropped))
            )
        }

    def _in_use_around(self, j: Request, lo: float) -> set[RateLimit]:
        """Rules the limiter surely had in force when it granted ``j``.

        Those of requests waiting then, and of earlier ones whose arrival may lie
        within their window of ``lo``, j's earliest arrival: the budget was never
        quiet in between, so no rule was dropped.
        """
        n = j.granted_event
        rules = set()
        for r in self.all:
            if r.asked >= n or r.era != j.era:
                continue
            waiting = r.granted_event > n or (
                r.granted is None and (r.dropped is None or n < r.dropped)
            )
            span = r.arrival()
            if waiting or (span is not None and span[1] + r.rule.window > lo):
                rules.add(r.rule)
        return rules

    @invariant()
    def never_more_than_a_rule_allows_in_any_window(self) -> None:
        if self.rtt_fraction:
            self._arrivals_within_every_rule()
            return
        granted = [r for r in self.all if r.granted is not None]
        for g in granted:
            assert g.granted is not None
            t, n = g.granted, g.granted_event
            for rule_ in self._in_use(n, t, g.era):
                held = sum(
                    1 for r in granted
                    if r.granted_event <= n and r.era == g.era and t < r.cooled(rule_.window)
                )
                assert held <= rule_.requests, (t, rule_, held)

    def _arrivals_within_every_rule(self) -> None:
        """Each new grant: no window that may hold its arrival holds too many.

        A window too full has a latest-granted member; checking each grant against
        the requests granted before it, with what is known now (a request still out
        may arrive until it ends), finds every such window.
        """
        granted = sorted((r for r in self.all if r.granted is not None),
                         key=lambda r: r.granted_event)
        for j in granted:
            if j.granted_event <= self.checked:
                continue
            mine = j.arrival()
            if mine is None:
                continue
            assert j.granted is not None
            spans = [span for r in granted if r.granted_event <= j.granted_event
                     and r.era == j.era and (span := r.arrival()) is not None]
            for rule_ in self._in_use_around(j, mine[0]):
                w = rule_.window
                # The fullest window (t - w, t] that may hold j's arrival ends where
                # j's or another arrival may begin.
                ends = [mine[0], *(lo for lo, _ in spans if mine[0] < lo < mine[1] + w)]
                worst = max(sum(1 for lo, hi in spans if lo <= t < hi + w) for t in ends)
                assert worst <= rule_.requests, (j.seq, rule_, worst)
        self.checked = max((r.granted_event for r in granted), default=self.checked)

    @invariant()
    def in_flight_equals_the_permits_held(self) -> None:
        bucket = self.limiter._buckets.get(KEY)
        held = sum(1 for r in self.all if r.granted is not None and r.end == math.inf
                   and not r.stranded)
        # The slots of a closed loop count until the limiter notices it closed.
        stranded = sum(s.held for s in bucket._loops.values() if s.loop.is_closed()) \
            if bucket else 0
        assert (bucket.window.in_flight if bucket else 0) == held + stranded

    @invariant()
    def no_waiter_waits_while_a_slot_is_free(self) -> None:
        bucket = self.limiter._buckets.get(KEY)
        waiting = self._waiting()
        if bucket is None or not waiting:
            return
        now = self._now()
        ready = bucket.window.ready_at(now)
        assert ready > now
        if ready == math.inf:
            assert bucket.window.in_flight > 0
        for thread in {r.thread for r in waiting}:
            state = bucket._loops[self.step.threads[thread].loop]
            assert state.waiting
            if ready < math.inf:
                assert now < state.timer_at <= ready, (now, state.timer_at, ready)

    @invariant()
    def a_loop_closed_under_its_requests_is_noticed_within_a_window(self) -> None:
        """Its slots must not stay in flight for ever while others wait for them."""
        bucket = self.limiter._buckets.get(KEY)
        if bucket is None or not self._waiting():
            return
        longest = max(r.window for r in RULES)
        for loop, state in bucket._loops.items():
            if state.held and loop.is_closed():
                assert self._now() <= self.closed_at[loop] + longest

    @invariant()
    def nothing_but_cancellation_escapes(self) -> None:
        assert self.stray == []
        for r in self.all:
            assert r.surprise == []
            task = r.task
            if task is not None and task.done() and not task.cancelled():
                assert task.exception() is None

    @invariant()
    def first_in_first_out(self) -> None:
        served = [r for r in self.all if r.granted is not None]
        for thread in (0, 1):
            mine = sorted((r for r in served if r.thread == thread),
                          key=lambda r: r.granted_event)
            assert [r.seq for r in mine] == sorted(r.seq for r in mine)
        for a in served:
            for b in served:
                if a.seq < b.seq:
                    assert a.granted is not None and b.granted is not None
                    assert a.granted <= b.granted, (a.seq, b.seq)
        last = max((r.seq for r in served), default=-1)
        assert all(r.seq > last for r in self._waiting())

    def teardown(self) -> None:
        for thread in self.step.threads:
            loop = thread.loop
            if loop.is_closed():
                continue
            for task in [r.task for r in self.all if r.task is not None
                         and r.task.get_loop() is loop and not r.task.done()]:
                thread.call(task.cancel)
        self.step.settle()
        for thread in self.step.threads:
            if not thread.loop.is_closed():
                thread.call(thread.loop.close)
        self.step.shutdown()


class CreditOff(LimiterMachine):
    rtt_fraction = 0.0


class CreditOn(LimiterMachine):
    rtt_fraction = 0.75


_EXAMPLES = int(os.environ.get("OKX_LIMITER_EXAMPLES", "300"))


def _run_machine(machine: type[LimiterMachine], examples: int) -> None:
    test = settings(
        max_examples=examples, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )(machine).TestCase
    test("runTest").runTest()


@pytest.mark.parametrize("machine", [CreditOff, CreditOn])
def test_the_limiter_holds_under_every_interleaving(machine: type[LimiterMachine]) -> None:
    _run_machine(machine, _EXAMPLES)


@pytest.mark.soak
@pytest.mark.parametrize("machine", [CreditOff, CreditOn])
def test_the_limiter_holds_under_every_interleaving_soak(
    machine: type[LimiterMachine],
) -> None:
    _run_machine(machine, int(os.environ.get("OKX_LIMITER_SOAK_EXAMPLES", "10000")))
