"""A limiter shared by every process and host that uses the same Redis.

The guarantee is :class:`~okx_async.MemoryLimiter`'s, summed over processes: never
more than ``rule.requests`` arrivals inside any ``rule.window`` seconds per
``(user id, endpoint)``. The protocol is two Lua scripts, each a file next to this
one, loaded once and run by SHA (reloaded after ``NOSCRIPT``):

``acquire.lua``
    drop what a process gave up, register its waiters in the shared FIFO, grant
    free slots to the oldest live tickets, and say how long to sleep.
``record.lua``
    what a process knows of its own slots: finished ones (cooling until ``finish +
    window + margin``), in-flight ones (leased for a second plus a window), a probe's
    answer, and a 50011.

Each mechanism, and why it stays:

* **One script per decision, Redis's clock.** A script runs alone, so two processes
  never both take the last slot; every time in it is ``TIME``, so host clocks are
  never compared. A waiter's age travels as a duration.
* **Keys share the hash tag** ``{user:endpoint}``: one Cluster slot per budget.
* **Cross-process FIFO with hand-over.** A freed slot goes to the oldest ticket,
  whichever process holds it: it is kept for that process while it beats and
  claimed on its next call. Without it a late process would be starved by a busy one.
* **Beats instead of long leases.** A process with waiters or slots speaks to Redis
  at least every ``BEAT`` (0.25 s). A process silent for ``TTL`` (1 s) is dead: its
  tickets no longer hold the line, a slot kept for it frees, and each of its
  in-flight slots cools from its last beat + ``TTL``, as if its request arrived as
  late as that. So a crash costs the others about a window plus a second. (A permit
  left without ``finish`` cools from ``grant + lifetime`` if that is later.)
* **Every beat repeats what the process knows** (its in-flight and cooling slots).
  Writes are idempotent, so a slot whose recording failed half-way counts as
  recorded, and a Redis that restarted empty learns them again within a beat.
* **The restart hold.** A budget without state in a Redis younger than a second
  grants nothing for ``HOLD`` (1 s), long enough for every live process to have
  repeated its slots. This is what makes the first grants after a restart respect
  every slot any live process knows of. A new budget in a running Redis pays nothing.
* **Waiting through outages.** Calls keep waiting while the driver retries with
  back-off (20 ms doubling to a beat); only an outage longer than ``grace`` raises
  :class:`~okx_async.OkxLimiterUnavailable`, once in each waiting call. Nothing is
  granted meanwhile.
* **The fallback share.** With ``fallback="memory"``, after the grace each process
  uses its own :class:`~okx_async.MemoryLimiter` at ``share`` of the rule (default
  one over the processes seen in the last ``PEERS`` seconds), starting once the
  slots Redis last knew of have cooled. Waiters go back to Redis when it answers.
* **Probes and shared pacing**, as in memory: after the first burst, refilled slots
  go one at a time until a window's worth was accepted, so a sliding-window-counter
  server rejects one request rather than a burst; a 50011 pauses every process for
  a window and spaces grants evenly, in the same step that records it.
* **No pub/sub.** A waiter sleeps exactly until a known time (a slot cooling, the
  pause, the pacing). A slot in flight frees no sooner than a window after its
  release, so looking again in half a window loses nothing; only while a probe is
  in flight, whose answer frees the next, do waiters look every 10 ms. A process
  learns of its own releases at once. This replaced a subscriber connection, its
  reader task and their failure modes.
* **One driver task per busy budget**, so one round trip serves every local waiter
  in FIFO order, and a release costs the caller no round trip of its own.
"""

from ._budget import budget_keys
from ._limiter import FallbackMode, RedisLimiter

__all__ = ["FallbackMode", "RedisLimiter", "budget_keys"]
