"""The simulator's clocks, read from the event loop it serves on.

Counting and arrival times use the loop's ``time()``: on a normal loop that is
``time.monotonic()``; on a :class:`~okx_async.simulator.VirtualTimeLoop` it is
virtual, so the server's rate-limit windows and the client's limiter share one clock.

The server's wall clock (the times it records: history, interest, loan orders) is
the Unix time at the first reading plus the loop's time since, so a simulated hour
is an hour on the server too.

The OK-ACCESS-TIMESTAMP check, and ``/public/time`` that clients measure their offset
against, follow the clock clients sign with: the real ``time.time()``. On virtual
time the two wall clocks part (an hour apart after a simulated hour), and a check
against the server's own wall clock would refuse every request after 30 virtual
seconds with 50102.
"""

from __future__ import annotations

import asyncio
import time

from ._virtual import VirtualTimeLoop


class SimClock:
    """Monotonic seconds for counting, and the Unix times the server records and checks.

    Usage::

        clock = SimClock(skew=0.0)
        now = clock.now()          # on the running loop's clock
        ms = int(clock.wall() * 1000)
    """

    __slots__ = ("_loop", "_loop_at", "_skew", "_unix_at")

    def __init__(self, skew: float = 0.0) -> None:
        self._skew = skew
        #: The loop last served on; its ``time()`` is read outside a running loop too.
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The loop's time and the Unix time at the first reading: the wall clock's anchor.
        self._loop_at = 0.0
        self._unix_at = 0.0

    def _current(self) -> asyncio.AbstractEventLoop | None:
        """The running loop (checked against the last one), else the last one, if any."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._loop
        if loop is not self._loop:
            if self._loop is None:
                self._loop_at, self._unix_at = loop.time(), time.time()
            elif loop.time() < self._loop.time() or (
                isinstance(loop, VirtualTimeLoop) != isinstance(self._loop, VirtualTimeLoop)
            ):
                # Every window and arrival is on the old loop's timeline.
                raise RuntimeError(
                    "this simulator served on an event loop whose clock is not the running "
                    "one's (ahead of it, or virtual where the other is real): its windows "
                    "cannot move to another timeline; create a new Simulator for this loop"
                )
            self._loop = loop
        return loop

    def now(self) -> float:
        """The loop's ``time()``, the clock of rate limits and :attr:`Arrival.t`."""
        loop = self._current()
        return time.monotonic() if loop is None else loop.time()

    def origin(self) -> float:
        """The loop time of the first reading (fixed windows are aligned to it)."""
        self._current()
        return self._loop_at

    def wall(self) -> float:
        """The server's Unix time in seconds, ``skew`` included; it advances with the loop."""
        loop = self._current()
        if loop is None:
            return time.time() + self._skew
        return self._unix_at + (loop.time() - self._loop_at) + self._skew

    def signing(self) -> float:
        """The Unix time OK-ACCESS-TIMESTAMP is checked against: the clients' clock + skew."""
        return time.time() + self._skew
