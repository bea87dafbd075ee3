"""RedisLimiter: one driver task per busy budget talks to Redis for all its waiters."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
from collections.abc import Sequence
from typing import Any, Final, Literal

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from .._errors import OkxLimiterUnavailable
from .._limiter import LimitKey, MemoryLimiter, Outcome, Permit
from .._window import DEFAULT_MARGIN, RateLimit
from ._budget import BEAT, HOLD, REGISTER_CAP, TIMEOUT, Answer, Budget, Finished, Waiter, liveness
from ._scripts import ACQUIRE, RECORD, acquire_args, acquire_reply, record_args

log = logging.getLogger("okx_async.redis")

FallbackMode = Literal["raise", "memory"]
#: A client of one Redis, or of a Redis Cluster.
AnyRedis = aioredis.Redis | RedisCluster

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
        # Looked up here, not in slot(): a budget evicted meanwhile must not be driven.
        budget = self._budget = limiter._budget(self._key, self._rule)
        since = asyncio.get_running_loop().time()
        while True:
            self._id = await limiter._wait(budget, since)
            if self._id is not None:
                return
            self._memory = await limiter._borrow(budget, self._lifetime)
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
    lately) until Redis answers again. ``timeout`` bounds every Redis round trip; the
    others count this process as alive for ``2 * (0.25 + timeout)`` seconds after each
    call (:attr:`liveness`), so a slow link never makes it look dead.
    """

    __slots__ = (
        "_acquire", "_back", "_budgets", "_closed", "_down_since", "_instance", "_long",
        "_memory", "_owns_redis", "_record", "_redis", "_seq",
        "fallback", "grace", "margin", "max_idle", "prefix", "restart_hold", "share",
        "state_ttl", "timeout",
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
        self.margin = margin
        self.fallback: FallbackMode = fallback
        self.grace = grace
        #: The part of a rule each process uses during a fallback; None: 1 / processes.
        self.share = share
        self.timeout = timeout
        #: How long what a budget learned (even pacing, trusted bursts) outlives its use.
        self.state_ttl = state_ttl
        self.max_idle = max_idle
        #: A Redis that restarted, or lost a budget's state, grants nothing on it for the
        #: longer of this and the rule's window + margin (0: not at all): what it forgot
        #: has cooled by then, and live processes have told it again what they hold.
        self.restart_hold = restart_hold
        #: Names this process's tickets and permits; hex, so it holds no '.'.
        self._instance = secrets.token_hex(6)
        self._seq = itertools.count()
        self._acquire: AsyncScript = redis.register_script(ACQUIRE)
        self._record: AsyncScript = redis.register_script(RECORD)
        self._budgets: dict[LimitKey, Budget] = {}
        self._memory = MemoryLimiter(margin=margin)
        #: ``loop.time()`` of the first failed call of the current outage.
        self._down_since: float | None = None
        #: The current outage outlasted the grace: calls fail, or fall back.
        self._long = False
        #: Set when Redis answers again after a fallback; None while not fallen back.
        self._back: asyncio.Future[None] | None = None
        self._closed = False

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
    def liveness(self) -> float:
        """Seconds the other processes count this one as alive after each of its calls."""
        return liveness(self.timeout)

    def __repr__(self) -> str:
        return (
            f"<RedisLimiter redis={self._where()} prefix={self.prefix!r} "
            f"fallback={self.fallback!r} budgets={len(self._budgets)} "
            f"down={self._down_since is not None}>"
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
        back, self._back = self._back, None
        if back is not None:
            back.cancel()
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

    async def _wait(self, budget: Budget, since: float) -> str | None:
        """Wait in the local FIFO until the driver hands over a permit, or None: fall back."""
        if self._closed:
            raise OkxLimiterUnavailable("the RedisLimiter was closed; nothing was sent")
        if self._back is not None:
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
                        await self._tell(budget)
                        next_beat, talked = now + BEAT, True
                    if budget.waiters or budget.drops:
                        sleep, talked = min(sleep, await self._ask(budget)), True
                except _UNAVAILABLE as exc:
                    # Redis may come back empty: tell it what it must know before asking.
                    budget.unsent = True
                    if self._unavailable(budget, exc, now):
                        return  # closed, and Redis did not answer within the grace
                    backoff = min(max(backoff * 2, _BACKOFF[0]), _BACKOFF[1])
                    sleep = backoff
                else:
                    backoff = 0.0
                    if talked:
                        self._available()
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

    async def _tell(self, budget: Budget) -> None:
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

    async def _ask(self, budget: Budget) -> float:
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

    # Outages ---------------------------------------------------------------------------

    def _unavailable(self, budget: Budget, exc: BaseException, started: float) -> bool:
        """A call failed: wait within the grace, then fail or fall back. True: give up."""
        if self._down_since is None:
            self._down_since = started
            log.debug("%s; retrying for up to %.1f s", self._describe(exc), self.grace)
        loop = asyncio.get_running_loop()
        if loop.time() - self._down_since < self.grace:
            return False
        if self._closed:
            return True
        memory = self.fallback == "memory"
        if not self._long:
            self._long = True
            then = "falling back to a per-process share of each rule" if memory else (
                "failing calls")
            log.warning("%s; %s until Redis is back", self._describe(exc), then)
            if memory:
                self._back = loop.create_future()
        if memory:
            budget.end_waits(lambda f: f.set_result(None))
        else:
            budget.end_waits(lambda f: f.set_exception(self._error(exc)))
        return False

    def _available(self) -> None:
        self._down_since = None
        back, self._back = self._back, None
        if back is not None:
            back.set_result(None)
            for budget in self._budgets.values():
                budget.share = None
        if self._long:
            self._long = False
            log.warning("Redis at %s answers again; limiting through it again", self._where())

    async def _borrow(self, budget: Budget, lifetime: float | None) -> Permit | None:
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
            part = self.share if self.share is not None else 1 / max(1, budget.peers)
            budget.share = RateLimit(max(1, math.floor(rule.requests * part)), rule.window)
            budget.clear_at = max(budget.busy_until, (self._down_since or 0.0) + cool)
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

    # Messages ----------------------------------------------------------------------------

    def _error(self, exc: BaseException) -> OkxLimiterUnavailable:
        error = OkxLimiterUnavailable(
            f"{self._describe(exc)} for longer than {self.grace} s; no request was sent. "
            "Check the server, or pass fallback='memory' to RedisLimiter to go on at a "
            "per-process share of the limit"
        )
        error.__cause__ = exc
        return error

    def _describe(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        password = self._kwargs().get("password")
        if password:
            detail = detail.replace(str(password), "***")
        return f"Redis at {self._where()} is unreachable ({type(exc).__name__}: {detail})"

    def _kwargs(self) -> dict[str, Any]:
        """The connection settings redis-py keeps (host, port, password...)."""
        kwargs: dict[str, Any] = self._redis.get_connection_kwargs()
        return kwargs

    def _where(self) -> str:
        if isinstance(self._redis, RedisCluster):
            node = self._redis.get_default_node()
            return f"cluster {node.host}:{node.port}" if node else "cluster"
        kwargs = self._kwargs()
        if kwargs.get("path"):
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
