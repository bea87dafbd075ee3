"""Storms of calls through a limiter, cancelled every way callers cancel them.

Each call takes a slot under a random rule, holds it a random while and ends a random
way (answered, 50011, unknown, never sent, abandoned with or without a lifetime); each storm
runs its calls together under per-call timeouts, a ``TaskGroup`` under one timeout,
or a ``gather`` cancelled at a random moment. A :class:`Storm` records every slot
so the rules can be checked afterwards, from any number of threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from typing import Any

from okx_async import LimitKey, MemoryLimiter, Outcome, RateLimit

#: Tiny windows, so that a storm takes milliseconds.
RULES = [RateLimit(3, 0.01), RateLimit(2, 0.005)]


class Storm:
    """Calls through ``limiter``, with every slot and every surprise recorded."""

    def __init__(self, limiter: MemoryLimiter) -> None:
        self.limiter = limiter
        #: (key, granted, end, rule) of every slot; list.append is atomic across threads.
        self.slots: list[tuple[LimitKey, float, float, RateLimit]] = []
        #: Anything but CancelledError that reached a caller.
        self.surprises: list[BaseException] = []
        #: Bursts whose uncancelled call got through.
        self.served = 0

    async def call(self, rng: random.Random, key: LimitKey) -> None:
        """One call: a slot under a random rule, held a while, ended a random way."""
        loop = asyncio.get_running_loop()
        rule = rng.choice(RULES)
        lifetime = rng.choice([None, 0.004])
        outcome = rng.choice([*Outcome, None])
        hold = rng.choice([0.0, 0.0005, 0.002])
        permit = self.limiter.slot(key, rule, lifetime=lifetime)
        try:
            async with permit:
                # When the limiter granted it: a waiter of another thread resumes a
                # little later, and its lifetime counts from the grant.
                granted = permit._granted  # type: ignore[attr-defined]
                told = False
                try:
                    if hold:
                        await asyncio.sleep(hold)
                    if outcome is not None:
                        permit.finish(outcome)
                        told = True
                finally:
                    now = loop.time()
                    left = outcome is None and lifetime is not None
                    end = max(now, granted + lifetime) if left and lifetime else now
                    if not (told and outcome is Outcome.NOT_SENT):  # else nothing arrived
                        self.slots.append((key, granted, end, rule))
        except Exception as exc:  # nothing but CancelledError may reach a caller
            self.surprises.append(exc)
            raise

    async def burst(self, rng: random.Random, key: LimitKey) -> None:
        """2 to 10 calls on ``key`` together, cancelled in one of the ways callers do.

        One more call among them is never cancelled: it must get its slot.
        """
        doomed = [self.call(rng, key) for _ in range(rng.randint(2, 10))]
        await asyncio.gather(cancel_storm(rng, doomed), self.call(rng, key))
        self.served += 1

    def assert_within_rules(self) -> None:
        """No slot was granted while its rule's budget was already full.

        Each slot counts from its grant until its end plus the window (the limiter
        runs with the round-trip credit off here).
        """
        by_key: dict[LimitKey, list[tuple[float, float, RateLimit]]] = {}
        for key, granted, end, rule in self.slots:
            by_key.setdefault(key, []).append((granted, end, rule))
        for key, held in by_key.items():
            for granted, _end, rule in held:
                busy = sum(1 for g, e, _ in held if g <= granted < e + rule.window)
                assert busy <= rule.requests, (key, granted, rule)

    def assert_nothing_left(self) -> None:
        """No permit still counted as held, no waiter left in any queue."""
        assert self.surprises == []
        for key, bucket in self.limiter._buckets.items():
            assert bucket.window.in_flight == 0, key
            assert bucket._held == 0, key
            assert not [w for w in bucket._waiters if not w.done()], key


async def cancel_storm(rng: random.Random, calls: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``calls`` together and cancel them in one of the ways callers do."""
    how = rng.randrange(3)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        if how == 0:  # each call under its own timeout
            await asyncio.gather(*(_timed(c, rng.uniform(0, 0.02)) for c in calls))
        elif how == 1:  # a TaskGroup under one timeout
            async with asyncio.timeout(rng.uniform(0, 0.02)), asyncio.TaskGroup() as group:
                for c in calls:
                    group.create_task(c)
        else:  # a gather cancelled at a random moment
            together = asyncio.gather(*calls)
            asyncio.get_running_loop().call_later(rng.uniform(0, 0.02), together.cancel)
            await together


async def _timed(call: Coroutine[Any, Any, None], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await call
