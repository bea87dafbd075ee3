"""What one process knows of one ``(user id, endpoint)`` budget: no I/O here."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

from .._limiter import LimitKey
from .._window import RateLimit

#: Longest a process with waiters or slots goes without a word to Redis (a beat).
BEAT: Final = 0.25
#: A process silent this long is dead: its tickets leave the line, its in-flight slots
#: start cooling, and a slot handed to it and not claimed is free again.
TTL: Final = 1.0
#: How long a Redis that restarted empty grants nothing, so that every live process
#: has told it again what it has in flight or cooling (they beat every BEAT).
HOLD: Final = 1.0
#: Processes that spoke within this long count for the fair share of a fallback.
PEERS: Final = 30.0
#: Waiters of one budget registered per call; younger ones wait for the next call.
REGISTER_CAP: Final = 64
#: The names after ``prefix:{user:endpoint}:``.
PARTS: Final = ("slots", "queue", "procs", "state")


class Waiter:
    """One task waiting for a slot, in its process's FIFO for the budget."""

    __slots__ = ("future", "since", "ticket")

    def __init__(self, ticket: str, since: float, future: asyncio.Future[str | None]) -> None:
        #: Its place in the shared FIFO; becomes the permit id when granted. The
        #: future's result is that permit, or None: use the fallback's share.
        self.ticket = ticket
        #: ``loop.time()`` when the call began to wait; Redis turns the age into its time.
        self.since = since
        self.future = future


class Budget:
    """The local side of one budget: a FIFO of waiters and this process's slots."""

    __slots__ = (
        "busy_until", "clear_at", "driver", "drops", "finished", "flying", "key", "local",
        "names", "peers", "rule", "share", "throttle", "unsent", "waiters", "wake",
    )

    def __init__(self, key: LimitKey, rule: RateLimit, prefix: str) -> None:
        self.key = key
        self.rule = rule
        base = f"{prefix}:{{{key.user_id}:{key.endpoint}}}"
        self.names = tuple(f"{base}:{part}" for part in PARTS)
        self.waiters: deque[Waiter] = deque()
        #: Tickets and unused permits given up, for the next call to remove.
        self.drops: list[str] = []
        #: Permits in flight (through Redis or the fallback) -> ``loop.time()`` of grant.
        self.flying: dict[str, float] = {}
        #: The fallback's permits among ``flying``: Redis did not grant them.
        self.local: set[str] = set()
        #: Finished permits still cooling -> (latest arrival, probe answer: 0 told,
        #: 1 accepted, 2 not accepted). Told to Redis on every beat until cooled.
        self.finished: dict[str, tuple[float, int]] = {}
        #: A 50011 Redis has not heard of yet; something new for it in ``finished``.
        self.throttle = False
        self.unsent = False
        self.driver: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        #: From the last reply: processes seen lately, and when the last slot frees.
        self.peers = 1
        self.busy_until = 0.0
        #: During a fallback: the rule of this process's share, and when it may start.
        self.share: RateLimit | None = None
        self.clear_at = 0.0

    def trim(self, now: float, cool: float) -> None:
        """Forget finished slots that cooled: they are free everywhere."""
        for permit in [p for p, (t, _a) in self.finished.items() if t + cool <= now]:
            del self.finished[permit]

    def busy(self) -> bool:
        return bool(
            self.waiters or self.drops or self.flying or self.finished or self.unsent
            or self.throttle
        )

    def hand_out(self, granted: list[str], now: float) -> None:
        """Give each granted permit to the waiter whose ticket won.

        Redis grants a process's tickets in the order they were registered, which is
        this FIFO's order, so this keeps it.
        """
        waiting = {w.ticket: w for w in self.waiters if not w.future.done()}
        for permit in granted:
            w = waiting.get(permit)
            if w is None:
                self.drops.append(permit)  # its waiter gave up: the slot is unused
                continue
            self.waiters.remove(w)
            self.flying[permit] = now
            w.future.set_result(permit)

    def end_waits(self, end: Callable[[asyncio.Future[str | None]], None]) -> None:
        """End every wait with ``end(future)``; their tickets leave the line."""
        while self.waiters:
            w = self.waiters.popleft()
            self.drops.append(w.ticket)
            if not w.future.done():
                end(w.future)


def budget_keys(key: LimitKey, prefix: str = "okx-async") -> dict[str, str]:
    """The Redis names of one budget, for inspection: ``{"slots": ..., ...}``."""
    names = Budget(key, RateLimit(1, 1.0), prefix).names
    return dict(zip(PARTS, names, strict=True))
