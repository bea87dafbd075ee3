"""A limiter shared by every process and host that uses the same Redis.

The guarantee: never more than ``rule.requests`` arrivals inside any ``rule.window``
seconds per ``(user id, endpoint)``, summed over every process on the same Redis and
key prefix. Every slot is anchored at its request's answer (no round-trip credit), so
this needs no assumption about the network. It holds under these conditions:

* **Redis keeps what it was told, or says it forgot.** A restart, a failover, a slot
  migration or a flush is noticed (Redis's start time, its ``run_id`` stored with each
  budget, state gone that a process saw): nothing is granted on that budget until
  ``max(restart_hold, window + margin)`` after the change, and then only probes, one at
  a time. With ``restart_hold=0`` this is off. Not noticed: keys evicted one by one
  under ``maxmemory`` (run Redis with ``noeviction``), and a failover to a replica that
  never received the budget's state, when no live process had seen it.
* **A process in flight reaches Redis.** Each call says how long its process counts
  as alive (``2 * (0.25 + timeout)``, :attr:`RedisLimiter.liveness`). One silent for
  longer is taken for dead: its slots in flight cool as if its requests arrived then.
  A process cut off from Redis while its requests are still on their way breaks this.
* **Redis's clock runs steadily.** Every time is Redis's ``TIME``.

A process that closes tells Redis once more what is still cooling; if that fails, what
Redis heard on the last beat still counts (every beat leases the slots in flight), and
a restart is covered by the hold. Not covered: a process that died with requests in
flight right before a restart, whose requests arrive after the hold; the first grant
after it is a probe, so that costs one 50011 at most.

Compared with :class:`~okx_async.MemoryLimiter`: no round-trip credit (a slot may be
reused by a process on another host, whose path the credit knows nothing about), and
refilled slots after the first burst are probed one at a time until ``requests`` were
accepted, rather than only where a sliding-window counter could refuse. The back-off
after 50011s is the same: a pause and even pacing after the first, 1.5 times slower
after each later one (not for a request already out when the last was handled), a
little faster with each accepted request.

The protocol (keys, fields, the life of a slot, the scripts' arguments) is in
docs/multiple-bots.md, "The protocol". The modules: ``_budget`` (what one process knows
of a budget), ``_link`` (the two Lua scripts, their arguments and the calls),
``_outage`` (grace, fallback, messages), ``_limiter`` (the Limiter interface, waiting,
the driver task of each busy budget).
"""

from ._budget import budget_keys
from ._limiter import RedisLimiter
from ._outage import FallbackMode

__all__ = ["FallbackMode", "RedisLimiter", "budget_keys"]
