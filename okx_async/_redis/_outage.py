"""Redis not answering, as one limiter lives it: the grace, then failing calls or a
per-process share of each rule, and the way back. No Redis call is made here."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from .._errors import OkxLimiterUnavailable
from .._limiter import MemoryLimiter, Permit
from .._window import RateLimit
from ._budget import BEAT, Budget

log = logging.getLogger("okx_async.redis")

FallbackMode = Literal["raise", "memory"]
#: A client of one Redis, or of a Redis Cluster.
AnyRedis = aioredis.Redis | RedisCluster


class Outage:
    """The state of one limiter's link to Redis while calls fail, and what follows.

    Calls keep waiting for ``grace`` seconds; after that each waiting call fails with
    :class:`OkxLimiterUnavailable`, or with ``fallback="memory"`` takes a slot of the
    process's share of the rule from a :class:`MemoryLimiter`, until Redis answers.
    """

    __slots__ = ("_back", "_long", "_memory", "_redis", "down_since", "fallback", "grace",
                 "margin", "share")

    def __init__(
        self, redis: AnyRedis, *, fallback: FallbackMode, grace: float, share: float | None,
        margin: float,
    ) -> None:
        self._redis = redis
        self.fallback: FallbackMode = fallback
        self.grace = grace
        #: The part of a rule each process uses during a fallback; None: 1 / processes.
        self.share = share
        self.margin = margin
        self._memory = MemoryLimiter(margin=margin)
        #: ``loop.time()`` of the first failed call of the current outage.
        self.down_since: float | None = None
        #: The current outage outlasted the grace: calls fail, or fall back.
        self._long = False
        #: Set when Redis answers again after a fallback; None while not fallen back.
        self._back: asyncio.Future[None] | None = None

    @property
    def fallen_back(self) -> bool:
        """Calls go to the fallback's share now, and keep asking whether Redis is back."""
        return self._back is not None

    def failed(self, budget: Budget, exc: BaseException, started: float, closed: bool) -> bool:
        """A call failed: wait within the grace, then fail or fall back. True: give up."""
        if self.down_since is None:
            self.down_since = started
            log.debug("%s; retrying for up to %.1f s", self.describe(exc), self.grace)
        loop = asyncio.get_running_loop()
        if loop.time() - self.down_since < self.grace:
            return False
        if closed:
            return True
        memory = self.fallback == "memory"
        if not self._long:
            self._long = True
            then = "falling back to a per-process share of each rule" if memory else (
                "failing calls")
            log.warning("%s; %s until Redis is back", self.describe(exc), then)
            if memory:
                self._back = loop.create_future()
        if memory:
            budget.end_waits(lambda f: f.set_result(None))
        else:
            budget.end_waits(lambda f: f.set_exception(self._error(exc)))
        return False

    def answered(self, budgets: Iterable[Budget]) -> None:
        """A call succeeded: the outage, if any, is over."""
        self.down_since = None
        back, self._back = self._back, None
        if back is not None:
            back.set_result(None)
            for budget in budgets:
                budget.share = None
        if self._long:
            self._long = False
            log.warning("Redis at %s answers again; limiting through it again", self.where())

    def close(self) -> None:
        back, self._back = self._back, None
        if back is not None:
            back.cancel()

    async def borrow(self, budget: Budget, lifetime: float | None) -> Permit | None:
        """A slot of this process's fair share, or None once Redis answers again.

        The share starts once every slot Redis knew of has cooled and this process's
        requests granted through Redis are over: the memory limiter knows neither.
        """
        loop = asyncio.get_running_loop()
        back = self._back
        if back is None:
            return None
        rule, cool = budget.rule, budget.rule.window + self.margin
        if budget.share is None:
            budget.share = self._share_of(rule, budget.peers)
            budget.clear_at = max(budget.busy_until, (self.down_since or 0.0) + cool)
        while True:
            now = loop.time()
            ends = [f.arrival + cool for f in budget.finished.values()]
            at = max([budget.clear_at, *ends])
            if now >= at and budget.flying.keys() <= budget.local:
                break
            await asyncio.wait((back,), timeout=min(max(at - now, 0.01), BEAT))
            if back.done():
                return None
        permit = self._memory.slot(budget.key, budget.share, lifetime=lifetime)
        entering = loop.create_task(permit.__aenter__())
        try:
            await asyncio.wait((entering, back), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not entering.done():
                entering.cancel()
            await asyncio.wait((entering,))
            task = asyncio.current_task()
            if task and task.cancelling() and not entering.cancelled() and not entering.exception():
                await permit.__aexit__(None, None, None)  # granted, never used
        if entering.cancelled():
            return None  # Redis came back first
        entering.result()
        return permit

    def _share_of(self, rule: RateLimit, peers: int | None) -> RateLimit:
        """This process's part of ``rule``: ``share``, or one over the processes seen.

        A process that never heard from Redis on this budget cannot know how many
        others share it, so it takes the smallest part: one request per window.
        """
        if self.share is not None:
            requests = math.floor(rule.requests * self.share)
        elif peers is not None:
            requests = math.floor(rule.requests / max(1, peers))
        else:
            requests = 1
        return RateLimit(max(1, requests), rule.window)

    # Messages ----------------------------------------------------------------------------

    def _error(self, exc: BaseException) -> OkxLimiterUnavailable:
        error = OkxLimiterUnavailable(
            f"{self.describe(exc)} for longer than {self.grace} s; no request was sent. "
            "Check the server, or pass fallback='memory' to RedisLimiter to go on at a "
            "per-process share of the limit"
        )
        error.__cause__ = exc
        return error

    def describe(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        password = self._kwargs().get("password")
        if password:
            detail = detail.replace(str(password), "***")
        return f"Redis at {self.where()} is unreachable ({type(exc).__name__}: {detail})"

    def where(self) -> str:
        """``host:port`` (or the socket path, or a cluster's node) of Redis, for messages."""
        if isinstance(self._redis, RedisCluster):
            node = self._redis.get_default_node()
            return f"cluster {node.host}:{node.port}" if node else "cluster"
        kwargs = self._kwargs()
        if kwargs.get("path"):
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"

    def _kwargs(self) -> dict[str, Any]:
        """The connection settings redis-py keeps (host, port, password...)."""
        kwargs: dict[str, Any] = self._redis.get_connection_kwargs()
        return kwargs
