"""RedisLimiter: one driver task per busy budget talks to Redis for all its waiters."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .._errors import OkxLimiterUnavailable
from .._limiter import LimitKey, Outcome, Permit
from .._window import DEFAULT_MARGIN, RateLimit
from ._budget import BEAT, HOLD, TIMEOUT, Answer, Budget, Finished, Waiter
from ._link import Link
from ._outage import AnyRedis, FallbackMode, Outage

log = logging.getLogger("okx_async.redis")

#: What a broken, restarting or hung Redis raises through redis-py and asyncio.
_UNAVAILABLE: Final = (RedisError, OSError, TimeoutError)
#: First and longest pause between attempts while Redis does not answer.
_BACKOFF: Final = (0.02, BEAT)
_ANSWERS: Final = {
    Outcome.ACCEPTED: Answer.ACCEPTED, Outcome.THROTTLED: Answer.THROTTLED,
    Outcome.UNKNOWN: Answer.UNKNOWN,
}


class _RedisPermit:
    """What ``slot()`` returns: a slot granted through Redis, or through the fallback."""

    __slots__ = (
        "_budget", "_finished", "_id", "_key", "_lifetime", "_limiter", "_memory", "_outcome",
        "_rule",
    )

    def __init__(
        self, limiter: RedisLimiter, key: LimitKey, rule: RateLimit, lifetime: float | None
    ) -> None:
        self._limiter = limiter
        self._key = key
        self._rule = rule
        self._lifetime = lifetime
        self._budget: Budget | None = None
        self._id: str | None = None
        self._memory: Permit | None = None
        self._outcome = Outcome.UNKNOWN
        self._finished = False

    def finish(self, outcome: Outcome) -> None:
        self._outcome = outcome
        self._finished = True
        if self._memory is not None:
            self._memory.finish(outcome)

    async def __aenter__(self) -> None:
        limiter = self._limiter
        limiter._check_loop()
        # Looked up here, not in slot(): a budget evicted meanwhile must not be driven.
        budget = self._budget = limiter._budget(self._key, self._rule)
        since = asyncio.get_running_loop().time()
        while True:
            self._id = await limiter._wait(budget, since)
            if self._id is not None:
                return
            self._memory = await limiter._outage.borrow(budget, self._lifetime)
            if self._memory is not None:
                self._id = limiter._new_id()
                budget.flying[self._id] = asyncio.get_running_loop().time()
                budget.local.add(self._id)
                limiter._kick(budget)  # its beats tell Redis, once back, of this request
                return
            # Redis answered again while this call waited on the fallback: back in line.

    async def __aexit__(self, *exc_info: object) -> None:
        if self._id is None or self._budget is None:
            return
        if self._memory is not None:
            await self._memory.__aexit__(None, None, None)
        lifetime = None if self._finished else self._lifetime
        self._limiter._done(self._budget, self._id, self._outcome, lifetime)


class RedisLimiter:
    """A :class:`~okx_async.Limiter` shared through Redis by many processes and hosts.

    Example::

        limiter = RedisLimiter.from_url("redis://127.0.0.1:6379/0")
        async with limiter, OkxClient(Credentials.from_env(), limiter=limiter) as okx:
            await okx.max_collateral_redeem_amounts(["USDT", "BTC"])

    While Redis does not answer, waiting calls keep waiting and nothing is sent; an
    outage longer than ``grace`` seconds raises :class:`OkxLimiterUnavailable` in each
    waiting call, or with ``fallback="memory"`` lets each process go on alone at a
    fair share of the rule (``share`` of it, or one over the number of processes seen
    lately; one request per window if it never reached Redis) until Redis answers
    again. ``timeout`` bounds every Redis round trip; the others count this process as
    alive for ``2 * (0.25 + timeout)`` seconds after each call (:attr:`liveness`), so a
    slow link never makes it look dead.
    """

    __slots__ = (
        "_budgets", "_closed", "_instance", "_link", "_loop", "_outage", "_owns_redis", "_redis",
        "_seq", "max_idle", "prefix",
    )

    def __init__(
        self,
        redis: AnyRedis,
        *,
        prefix: str = "okx-async",
        margin: float = DEFAULT_MARGIN,
        fallback: FallbackMode = "raise",
        grace: float = 3.0,
        share: float | None = None,
        timeout: float = TIMEOUT,
        state_ttl: float = 3600.0,
        max_idle: int = 1024,
        restart_hold: float = HOLD,
    ) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix {prefix!r} must be non-empty and without braces")
        if fallback not in ("raise", "memory"):
            raise ValueError(f"fallback must be 'raise' or 'memory', not {fallback!r}")
        if margin < 0 or grace < 0 or restart_hold < 0:
            raise ValueError("margin, grace and restart_hold must be >= 0")
        if timeout <= 0 or state_ttl <= 0:
            raise ValueError("timeout and state_ttl must be > 0")
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share!r}")
        self._redis = redis
        self._owns_redis = False
        self.prefix = prefix
        self.max_idle = max_idle
        #: Names this process's tickets and permits; hex, so it holds no '.'.
        self._instance = secrets.token_hex(6)
        self._seq = itertools.count()
        self._outage = Outage(redis, fallback=fallback, grace=grace, share=share, margin=margin)
        self._link = Link(redis, self._instance, margin=margin, timeout=timeout,
                          restart_hold=restart_hold, state_ttl=state_ttl)
        self._budgets: dict[LimitKey, Budget] = {}
        self._closed = False
        #: The event loop it serves: the first that waited on it.
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = TIMEOUT, cluster: bool = False, **options: Any
    ) -> RedisLimiter:
        """A limiter on a client of its own, closed by :meth:`aclose`.

        ``cluster=True`` connects to a Redis Cluster through any of its nodes
        (``redis.asyncio.RedisCluster.from_url``). ``options`` are
        :class:`RedisLimiter`'s; any other goes to redis-py's ``from_url``. Every
        socket operation is bounded by ``timeout``; the limiter retries with back-off
        itself.
        """
        own = {k: options.pop(k) for k in list(options) if k in (cls.__init__.__kwdefaults__ or {})}
        # One quick retry replaces a pooled connection that a restart broke.
        redis_options = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                         "retry": Retry(NoBackoff(), 1), **options}
        client: AnyRedis = (
            RedisCluster.from_url(url, **redis_options) if cluster
            else aioredis.Redis.from_url(url, **redis_options)
        )
        limiter = cls(client, timeout=timeout, **own)
        limiter._owns_redis = True
        return limiter

    @property
    def fallback(self) -> FallbackMode:
        """What an outage longer than :attr:`grace` does: ``"raise"`` or ``"memory"``."""
        return self._outage.fallback

    @property
    def grace(self) -> float:
        """How long calls wait for Redis to answer again before the fallback applies."""
        return self._outage.grace

    @property
    def share(self) -> float | None:
        """The part of a rule each process uses during a fallback; None: 1 / processes."""
        return self._outage.share

    @property
    def margin(self) -> float:
        """Added to every window, as in memory."""
        return self._link.margin

    @property
    def timeout(self) -> float:
        """Bound on every Redis round trip."""
        return self._link.timeout

    @property
    def liveness(self) -> float:
        """Seconds the other processes count this one as alive after each of its calls."""
        return self._link.liveness

    @property
    def restart_hold(self) -> float:
        """A Redis that restarted, or lost a budget's state, grants nothing on it for the
        longer of this and the rule's window + margin (0: not at all)."""
        return self._link.restart_hold

    @property
    def state_ttl(self) -> float:
        """How long what a budget learned (even pacing, trusted bursts) outlives its use."""
        return self._link.state_ttl

    def __repr__(self) -> str:
        return (
            f"<RedisLimiter redis={self._outage.where()} prefix={self.prefix!r} "
            f"fallback={self.fallback!r} budgets={len(self._budgets)} "
            f"down={self._outage.down_since is not None}>"
        )

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # The Limiter interface -------------------------------------------------------------

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        if self._closed:
            raise OkxLimiterUnavailable("this RedisLimiter is closed")
        return _RedisPermit(self, key, rule, lifetime)

    async def aclose(self) -> None:
        """End pending waits, tell Redis what it must still know, and leave no task behind.

        The last word is what this process has in flight or cooling, sent again even
        if it was sent before, in case Redis restarted meanwhile. An outage longer
        than ``grace`` gives that up, as it would for a crashed process: what Redis
        heard on the last beat still counts, and a restart is covered by the restart
        hold.
        """
        if self._closed:
            return
        self._closed = True
        closed = OkxLimiterUnavailable("the RedisLimiter was closed; nothing was sent")
        for budget in self._budgets.values():
            budget.end_waits(lambda f: f.set_exception(OkxLimiterUnavailable(*closed.args)))
            if budget.flying or budget.finished or budget.drops:
                budget.unsent = True
                self._kick(budget, closing=True)
        drivers = [b.driver for b in self._budgets.values() if b.driver is not None]
        if drivers:
            _, pending = await asyncio.wait(drivers, timeout=self.grace + self.timeout + 1)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._outage.close()
        if self._owns_redis:
            await self._redis.aclose()

    def _budget(self, key: LimitKey, rule: RateLimit) -> Budget:
        """The budget of ``key``, made if new; idle ones are evicted past ``max_idle``."""
        budget = self._budgets.get(key)
        if budget is None:
            if len(self._budgets) >= self.max_idle:
                for k in [k for k, b in self._budgets.items() if not (b.busy() or b.driver)]:
                    del self._budgets[k]
            budget = self._budgets[key] = Budget(key, rule, self.prefix)
        budget.rule = rule  # it travels with every call, so a change applies at once
        return budget

    # Waiting ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        """A ticket or permit id: this process's instance, then a sequence that sorts."""
        return f"{self._instance}.{next(self._seq):012x}"

    def _check_loop(self) -> None:
        """Bind to the first event loop that waits here; refuse any other, never hang.

        The driver tasks, their futures and redis-py's connections belong to one loop.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "this RedisLimiter belongs to the event loop that first used it; make one "
                "RedisLimiter per event loop (per thread, per asyncio.run())"
            )

    async def _wait(self, budget: Budget, since: float) -> str | None:
        """Wait in the local FIFO until the driver hands over a permit, or None: fall back."""
        if self._closed:
            raise OkxLimiterUnavailable("the RedisLimiter was closed; nothing was sent")
        if self._outage.fallen_back:
            self._kick(budget)  # keeps asking Redis whether it is back
            return None
        loop = asyncio.get_running_loop()
        waiter = Waiter(self._new_id(), since, loop.create_future())
        budget.waiters.append(waiter)
        self._kick(budget)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                granted = future.result()
                if granted is not None:
                    # Granted, then cancelled before it could send: the slot is unused.
                    del budget.flying[granted]
                    budget.drops.append(granted)
            elif waiter in budget.waiters:
                budget.waiters.remove(waiter)
                budget.drops.append(waiter.ticket)
            self._kick(budget)
            raise

    def _done(self, budget: Budget, permit: str, outcome: Outcome, lifetime: float | None) -> None:
        """A request is over; a permit left without ``finish`` may arrive until grant + lifetime."""
        now = asyncio.get_running_loop().time()
        granted = budget.flying.pop(permit)
        if outcome is Outcome.NOT_SENT:
            if permit not in budget.local:
                budget.drops.append(permit)  # Redis frees the slot with the next call
            budget.local.discard(permit)
            self._kick(budget)
            return
        budget.local.discard(permit)
        arrival = max(now, granted + lifetime) if lifetime is not None else now
        budget.finished[permit] = Finished(arrival, _ANSWERS[outcome], granted)
        budget.unsent = True
        self._kick(budget)

    def _kick(self, budget: Budget, *, closing: bool = False) -> None:
        """Make the budget's driver look now, starting it if it is not running.

        Once closed, only :meth:`aclose` starts one: no task outlives it.
        """
        budget.wake.set()
        if budget.driver is None and budget.busy() and (closing or not self._closed):
            budget.driver = asyncio.get_running_loop().create_task(self._drive(budget))

    # The driver ------------------------------------------------------------------------

    async def _drive(self, budget: Budget) -> None:
        """Talk to Redis for one budget while this process waits, sends or cools on it.

        One task per budget: one round trip per decision however many tasks wait,
        a beat every BEAT so the others know this process is alive, and the back-off
        while Redis is away.
        """
        loop = asyncio.get_running_loop()
        backoff = 0.0
        next_beat = -math.inf
        try:
            while True:
                budget.wake.clear()
                now = loop.time()
                budget.trim(now, budget.rule.window + self.margin)
                if not budget.busy() or (self._closed and not (budget.unsent or budget.drops)):
                    return
                sleep, talked = BEAT, False
                try:
                    beat = now >= next_beat and (budget.flying or budget.finished)
                    if budget.unsent or beat:
                        await self._link.tell(budget)
                        next_beat, talked = now + BEAT, True
                    if budget.waiters or budget.drops:
                        sleep, talked = min(sleep, await self._link.ask(budget)), True
                except _UNAVAILABLE as exc:
                    # Redis may come back empty: tell it what it must know before asking.
                    budget.unsent = True
                    if self._outage.failed(budget, exc, now, self._closed):
                        return  # closed, and Redis did not answer within the grace
                    backoff = min(max(backoff * 2, _BACKOFF[0]), _BACKOFF[1])
                    sleep = backoff
                else:
                    backoff = 0.0
                    if talked:
                        self._outage.answered(self._budgets.values())
                    if self._closed and not (budget.unsent or budget.drops):
                        return  # the last word is said
                if sleep > 0 and not budget.wake.is_set():
                    try:
                        async with asyncio.timeout(sleep):
                            await budget.wake.wait()
                    except TimeoutError:
                        pass
        except Exception as exc:  # a bug must fail the waiters, not strand them
            log.exception("RedisLimiter driver for %s failed", budget.key)
            message = f"the RedisLimiter failed ({type(exc).__name__}: {exc}); nothing was sent"
            budget.end_waits(lambda f: f.set_exception(OkxLimiterUnavailable(message)))
        finally:
            budget.driver = None
