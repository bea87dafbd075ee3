"""A limiter shared by every process and host that uses the same Redis.

The guarantee is :class:`~okx_async.MemoryLimiter`'s, summed over processes: never
more than ``rule.requests`` arrivals inside any ``rule.window`` seconds per
``(user id, endpoint)``. The protocol is two Lua scripts next to this file, loaded
once and run by SHA: ``acquire.lua`` (drop what a process gave up, register its
waiters in the shared FIFO, grant free slots to the oldest live tickets, say how long
to sleep) and ``record.lua`` (what a process knows of its own slots: finished ones,
cooling until ``finish + window + margin``; in-flight ones, leased for a second plus
a window; a probe's answer; a 50011).

Each mechanism, and why it stays:

* **One script per decision, Redis's clock.** A script runs alone, so two processes
  never both take the last slot; every time in it is ``TIME``, so host clocks are
  never compared (ages travel as durations). Keys share the hash tag
  ``{user:endpoint}``: one Cluster slot per budget.
* **Cross-process FIFO with hand-over.** A freed slot goes to the oldest ticket,
  whichever process holds it, and is kept for that process for half a second (it
  looks again within a beat). Without it a late process would be starved by a busy
  one.
* **Beats instead of long leases.** A process with waiters or slots calls Redis at
  least every ``BEAT`` (0.25 s). One silent for ``TTL`` (1 s) is dead: its tickets
  no longer hold the line, a slot kept for it or its probe frees, and each of its
  in-flight slots cools from its last beat + ``TTL``, as if its request arrived that
  late. A crash costs the others about a window plus a second. (A permit left
  without ``finish`` cools from ``grant + lifetime`` if that is later.)
* **Every beat repeats what the process knows.** The writes are idempotent, so a
  finish whose recording may have failed counts as recorded, and a Redis that
  restarted empty learns every live process's slots again within a beat.
* **The restart hold.** A budget without state in a Redis whose INFO uptime is at
  most 1 (whole seconds: it started up to two seconds ago) grants nothing for
  ``restart_hold`` (1 s), so those beats come first: the first grants after a
  restart respect every slot a live process knows of. A new budget in a running
  Redis pays nothing.
* **Waiting through outages.** Calls keep waiting while the driver retries with
  back-off (20 ms doubling to a beat); nothing is granted meanwhile. Only an outage
  longer than ``grace`` raises :class:`~okx_async.OkxLimiterUnavailable`, once in
  each waiting call.
* **The fallback share.** With ``fallback="memory"``, after the grace each process
  uses its own :class:`~okx_async.MemoryLimiter` at ``share`` of the rule (default:
  one over the processes seen in the last ``PEERS`` seconds), once the slots Redis
  last knew of have cooled. Waiters go back to Redis when it answers.
* **Probes and shared pacing**, as in memory: after the first burst, refilled slots
  go one at a time until a window's worth was accepted, so a sliding-window-counter
  server rejects one request rather than a burst; a 50011 pauses every process for
  a window and spaces grants evenly, in the step that records it.
* **No pub/sub.** A waiter sleeps until a known time (a slot cooling, the pause, the
  pacing). A slot in flight frees no sooner than a window after its release, so
  looking again in half a window loses nothing; while a probe, whose answer frees
  the next, is in flight, waiters look every 10 ms. This replaced a subscriber
  connection, its reader task and their failure modes.
* **One driver task per busy budget**: one round trip serves every local waiter in
  FIFO order, and a release costs its caller no round trip.
"""

from ._budget import budget_keys
from ._limiter import RedisLimiter
from ._outage import FallbackMode

__all__ = ["FallbackMode", "RedisLimiter", "budget_keys"]
