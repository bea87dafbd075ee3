"""One limiter's side of the protocol: the two Lua scripts, their arguments in the order
the scripts name them, and the calls that run them.

Each ``.lua`` file names its ``ARGV`` at the top; the builders here follow that order,
so the layout lives in two places side by side and nowhere else.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib.resources import files
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from .._adapt import BACKOFF_CAP, BACKOFF_FACTOR, RECOVERY_STEP
from .._window import RateLimit
from ._budget import BEAT, PEERS, REGISTER_CAP, Answer, Budget, Finished, Waiter, liveness

log = logging.getLogger("okx_async.redis")


def _lua(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


ACQUIRE: Final = _lua("acquire.lua")
RECORD: Final = _lua("record.lua")
#: How soon a waiter looks again while a probe is in flight: its answer frees the next.
POLL: Final = 0.01


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def acquire_args(
    instance: str, rule: RateLimit, *, margin: float, ttl: float, hold: float, known: bool,
    state_ttl: float, drops: Iterable[str], waiters: Iterable[Waiter], now: float,
) -> list[str | int]:
    """ARGV of acquire.lua. ``hold`` is the restart hold in seconds (0: none)."""
    cool = rule.window + margin
    drops = list(drops)
    waiters = list(waiters)
    args: list[str | int] = [
        instance, rule.requests, _ms(cool), _ms(cool + ttl), _ms(ttl), _ms(hold),
        int(known), round(state_ttl * 1000), round(PEERS * 1000), _ms(POLL),
        len(drops), *drops, len(waiters),
    ]
    for w in waiters:
        args += [w.ticket, _ms(now - w.since)]
    return args


def record_args(
    instance: str, rule: RateLimit, *, margin: float, ttl: float, state_ttl: float,
    finished: Mapping[str, Finished], flying: Iterable[str], now: float,
) -> list[str | int]:
    """ARGV of record.lua: this process's finished and in-flight slots."""
    cool = rule.window + margin
    flying = list(flying)
    args: list[str | int] = [
        instance, _ms(cool), _ms(cool + ttl), _ms(ttl), _ms(cool / rule.requests),
        str(BACKOFF_FACTOR), str(BACKOFF_CAP), str(RECOVERY_STEP),
        round(state_ttl * 1000), round(PEERS * 1000), len(finished),
    ]
    for permit, f in finished.items():
        args += [permit, _ms(now - f.arrival), int(f.answer), _ms(now - f.granted)]
    args += [len(flying), *flying]
    return args


def acquire_reply(reply: Any) -> tuple[float | None, int, float, list[str]]:
    """(seconds to sleep or None: nobody waits, processes seen, seconds until the last
    slot frees, permits granted) from acquire.lua's reply."""
    wait_ms, peers, busy_ms = float(reply[0]), int(reply[1]), float(reply[2])
    wait = None if wait_ms < 0 else wait_ms / 1000
    return wait, peers, busy_ms / 1000, [_text(r) for r in reply[3:]]


def _text(value: Any) -> str:
    """Redis replies are bytes unless the client was made with ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


class Link:
    """Runs the scripts for one limiter: what it tells Redis, and what it asks."""

    __slots__ = ("_acquire", "_instance", "_record", "margin", "restart_hold", "state_ttl",
                 "timeout")

    def __init__(
        self, redis: aioredis.Redis | RedisCluster, instance: str, *, margin: float,
        timeout: float, restart_hold: float, state_ttl: float,
    ) -> None:
        self._instance = instance
        self.margin = margin
        self.timeout = timeout
        self.restart_hold = restart_hold
        self.state_ttl = state_ttl
        self._acquire: AsyncScript = redis.register_script(ACQUIRE)
        self._record: AsyncScript = redis.register_script(RECORD)

    @property
    def liveness(self) -> float:
        return liveness(self.timeout)

    async def tell(self, budget: Budget) -> None:
        """Run record.lua: this process's finished and in-flight slots, and their answers.

        An answer stays with its slot until a call that carried it succeeded, so one
        that comes while a call is out goes with the next call, never lost.
        """
        now = asyncio.get_running_loop().time()
        finished = dict(budget.finished)
        args = record_args(
            self._instance, budget.rule, margin=self.margin, ttl=self.liveness,
            state_ttl=self.state_ttl, finished=finished, flying=budget.flying, now=now,
        )
        budget.unsent = False
        slots, _queue, procs, state = budget.names
        try:
            paced = int(await self._run(self._record, (slots, procs, state), args))
        except BaseException:
            budget.unsent = True  # perhaps recorded, perhaps not: told again until it cools
            raise
        for f in finished.values():
            f.answer = Answer.TOLD
        if paced == 1:
            log.warning(
                "OKX answered 50011 although %s kept within %s; pausing every process "
                "for a window and switching to even pacing", budget.key, budget.rule,
            )
        elif paced:
            log.info("OKX answered 50011 again on %s; spacing requests further apart",
                     budget.key)

    async def ask(self, budget: Budget) -> float:
        """Run acquire.lua for the local waiters; returns how long to sleep, in seconds."""
        loop = asyncio.get_running_loop()
        rule, now = budget.rule, loop.time()
        drops, budget.drops = budget.drops, []
        hold = self.restart_hold and max(self.restart_hold, rule.window + self.margin)
        args = acquire_args(
            self._instance, rule, margin=self.margin, ttl=self.liveness, hold=hold,
            known=now - budget.seen < self.state_ttl / 2, state_ttl=self.state_ttl,
            drops=drops, waiters=itertools.islice(budget.waiters, REGISTER_CAP), now=now,
        )
        try:
            reply = await self._run(self._acquire, budget.names, args)
        except BaseException:
            budget.drops[:0] = drops
            raise
        wait, budget.peers, busy, granted = acquire_reply(reply)
        now = budget.seen = loop.time()
        budget.busy_until = now + busy
        budget.hand_out(granted, now)
        return BEAT if wait is None else wait

    async def _run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One script call by SHA (loaded again after a restart), bounded by ``timeout``."""
        async with asyncio.timeout(self.timeout):
            return await script(keys=keys, args=args)
