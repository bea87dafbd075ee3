"""A limiter shared by every process and host that uses the same Redis.

The guarantee is :class:`~okx_async.MemoryLimiter`'s, summed over processes: never
more than ``rule.requests`` arrivals inside any ``rule.window`` seconds per
``(user id, endpoint)``. A slot is held while its request is in flight, under a
*lease* so a crashed process cannot hold it for ever, and frees ``window + margin``
after the request finished. Every decision is one Lua script, so it is atomic, and
it reads Redis's own clock (``TIME``), so skew between hosts cannot break a window.
Like the memory limiter, the first ``requests`` grants of a budget go at once, the
next ``requests`` refilled slots go one at a time as probes, and a 50011 pauses the
budget for a window and switches it to even pacing, here in every process at once.

Keys of one budget share the hash tag ``{user_id:endpoint}`` and so one Redis Cluster
slot. With the default prefix ``okx-async``:

``okx-async:{U:E}:slots``
    ZSET, member = permit id, score = Redis ms when the slot frees: the lease's end
    while in flight, ``finish + window + margin`` once finished.
``okx-async:{U:E}:queue``
    ZSET of fairness tickets, score = Redis ms when the waiter started waiting.
``okx-async:{U:E}:alive``
    ZSET, the same tickets scored by when they count as abandoned (a dead waiter).
``okx-async:{U:E}:pause``
    Redis ms until which nothing is granted, after a 50011; expires with the pause.
``okx-async:{U:E}:pace``
    HASH ``interval``, ``last``, ``ttl``: even pacing, switched on by a 50011.
``okx-async:{U:E}:burst``
    HASH ``fresh`` (first-burst grants left), ``left`` (accepted probes still
    needed before refilled bursts are trusted), ``probe`` (the probe in flight).
``okx-async:{U:E}:released``
    pub/sub channel: ``release`` when a request finished (its slot's free time is
    known now; a probe was answered), ``free`` when a slot was given back unused,
    ``grant <instance>...`` when slots were handed to waiters of those limiters.

Every write re-arms a PEXPIRE, so an idle budget leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Final, Literal

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ._errors import OkxLimiterUnavailable
from ._limiter import LimitKey, Outcome, Permit, default_limiter
from ._window import DEFAULT_MARGIN, RateLimit

log = logging.getLogger(__name__)

Fallback = Literal["raise", "memory"]

#: Longest a waiting limiter goes without asking Redis: bounds every wait, and keeps
#: its fairness tickets fresh even when no notification comes.
_REFRESH: Final = 2.0
#: Tickets refreshed within this long count as alive; also how long a slot handed to
#: another limiter's waiter is kept for it to claim.
_TICKET_TTL: Final = 10.0
#: Waiters of one budget whose tickets go to Redis in one call; the rest are younger.
_REGISTER_CAP: Final = 64
#: Seconds between checks whether Redis is back, during a fallback to memory.
_CHECK_INTERVAL: Final = 1.0

# Runs for one limiter's waiters of one budget: takes the free slots for the oldest
# tickets of every limiter, handing those of others over, and says how long to wait.
# KEYS: slots queue alive pause pace burst.
# ARGV: requests cool_ms lease_ms ticket_ttl_ms channel state_ttl_ms,
#       n_drop drop..., n_tickets (ticket age_ms)...
_ACQUIRE_LUA: Final = """
local slots, queue, alive, pause, pace, burst = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local requests = tonumber(ARGV[1])
local lease = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local channel = ARGV[5]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000

redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', alive, '-inf', now)
for _, id in ipairs(stale) do
  redis.call('ZREM', queue, id)
end
redis.call('ZREMRANGEBYSCORE', alive, '-inf', now)

local b = redis.call('HMGET', burst, 'fresh', 'left', 'probe')
local fresh, probe = tonumber(b[1]), b[3]
if not fresh then
  fresh = requests
  redis.call('HSET', burst, 'fresh', fresh, 'left', requests)
end
local left = tonumber(b[2]) or requests

-- Waiters that gave up: their tickets go, and a slot handed to them was never used.
local freed = false
local i = 7
local n = tonumber(ARGV[i])
for j = i + 1, i + n do
  local id = ARGV[j]
  redis.call('ZREM', queue, id)
  redis.call('ZREM', alive, id)
  if redis.call('ZREM', slots, id) == 1 then
    freed = true
  end
end
i = i + n + 1
-- A probe whose slot is gone (given back, or its holder died) answers nothing.
if probe and not redis.call('ZSCORE', slots, probe) then
  redis.call('HDEL', burst, 'probe')
  probe = false
end

local granted = {}
local waiting = {}
local nwaiting = 0
local floor = -math.huge
n = tonumber(ARGV[i])
for j = i + 1, i + 2 * n, 2 do
  local id = ARGV[j]
  if redis.call('ZSCORE', slots, id) then
    -- Handed over by another limiter's call: claim it, the lease runs from now.
    redis.call('ZADD', slots, now + lease, id)
    granted[#granted + 1] = id
  else
    local score = tonumber(redis.call('ZSCORE', queue, id))
    if not score then
      -- Never earlier than the caller's older tickets: keeps its waiters in FIFO order.
      score = math.max(now - tonumber(ARGV[j + 1]), floor)
      redis.call('ZADD', queue, score, id)
    end
    floor = score
    redis.call('ZADD', alive, now + ttl, id)
    waiting[id] = true
    nwaiting = nwaiting + 1
  end
end

local p = redis.call('HMGET', pace, 'interval', 'last', 'ttl')
local interval = tonumber(p[1]) or 0
local last = tonumber(p[2]) or 0
local gate = math.max(tonumber(redis.call('GET', pause)) or 0, last + interval)
local taken = redis.call('ZCARD', slots)
local owners = {}
while taken < requests and gate <= now and not probe do
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if not head then
    break
  end
  redis.call('ZREM', queue, head)
  redis.call('ZREM', alive, head)
  if waiting[head] then
    waiting[head] = nil
    nwaiting = nwaiting - 1
    redis.call('ZADD', slots, now + lease, head)
    granted[#granted + 1] = head
  else
    -- The oldest ticket is another limiter's: it claims the slot when woken.
    redis.call('ZADD', slots, now + ttl, head)
    owners[#owners + 1] = string.match(head, '^[^.]*')
  end
  taken = taken + 1
  if fresh > 0 then
    fresh = fresh - 1
    redis.call('HSET', burst, 'fresh', fresh)
  elseif interval == 0 and left > 0 then
    -- A refilled slot, before bursts are trusted: it goes alone, as a probe.
    probe = head
    redis.call('HSET', burst, 'probe', head)
  end
  if interval > 0 then
    gate = now + interval
    redis.call('HSET', pace, 'last', now)
    redis.call('PEXPIRE', pace, p[3])
  end
end

-- How long to wait, and whether a release may cut it short: it can while the wait is
-- for a probe's answer or for a slot in flight, whose end nobody knows yet.
local wait, open = -1, 0
if nwaiting > 0 then
  local at = gate
  if probe then
    at = math.max(at, tonumber(redis.call('ZSCORE', slots, probe)))
    open = 1
  elseif taken >= requests then
    local first = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')[2]
    if first then
      at = math.max(at, tonumber(first))
      if tonumber(first) > now + tonumber(ARGV[2]) then
        open = 1
      end
    end
  end
  wait = math.max(at - now, 0)
end

local latest = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')
if latest[2] then
  redis.call('PEXPIRE', slots, math.ceil(tonumber(latest[2]) - now) + 1)
end
redis.call('PEXPIRE', queue, ARGV[4])
redis.call('PEXPIRE', alive, ARGV[4])
redis.call('PEXPIRE', burst, ARGV[6])
if #owners > 0 then
  redis.call('PUBLISH', channel, 'grant ' .. table.concat(owners, ' '))
end
if freed then
  redis.call('PUBLISH', channel, 'free')
end
local reply = {string.format('%.3f', now), string.format('%.3f', wait), open}
for _, id in ipairs(granted) do
  reply[#reply + 1] = id
end
return reply
"""

# Records finished requests, each slot freeing cool_ms after its request finished
# (re-added if Redis lost it: the request happened), answers a probe, and after a
# 50011 pauses every grant for a window and switches to even pacing, all in one step
# so nobody is granted in between. Also re-adds slots still in flight that a restarted
# Redis forgot. Returns {pacing switched on now (0|1), now}.
# KEYS: slots pause pace burst.
# ARGV: cool_ms channel throttle(0|1) interval_ms state_ttl_ms lease_ms,
#       n (permit ago_ms accepted(0|1))..., n_in_flight permit...
_RELEASE_LUA: Final = """
local slots, pause, pace, burst = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cool = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local probe = redis.call('HGET', burst, 'probe')
local n = tonumber(ARGV[7])
for j = 8, 7 + 3 * n, 3 do
  local id = ARGV[j]
  local at = now - tonumber(ARGV[j + 1]) + cool
  if at > now then
    redis.call('ZADD', slots, at, id)
  else
    redis.call('ZREM', slots, id)
  end
  if id == probe then
    redis.call('HDEL', burst, 'probe')
    if ARGV[j + 2] == '1' and redis.call('HEXISTS', burst, 'left') == 1 then
      redis.call('HINCRBY', burst, 'left', -1)
    end
  end
end
local i = 8 + 3 * n
for j = i + 1, i + tonumber(ARGV[i]) do
  redis.call('ZADD', slots, 'NX', now + tonumber(ARGV[6]), ARGV[j])
end
local paced = 0
if ARGV[3] == '1' then
  redis.call('SET', pause, string.format('%.3f', now + cool), 'PX', math.ceil(cool))
  paced = redis.call('HSETNX', pace, 'interval', ARGV[4])
  if paced == 1 then
    redis.call('HSET', pace, 'last', now, 'ttl', ARGV[5])
  end
  redis.call('PEXPIRE', pace, ARGV[5])
end
local latest = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')
if latest[2] then
  redis.call('PEXPIRE', slots, math.ceil(tonumber(latest[2]) - now) + 1)
end
if redis.call('EXISTS', burst) == 1 then
  redis.call('PEXPIRE', burst, ARGV[5])
end
if n > 0 then
  redis.call('PUBLISH', ARGV[2], 'release')
end
return {paced, string.format('%.3f', now)}
"""

#: The names of a budget's keys, after the prefix and the hash tag; the last is the
#: pub/sub channel.
_PARTS: Final = ("slots", "queue", "alive", "pause", "pace", "burst", "released")

#: What a broken or slow Redis raises through redis-py and asyncio.
_UNAVAILABLE: Final = (RedisError, OSError, TimeoutError)


class _Fallback:
    """Marker result of an acquisition that must use the in-memory limiter."""

    __slots__ = ()


_FALLBACK: Final = _Fallback()


class _Waiter:
    """One task waiting for a slot, in its limiter's local FIFO."""

    __slots__ = ("future", "since", "ticket")

    def __init__(self, ticket: str, since: float, future: asyncio.Future[str | _Fallback]) -> None:
        #: Fairness ticket in Redis; becomes the permit id when granted.
        self.ticket = ticket
        #: ``loop.time()`` when the wait began; Redis turns the age into its own time.
        self.since = since
        self.future = future


class _Budget:
    """One ``(user id, endpoint)`` as seen by one limiter: local FIFO and Redis names."""

    __slots__ = (
        "borrowed", "driver", "drops", "held", "key", "names", "open", "outage",
        "reassert", "recent", "rule", "settled", "waiters", "wake",
    )

    def __init__(self, key: LimitKey, rule: RateLimit, prefix: str) -> None:
        self.key = key
        self.rule = rule
        base = f"{prefix}:{{{key.user_id}:{key.endpoint}}}"
        #: slots, queue, alive, pause, pace, burst and released (the channel).
        self.names = tuple(f"{base}:{part}" for part in _PARTS)
        self.waiters: deque[_Waiter] = deque()
        #: Tickets and permits given up unused, to remove on the next call.
        self.drops: list[str] = []
        #: Permits Redis granted to this limiter, in flight.
        self.held: set[str] = set()
        #: Set while ``held`` is empty.
        self.settled = asyncio.Event()
        self.settled.set()
        #: Permits of the memory fallback in flight, named so Redis can learn of them.
        self.borrowed: set[str] = set()
        #: This limiter's requests that finished within a window: ``(permit, loop.time())``.
        self.recent: deque[tuple[str, float]] = deque()
        #: The last outage in which this budget went over to the memory fallback.
        self.outage = 0
        #: Redis may have lost this limiter's slots (an error, a restart, a fallback): the
        #: next call records ``recent`` and ``held`` again before it asks for more.
        self.reassert = False
        self.driver: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        #: The driver waits on something a release may end early (see ``_concerns``).
        self.open = True

    @property
    def channel(self) -> str:
        return self.names[6]

    def idle(self) -> bool:
        return not (
            self.waiters or self.drops or self.held or self.borrowed or self.recent
            or self.driver
        )

    def hold(self, permit: str) -> None:
        self.held.add(permit)
        self.settled.clear()

    def unhold(self, permit: str) -> None:
        self.held.discard(permit)
        if not self.held:
            self.settled.set()

    def trim(self, horizon: float) -> None:
        """Forget finishes at or before ``horizon``: their slots are free everywhere."""
        while self.recent and self.recent[0][1] <= horizon:
            self.recent.popleft()


class _RedisPermit:
    """What ``slot()`` returns: a Redis permit, or a memory one during a fallback."""

    __slots__ = ("_budget", "_limiter", "_memory", "_outcome", "_permit")

    def __init__(self, limiter: RedisLimiter, budget: _Budget) -> None:
        self._limiter = limiter
        self._budget = budget
        self._permit: str | None = None
        self._memory: Permit | None = None
        self._outcome = Outcome.UNKNOWN

    def finish(self, outcome: Outcome) -> None:
        self._outcome = outcome
        if self._memory is not None:
            self._memory.finish(outcome)

    async def __aenter__(self) -> None:
        granted = await self._limiter._acquire(self._budget)
        if isinstance(granted, str):
            self._permit = granted
            return
        await self._limiter._enter_fallback(self._budget)
        memory = default_limiter().slot(self._budget.key, self._budget.rule)
        await memory.__aenter__()
        self._memory = memory
        self._permit = self._limiter._new_id()
        self._budget.borrowed.add(self._permit)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._permit is None:
            return
        if self._memory is not None:
            await self._memory.__aexit__(exc_type, exc, tb)
            self._limiter._record_fallback(self._budget, self._permit)
        else:
            await self._limiter._release(self._budget, self._permit, self._outcome)


class RedisLimiter:
    """A :class:`~okx_async.Limiter` shared through Redis by many processes and hosts.

    Example::

        limiter = RedisLimiter.from_url("redis://127.0.0.1:6379/0")
        async with limiter, OkxClient(Credentials.from_env(), limiter=limiter) as okx:
            await okx.max_collateral_redeem_amounts(["USDT", "BTC"])

    ``lease`` bounds how long a slot of a crashed process stays taken; keep it longer
    than a request's timeout plus a window. If Redis cannot be reached, acquiring a
    slot raises :class:`OkxLimiterUnavailable`; with ``fallback="memory"`` the process
    falls back to its in-memory limiter instead, logs one warning per outage and
    returns to Redis when it answers again. ``timeout`` bounds every Redis round trip.
    """

    __slots__ = (
        "_background", "_budgets", "_check", "_closed", "_confirmed", "_instance",
        "_last_check", "_listening", "_outage", "_outages", "_owns_redis", "_pubsub",
        "_reader", "_redis", "_resyncing", "_scripts", "_sent", "_seq", "fallback", "lease",
        "margin", "max_idle", "prefix", "state_ttl", "timeout",
    )

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "okx-async",
        margin: float = DEFAULT_MARGIN,
        lease: float = 30.0,
        fallback: Fallback = "raise",
        timeout: float = 1.0,
        state_ttl: float = 3600.0,
        max_idle: int = 1024,
    ) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix {prefix!r} must be non-empty and without braces")
        if fallback not in ("raise", "memory"):
            raise ValueError(f"fallback must be 'raise' or 'memory', not {fallback!r}")
        if margin < 0 or lease <= 0 or timeout <= 0 or state_ttl <= 0:
            raise ValueError("margin must be >= 0; lease, timeout and state_ttl > 0")
        self._redis = redis
        self._owns_redis = False
        self.prefix = prefix
        self.margin = margin
        self.lease = lease
        self.fallback: Fallback = fallback
        self.timeout = timeout
        #: How long what a budget learned (even pacing, trusted bursts) outlives its use.
        self.state_ttl = state_ttl
        self.max_idle = max_idle
        #: Names this limiter's tickets and permits; hex, so it holds no '.'.
        self._instance = secrets.token_hex(6)
        self._seq = itertools.count()
        self._scripts: tuple[AsyncScript, AsyncScript] = (
            redis.register_script(_ACQUIRE_LUA),
            redis.register_script(_RELEASE_LUA),
        )
        self._budgets: dict[LimitKey, _Budget] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        #: Channel -> confirmation of the SUBSCRIBE on the current connection.
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        #: Channels SUBSCRIBE was sent for on the current connection.
        self._sent: set[str] = set()
        #: Channel -> the budget its messages wake.
        self._listening: dict[str, _Budget] = {}
        self._outage = False
        #: Counts outages, so each budget seeds the memory fallback once per outage.
        self._outages = 0
        self._last_check = -math.inf
        self._check: asyncio.Task[None] | None = None
        self._resyncing: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "okx-async",
        margin: float = DEFAULT_MARGIN,
        lease: float = 30.0,
        fallback: Fallback = "raise",
        timeout: float = 1.0,
        state_ttl: float = 3600.0,
        max_idle: int = 1024,
        **redis_options: Any,
    ) -> RedisLimiter:
        """A limiter on a client of its own, closed by :meth:`aclose`.

        ``redis_options`` go to ``redis.asyncio.Redis.from_url``. The defaults give up
        on a dead server within ``timeout`` seconds, and retry once, at once, so a
        pooled connection broken by a Redis restart is replaced rather than reported.
        """
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 1),
        }
        options.update(redis_options)
        client = aioredis.Redis.from_url(url, **options)
        limiter = cls(
            client, prefix=prefix, margin=margin, lease=lease, fallback=fallback,
            timeout=timeout, state_ttl=state_ttl, max_idle=max_idle,
        )
        limiter._owns_redis = True
        return limiter

    def __repr__(self) -> str:
        return (
            f"<RedisLimiter redis={self._where()} prefix={self.prefix!r} "
            f"fallback={self.fallback!r} budgets={len(self._budgets)} outage={self._outage}>"
        )

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # The Limiter interface -------------------------------------------------------------

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        return _RedisPermit(self, self._budget(key, rule))

    async def throttled(self, key: LimitKey, rule: RateLimit) -> None:
        """Pause ``key`` in every process for a window and switch it to even pacing.

        A permit finished with :attr:`Outcome.THROTTLED` does this by itself; this
        is for 50011s seen some other way.
        """
        budget = self._budget(key, rule)
        if self._outage:
            log.debug("50011 on %s during a fallback: the memory limiter handles it", key)
            return
        try:
            await self._record(budget, [], throttle=True)
        except _UNAVAILABLE as exc:
            if self.fallback != "memory":
                raise self._error(exc) from exc
            self._enter_outage(exc)

    async def aclose(self) -> None:
        """Fail pending waits, finish recording releases, close what this limiter opened."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._reader, self._check, self._resyncing) if t is not None]
        for budget in self._budgets.values():
            if budget.driver is not None:
                tasks.append(budget.driver)
            self._fail_waiters(budget, lambda: OkxLimiterUnavailable("the RedisLimiter was closed"))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Releases still being recorded, and connections being closed, finish first.
        if self._background:
            await asyncio.wait(self._background, timeout=self.timeout)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            close: Callable[[], Awaitable[None]] = pubsub.aclose
            await close()
        if self._owns_redis:
            await self._redis.aclose()

    # Acquiring -------------------------------------------------------------------------

    def _budget(self, key: LimitKey, rule: RateLimit) -> _Budget:
        if self._closed:
            raise OkxLimiterUnavailable("this RedisLimiter is closed")
        budget = self._budgets.get(key)
        if budget is None:
            if len(self._budgets) >= self.max_idle:
                self._evict_idle()
            budget = self._budgets[key] = _Budget(key, rule, self.prefix)
        # The rule travels with every call, so a changed rule applies at once everywhere.
        budget.rule = rule
        return budget

    def _evict_idle(self) -> None:
        for key, budget in list(self._budgets.items()):
            if budget.idle():
                del self._budgets[key]
                self._listening.pop(budget.channel, None)
                self._confirmed.pop(budget.channel, None)
                if self._pubsub is not None and budget.channel in self._sent:
                    self._sent.discard(budget.channel)
                    self._spawn(self._pubsub.unsubscribe(budget.channel))

    async def _acquire(self, budget: _Budget) -> str | _Fallback:
        """Wait in the local FIFO until the driver hands over a permit (or says fall back)."""
        loop = asyncio.get_running_loop()
        if self._outage:
            if not self._checking() and loop.time() - self._last_check >= _CHECK_INTERVAL:
                self._check = loop.create_task(self._check_redis())
            return _FALLBACK
        waiter = _Waiter(self._new_id(), loop.time(), loop.create_future())
        budget.waiters.append(waiter)
        self._kick(budget)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                granted = future.result()
                if isinstance(granted, str):
                    # Granted, then cancelled before it could send: the slot is unused.
                    budget.unhold(granted)
                    budget.drops.append(granted)
            elif waiter in budget.waiters:
                budget.waiters.remove(waiter)
                budget.drops.append(waiter.ticket)
            self._kick(budget)
            raise

    def _kick(self, budget: _Budget) -> None:
        """Make the budget's driver look at its queue now, starting it if it sleeps."""
        budget.wake.set()
        if budget.driver is None and (budget.waiters or budget.drops):
            budget.driver = asyncio.get_running_loop().create_task(self._drive(budget))

    async def _drive(self, budget: _Budget) -> None:
        """Ask Redis for slots for this limiter's waiters of one budget until none wait.

        One task per budget, so one process makes one round trip per decision however
        many of its tasks wait, and serves them in FIFO order.
        """
        loop = asyncio.get_running_loop()
        try:
            while budget.waiters or budget.drops:
                budget.wake.clear()
                # The first call must not wait for the subscription; only sleeping must.
                subscribing = (
                    None if self._subscribed(budget)
                    else loop.create_task(self._subscribe(budget))
                )
                drops: list[str] = []
                try:
                    if budget.reassert:
                        await self._resync(budget)
                    drops, budget.drops = budget.drops, []
                    reply = await self._run(
                        self._scripts[0], budget.names[:6], self._acquire_args(budget, drops)
                    )
                except BaseException:
                    budget.drops[:0] = drops
                    if subscribing is not None:
                        subscribing.cancel()
                        # Its own failure, if any, is the same outage: not worth a log line.
                        subscribing.add_done_callback(_consume)
                    raise
                wait_ms = float(reply[1])
                budget.open = bool(int(reply[2]))
                granted = [_text(r) for r in reply[3:]]
                self._hand_out(budget, granted)
                if subscribing is not None:
                    await subscribing
                    # A release published before the subscription took hold went unheard.
                    budget.wake.set()
                if wait_ms < 0 or budget.drops:
                    continue
                delay = min(wait_ms / 1000, _REFRESH)
                log.debug(
                    "%s: granted %d, %d waiting, next look in %.1f ms",
                    budget.key, len(granted), len(budget.waiters), delay * 1000,
                )
                if delay > 0:
                    try:
                        async with asyncio.timeout(delay):
                            await budget.wake.wait()
                    except TimeoutError:
                        pass
        except _UNAVAILABLE as exc:
            self._unavailable(budget, exc)
        except Exception as exc:  # a bug must fail the waiters, not strand them
            log.exception("RedisLimiter driver for %s failed", budget.key)
            message = f"the RedisLimiter failed ({type(exc).__name__}: {exc}); nothing was sent"
            self._fail_waiters(budget, partial(OkxLimiterUnavailable, message))
        finally:
            budget.driver = None

    def _acquire_args(self, budget: _Budget, drops: list[str]) -> list[str | int]:
        rule = budget.rule
        waiters = list(itertools.islice(budget.waiters, _REGISTER_CAP))
        now = asyncio.get_running_loop().time()
        args: list[str | int] = [
            rule.requests,
            f"{(rule.window + self.margin) * 1000:.3f}",
            round(self.lease * 1000),
            round(_TICKET_TTL * 1000),
            budget.channel,
            round(self.state_ttl * 1000),
            len(drops), *drops,
            len(waiters),
        ]
        for w in waiters:
            args += [w.ticket, f"{(now - w.since) * 1000:.3f}"]
        return args

    def _hand_out(self, budget: _Budget, granted: list[str]) -> None:
        """Give granted permits to the oldest local waiters, whoever's ticket won."""
        for w in [w for w in budget.waiters if w.future.done()]:
            # Cancelled, and its task has not run yet to leave the queue itself.
            budget.waiters.remove(w)
            budget.drops.append(w.ticket)
        tickets = {w.ticket: w for w in budget.waiters}
        mine = [p for p in granted if p in tickets]
        # A permit for a waiter that is gone was never used: give it back.
        budget.drops.extend(p for p in granted if p not in tickets)
        heads = [budget.waiters.popleft() for _ in range(len(mine))]
        won = set(mine)
        spare = [w.ticket for w in heads if w.ticket not in won]
        for w in budget.waiters:
            if w.ticket in won:
                # Its ticket won but an older local waiter takes the slot: swap tickets.
                w.ticket = spare.pop()
        for w, permit in zip(heads, mine, strict=True):
            budget.hold(permit)
            w.future.set_result(permit)

    # Releasing ------------------------------------------------------------------------

    async def _release(self, budget: _Budget, permit: str, outcome: Outcome) -> None:
        """Record that the request finished now; done even if the caller is cancelled."""
        budget.unhold(permit)
        permit, finished = self._finished(budget, permit)
        if self._outage:
            budget.reassert = True  # Redis hears of it when it is back
            return
        record = self._record_quietly(
            budget, [(permit, finished, outcome is Outcome.ACCEPTED)],
            throttle=outcome is Outcome.THROTTLED,
        )
        await asyncio.shield(self._spawn(record))

    def _finished(self, budget: _Budget, permit: str) -> tuple[str, float]:
        now = asyncio.get_running_loop().time()
        # Only finishes within a window still matter; a long run must not grow this.
        budget.trim(now - budget.rule.window - self.margin)
        budget.recent.append((permit, now))
        return permit, now

    async def _record(
        self, budget: _Budget, finished: Sequence[tuple[str, float, bool]], *,
        throttle: bool = False, in_flight: Sequence[str] = (),
    ) -> None:
        """Tell Redis when requests finished, and whether the server throttled one."""
        rule = budget.rule
        now = asyncio.get_running_loop().time()
        cool = (rule.window + self.margin) * 1000
        args: list[str | int] = [
            f"{cool:.3f}", budget.channel, int(throttle), f"{cool / rule.requests:.3f}",
            round(self.state_ttl * 1000), round(self.lease * 1000), len(finished),
        ]
        for permit, t, accepted in finished:
            args += [permit, f"{(now - t) * 1000:.3f}", int(accepted)]
        args += [len(in_flight), *in_flight]
        slots, _queue, _alive, pause, pace, burst, _channel = budget.names
        paced, _now = await self._run(self._scripts[1], (slots, pause, pace, burst), args)
        if int(paced):
            log.warning(
                "OKX answered 50011 although %s kept within %s; pausing every process for "
                "a window and switching to even pacing", budget.key, rule,
            )
        elif throttle:
            log.debug("50011 on %s: every process paused for another window", budget.key)

    async def _record_quietly(
        self, budget: _Budget, finished: Sequence[tuple[str, float, bool]], *,
        throttle: bool = False,
    ) -> None:
        """:meth:`_record` for a request that is over: a failure must not cost its result."""
        try:
            await self._record(budget, finished, throttle=throttle)
        except _UNAVAILABLE as exc:
            if self.fallback == "memory":
                self._enter_outage(exc)
            log.debug("could not record a finish on %s: %s", budget.key, self._describe(exc))
            self._redis_may_have_forgotten()

    def _record_fallback(self, budget: _Budget, permit: str) -> None:
        """A request ran on the memory fallback; Redis learns of it once it is back."""
        budget.borrowed.discard(permit)
        permit, finished = self._finished(budget, permit)
        budget.reassert = True
        if not self._outage:
            self._spawn(self._record_quietly(budget, [(permit, finished, False)]))

    def _redis_may_have_forgotten(self) -> None:
        """After an error or a reconnection: Redis may have restarted empty."""
        for budget in self._budgets.values():
            budget.reassert = True
            budget.wake.set()
        if not self._closed and (self._resyncing is None or self._resyncing.done()):
            self._resyncing = self._spawn(self._resync_all())

    async def _resync_all(self) -> None:
        """Tell Redis again, as soon as it answers, what this process has in flight or cooling.

        Without this, a restarted Redis would let other processes burst on top of
        requests this one sent a moment ago; idle budgets would not tell it otherwise.
        """
        loop = asyncio.get_running_loop()
        delay = 0.05
        while True:
            pending = []
            for budget in self._budgets.values():
                budget.trim(loop.time() - budget.rule.window - self.margin)
                if budget.reassert and (budget.recent or budget.held or budget.borrowed):
                    pending.append(budget)
            if not pending:
                return
            try:
                for budget in pending:
                    await self._resync(budget)
                return
            except _UNAVAILABLE:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _REFRESH / 2)

    async def _resync(self, budget: _Budget) -> None:
        budget.reassert = False
        in_flight = sorted(budget.held | budget.borrowed)
        if not (budget.recent or in_flight):
            return
        try:
            await self._record(
                budget, [(p, t, False) for p, t in budget.recent], in_flight=in_flight
            )
        except BaseException:
            budget.reassert = True
            raise
        log.debug("%s: told Redis again of %d recent and %d in-flight requests",
                  budget.key, len(budget.recent), len(in_flight))

    async def _enter_fallback(self, budget: _Budget) -> None:
        """Before a budget's first request on memory in an outage, let Redis's slots run out.

        The memory limiter knows nothing this process sent through Redis, so it would
        let a full burst go on top of it. Waiting until none of those requests is in
        flight or cooling costs at most a window, once per outage.
        """
        loop = asyncio.get_running_loop()
        while budget.outage != self._outages:
            if budget.held:
                await budget.settled.wait()
                continue
            now = loop.time()
            cool = budget.rule.window + self.margin
            budget.trim(now - cool)
            if budget.recent:
                log.debug("%s: memory fallback waits for Redis slots to cool", budget.key)
                await asyncio.sleep(budget.recent[-1][1] + cool - now)
                continue
            budget.outage = self._outages

    def _new_id(self) -> str:
        """A ticket or permit id: this limiter's instance, then a sequence that sorts."""
        return f"{self._instance}.{next(self._seq):012x}"

    # Pub/sub ---------------------------------------------------------------------------

    def _subscribed(self, budget: _Budget) -> bool:
        confirmed = self._confirmed.get(budget.channel)
        return confirmed is not None and confirmed.done() and confirmed.exception() is None

    async def _subscribe(self, budget: _Budget) -> None:
        """Listen on the budget's channel, so a release wakes the driver, before waiting."""
        channel = budget.channel
        if self._subscribed(budget):
            return
        confirmed = self._confirmed.get(channel)
        loop = asyncio.get_running_loop()
        if confirmed is None or confirmed.done():
            confirmed = self._confirmed[channel] = loop.create_future()
        self._listening[channel] = budget
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
        pubsub = self._pubsub
        try:
            async with asyncio.timeout(self.timeout):
                if channel not in self._sent:
                    self._sent.add(channel)
                    await pubsub.subscribe(channel)
                if self._reader is None:
                    self._reader = loop.create_task(self._read(pubsub))
                await asyncio.shield(confirmed)
        except _UNAVAILABLE:
            if self._pubsub is pubsub:
                self._drop_subscriber()
            raise

    async def _read(self, pubsub: PubSub) -> None:
        """The one subscriber connection: wakes drivers; a broken connection wakes all."""
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if not message:
                    continue
                kind = _text(message["type"])
                channel = _text(message["channel"])
                if kind == "subscribe":
                    confirmed = self._confirmed.get(channel)
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(None)
                    else:
                        # redis-py reconnected and subscribed again: messages were lost.
                        self._redis_may_have_forgotten()
                elif kind == "message":
                    budget = self._listening.get(channel)
                    if budget is not None and self._concerns(budget, _text(message["data"])):
                        budget.wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("subscriber connection lost: %s", self._describe(exc))
        finally:
            if self._pubsub is pubsub:
                self._drop_subscriber()

    def _concerns(self, budget: _Budget, message: str) -> bool:
        """Whether a message on the budget's channel can let its waiters go sooner."""
        kind, *owners = message.split()
        if kind == "grant":
            return self._instance in owners
        # A release only tells when a slot in flight frees: news to a driver waiting
        # on such a slot or on a probe, but a slot already cooling frees no sooner.
        return kind == "free" or (kind == "release" and budget.open)

    def _drop_subscriber(self) -> None:
        """Forget the subscriber connection; drivers subscribe again on their next turn."""
        pubsub, self._pubsub = self._pubsub, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        lost = RedisConnectionError("subscriber connection lost")
        for confirmed in self._confirmed.values():
            if not confirmed.done():
                confirmed.set_exception(lost)
                confirmed.exception()  # retrieved: nobody may be waiting on it
        self._confirmed.clear()
        self._sent.clear()
        if pubsub is not None:
            close: Callable[[], Awaitable[None]] = pubsub.aclose
            self._spawn(close())
        self._redis_may_have_forgotten()

    # Failure -----------------------------------------------------------------------------

    def _unavailable(self, budget: _Budget, exc: BaseException) -> None:
        """Redis failed while waiters queued: fall back or fail them, never strand them."""
        if self._pubsub is not None:
            self._drop_subscriber()
        else:
            self._redis_may_have_forgotten()
        if self.fallback == "memory":
            self._enter_outage(exc)
            while budget.waiters:
                waiter = budget.waiters.popleft()
                if not waiter.future.done():
                    waiter.future.set_result(_FALLBACK)
        else:
            log.debug("Redis failed under %s: %s", budget.key, self._describe(exc))
            self._fail_waiters(budget, partial(self._error, exc))
        # Redis gave no answer on these; their tickets expire and the slots' leases end.
        budget.drops.clear()

    def _fail_waiters(self, budget: _Budget, error: Callable[[], BaseException]) -> None:
        while budget.waiters:
            waiter = budget.waiters.popleft()
            if not waiter.future.done():
                # One exception object per waiter: each raise writes its own traceback.
                waiter.future.set_exception(error())

    def _enter_outage(self, exc: BaseException) -> None:
        if self._outage:
            return
        self._outage = True
        self._outages += 1
        self._last_check = asyncio.get_running_loop().time()
        log.warning(
            "%s; falling back to the in-memory limiter, which cannot see other processes, "
            "until Redis is back", self._describe(exc),
        )

    def _checking(self) -> bool:
        return self._check is not None and not self._check.done()

    async def _check_redis(self) -> None:
        """During a fallback: go back to Redis as soon as it answers a PING."""
        self._last_check = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis.ping()
        except _UNAVAILABLE as exc:
            log.debug("Redis still unavailable: %s", self._describe(exc))
            return
        self._outage = False
        log.warning("Redis at %s answers again; limiting through it again", self._where())

    def _error(self, exc: BaseException) -> OkxLimiterUnavailable:
        error = OkxLimiterUnavailable(
            f"{self._describe(exc)}; no request was sent. Check the server, or pass "
            "fallback='memory' to RedisLimiter to fall back to a per-process limit"
        )
        error.__cause__ = exc
        return error

    def _describe(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        password = self._redis.connection_pool.connection_kwargs.get("password")
        if password:
            detail = detail.replace(str(password), "***")
        return f"Redis at {self._where()} is unreachable ({type(exc).__name__}: {detail})"

    def _where(self) -> str:
        kwargs = self._redis.connection_pool.connection_kwargs
        if kwargs.get("path"):
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"

    # Plumbing ----------------------------------------------------------------------------

    async def _run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One script call, bounded: a hung server must not hold a waiter for ever."""
        async with asyncio.timeout(self.timeout):
            return await script(keys=keys, args=args)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _text(value: Any) -> str:
    """Redis replies are bytes unless the client was made with ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def budget_keys(key: LimitKey, prefix: str = "okx-async") -> dict[str, str]:
    """The Redis names of one budget, for inspection: ``{"slots": ..., ...}``."""
    names = _Budget(key, RateLimit(1, 1.0), prefix).names
    return dict(zip(_PARTS, names, strict=True))

