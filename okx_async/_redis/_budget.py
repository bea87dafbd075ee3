"""What one process knows of one ``(user id, endpoint)`` budget: no I/O here."""

from __future__ import annotations

import asyncio
import enum
import math
from collections import deque
from collections.abc import Callable
from typing import Final

from .._limiter import LimitKey
from .._window import RateLimit

#: The version of the protocol (the scripts and the meaning of every key and field). It
#: is part of every key name, so two versions in a rolling deploy never share a budget.
PROTOCOL: Final = 1
#: Longest a process with waiters or slots goes without a word to Redis (a beat).
BEAT: Final = 0.25
#: Bound on every Redis round trip, unless the limiter is given another.
TIMEOUT: Final = 0.25
#: The restart hold's floor: time for every live process to tell a restarted Redis
#: again what it has in flight or cooling (one beat, one slow call, and some room).
HOLD: Final = 1.0
#: Processes that spoke within this long count for the fair share of a fallback.
PEERS: Final = 30.0
#: Waiters of one budget registered per call; younger ones wait for the next call.
REGISTER_CAP: Final = 64
#: The names after ``prefix:vN:{user:endpoint}:``.
PARTS: Final = ("slots", "queue", "procs", "state")


def liveness(timeout: float) -> float:
    """How long a process stays alive in the others' eyes after each of its calls.

    Two calls of a live process run in Redis at most a beat plus two calls apart (the
    rest of one, the sleep, the start of the next); one more beat is room for a busy
    event loop. Each process announces its own, so a slow link only slows the others'
    verdict on that process, never makes a live one look dead.
    """
    return 2 * (BEAT + timeout)


class Answer(enum.IntEnum):
    """What a finished slot's request got, as told to Redis (``record.lua``)."""

    #: Told already, or nothing to say: only the slot's cooling counts.
    TOLD = 0
    ACCEPTED = 1
    #: No answer that says whether the server counted it (timeout, cancellation, 5xx).
    UNKNOWN = 2
    #: 50011.
    THROTTLED = 3


class Finished:
    """A finished slot still cooling, told to Redis on every beat until it cooled."""

    __slots__ = ("answer", "arrival", "granted")

    def __init__(self, arrival: float, answer: Answer, granted: float) -> None:
        #: ``loop.time()`` when its request may last have reached the server.
        self.arrival = arrival
        #: What its request got; :attr:`Answer.TOLD` once Redis has heard it.
        self.answer = answer
        #: ``loop.time()`` of its grant: a 50011 of a request granted before the last
        #: one was handled is an echo of that one, not a reason to slow down more.
        self.granted = granted


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
        "names", "peers", "rule", "seen", "share", "unsent", "waiters", "wake",
    )

    def __init__(self, key: LimitKey, rule: RateLimit, prefix: str) -> None:
        self.key = key
        self.rule = rule
        base = f"{prefix}:v{PROTOCOL}:{{{key.user_id}:{key.endpoint}}}"
        self.names = tuple(f"{base}:{part}" for part in PARTS)
        self.waiters: deque[Waiter] = deque()
        #: Tickets and unused permits given up, for the next call to remove.
        self.drops: list[str] = []
        #: Permits in flight (through Redis or the fallback) -> ``loop.time()`` of grant.
        self.flying: dict[str, float] = {}
        #: The fallback's permits among ``flying``: Redis did not grant them.
        self.local: set[str] = set()
        #: Finished permits still cooling, told to Redis on every beat until cooled.
        self.finished: dict[str, Finished] = {}
        #: Something in ``finished`` Redis may not have heard yet.
        self.unsent = False
        self.driver: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        #: From the last reply: processes seen lately (None: Redis never answered on
        #: this budget), and when the last slot frees.
        self.peers: int | None = None
        self.busy_until = 0.0
        #: ``loop.time()`` of the last reply of acquire.lua, which leaves the budget's
        #: state in Redis: if it is missing while it cannot have expired, it was lost.
        self.seen = -math.inf
        #: During a fallback: the rule of this process's share, and when it may start.
        self.share: RateLimit | None = None
        self.clear_at = 0.0

    def trim(self, now: float, cool: float) -> None:
        """Forget finished slots that cooled: they are free everywhere."""
        for permit in [p for p, f in self.finished.items() if f.arrival + cool <= now]:
            del self.finished[permit]

    def busy(self) -> bool:
        return bool(self.waiters or self.drops or self.flying or self.finished or self.unsent)

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
