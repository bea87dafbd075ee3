"""The memory limiter against every interleaving hypothesis finds, on the virtual-time loop.

Requests acquire, finish (accepted, 50011, another error, or abandoned mid-flight),
are cancelled alone or together (also at the very moment of a grant), rules change,
budgets are evicted, a client closes and a new event loop starts. After every step:

- no rule in use ever had more grants in a window than it allows, counting each slot
  from its grant until its end plus the window;
- ``in_flight`` equals the permits really held;
- no waiter waits while a slot is free, and a waiter that can be served has a timer;
- nothing but ``CancelledError`` reaches a cancelled task or the loop's handler;
- waiters that were not cancelled are served first in, first out.

``pytest -m soak`` runs many more examples.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass, field

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
from virtual_time import VirtualTimeLoop

from okx_async import LimitKey, MemoryLimiter, Outcome, RateLimit

KEY = LimitKey("42", "/api/v5/x")
RULES = [RateLimit(3, 1.0), RateLimit(2, 0.5), RateLimit(4, 2.0)]
LIFETIMES = [None, 0.25, 3.0]
OUTCOMES = [Outcome.ACCEPTED, Outcome.THROTTLED, Outcome.UNKNOWN, None]  # None: abandoned


@dataclass(eq=False)
class Request:
    """One call through the limiter, driven step by step by the state machine."""

    seq: int
    client: int
    rule: RateLimit
    lifetime: float | None
    #: Event numbers, which order what happened at one virtual time.
    asked: int
    task: asyncio.Task[None] | None = None
    granted: float | None = None
    granted_event: int = -1
    #: When the slot stopped counting as in flight (inf while it is).
    end: float = math.inf
    #: When a waiter was cancelled without a grant.
    dropped: int | None = None
    release: asyncio.Future[Outcome | None] | None = None
    surprise: list[BaseException] = field(default_factory=list)


class LimiterMachine(RuleBasedStateMachine):
    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        self.limiter = MemoryLimiter(margin=0.0)
        self.loop = self._new_loop(0.0)
        self.rule_now = RULES[0]
        self.all: list[Request] = []
        self.grant_order: list[int] = []
        self.stray: list[object] = []
        self.events = 0

    def _event(self) -> int:
        self.events += 1
        return self.events

    def _new_loop(self, start: float) -> VirtualTimeLoop:
        loop = VirtualTimeLoop(start)
        loop.set_exception_handler(lambda _loop, context: self.stray.append(context))
        return loop

    def _settle(self) -> None:
        for _ in range(3):
            self.loop.run_until_complete(asyncio.sleep(0))

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
        self.grant_order.append(request.seq)
        request.release = loop.create_future()
        outcome: Outcome | None = None
        try:
            outcome = await request.release
            if outcome is not None:
                permit.finish(outcome)
        finally:
            now = loop.time()
            if outcome is None and request.lifetime is not None:
                request.end = max(now, request.granted + request.lifetime)
            else:
                request.end = now
            await permit.__aexit__(None, None, None)

    def _bucket(self) -> object:
        return self.limiter._buckets.get(KEY)

    # Steps --------------------------------------------------------------------------

    @rule(target=requests, client=st.integers(0, 1), lifetime=st.sampled_from(LIFETIMES))
    def acquire(self, client: int, lifetime: float | None) -> Request:
        request = Request(len(self.all), client, self.rule_now, lifetime, self._event())
        self.all.append(request)
        request.task = self.loop.create_task(self._run(request))
        self._settle()
        return request

    @rule(request=requests, outcome=st.sampled_from(OUTCOMES))
    def finish(self, request: Request, outcome: Outcome | None) -> None:
        assert request.task is not None
        if request.release is not None and not request.release.done():
            if outcome is None:
                request.task.cancel()  # left mid-request: no finish()
            else:
                request.release.set_result(outcome)
        self._settle()

    @rule(picked=st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True))
    def cancel_waiters_together(self, picked: list[int]) -> None:
        waiting = self._waiting()
        doomed = [waiting[i % len(waiting)] for i in picked] if waiting else []
        for request in dict.fromkeys(doomed):
            assert request.task is not None
            request.task.cancel()
        self._settle()

    @rule(picked=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True))
    def cancel_at_the_next_grant(self, picked: list[int]) -> None:
        bucket = self.limiter._buckets.get(KEY)
        waiting = self._waiting()
        if bucket is None or not waiting or bucket._timer_at == math.inf:
            return
        doomed = list(dict.fromkeys(waiting[i % len(waiting)] for i in picked))
        # Due with the limiter's own timer: runs in the same step as its grant.
        self.loop.call_at(bucket._timer_at, lambda: [r.task.cancel() for r in doomed if r.task])
        self.loop.run_until_complete(asyncio.sleep(bucket._timer_at - self.loop.time()))
        self._settle()

    @rule(dt=st.sampled_from([0.125, 0.25, 0.5]),
          picked=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True))
    def cancel_later(self, dt: float, picked: list[int]) -> None:
        """Armed before any limiter timer it may meet, so it can run before a grant."""
        waiting = self._waiting()
        doomed = list(dict.fromkeys(waiting[i % len(waiting)] for i in picked)) if waiting else []
        self.loop.call_at(self.loop.time() + dt, lambda: [r.task.cancel() for r in doomed
                                                           if r.task])

    @rule(dt=st.sampled_from([0.0625, 0.125, 0.25, 0.5, 1.0, 2.5]))
    def advance(self, dt: float) -> None:
        self.loop.run_until_complete(asyncio.sleep(dt))
        self._settle()

    @rule(new=st.sampled_from(RULES))
    def change_rule(self, new: RateLimit) -> None:
        self.rule_now = new

    @rule()
    def evict(self) -> None:
        async def go() -> None:
            self.limiter._evict_idle()

        self.loop.run_until_complete(go())

    @rule(client=st.integers(0, 1))
    def close_client(self, client: int) -> None:
        """What OkxClient.aclose() does: every queued call of that client is cancelled."""
        for request in self._waiting():
            if request.client == client and request.task is not None:
                request.task.cancel()
        self._settle()

    @precondition(lambda self: self.loop.time() < 1000)
    @rule()
    def new_event_loop(self) -> None:
        """asyncio.run() ends: its tasks are cancelled, then a new loop starts."""
        for request in self.all:
            if request.task is not None and not request.task.done():
                request.task.cancel()
        self._settle()
        old = self.loop
        old.close()
        self.loop = self._new_loop(old.time())

    # Invariants --------------------------------------------------------------------------

    def _waiting(self) -> list[Request]:
        return [
            r for r in self.all
            if r.granted is None and r.dropped is None and r.task is not None
            and not r.task.done()
        ]

    @invariant()
    def never_more_than_a_rule_allows_in_any_window(self) -> None:
        granted = [r for r in self.all if r.granted is not None]
        for g in granted:
            assert g.granted is not None
            t, n = g.granted, g.granted_event
            in_use = {
                r.rule for r in self.all
                if r.asked < n and (
                    (r.granted is not None and t < r.end + r.rule.window)
                    or (r.granted is None and (r.dropped is None or n < r.dropped))
                )
            }
            for rule_ in in_use:
                held = sum(
                    1 for r in granted
                    if r.granted_event <= n and t < r.end + rule_.window
                )
                assert held <= rule_.requests, (t, rule_, held)

    @invariant()
    def in_flight_equals_the_permits_held(self) -> None:
        bucket = self.limiter._buckets.get(KEY)
        held = sum(1 for r in self.all if r.granted is not None and r.end == math.inf)
        assert (bucket.window.in_flight if bucket else 0) == held

    @invariant()
    def no_waiter_waits_while_a_slot_is_free(self) -> None:
        bucket = self.limiter._buckets.get(KEY)
        if bucket is None or not self._waiting():
            return
        now = self.loop.time()
        ready = bucket.window.ready_at(now)
        assert ready > now
        if ready < math.inf:
            assert bucket._timer is not None and bucket._timer_at == ready
        else:
            assert bucket.window.in_flight > 0

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
        assert self.grant_order == sorted(self.grant_order)

    def teardown(self) -> None:
        for request in self.all:
            if request.task is not None and not request.task.done():
                request.task.cancel()
        if not self.loop.is_closed():
            self._settle()
            self.loop.close()


_EXAMPLES = int(os.environ.get("OKX_LIMITER_EXAMPLES", "500"))


def _run_machine(examples: int) -> None:
    machine = settings(
        max_examples=examples, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )(LimiterMachine).TestCase
    machine("runTest").runTest()


def test_the_limiter_holds_under_every_interleaving() -> None:
    _run_machine(_EXAMPLES)


@pytest.mark.soak
def test_the_limiter_holds_under_every_interleaving_soak() -> None:
    _run_machine(int(os.environ.get("OKX_LIMITER_SOAK_EXAMPLES", "10000")))
