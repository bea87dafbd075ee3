"""Instruments: a limiter wrapper that records waits, and samplers for memory, tasks, sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from types import TracebackType

import psutil

from okx_async import Limiter, LimitKey, Outcome, Permit, RateLimit

#: A wait for a slot longer than this means the limiter held the request back.
WAITED = 0.001


class RecordingLimiter:
    """Wraps a :class:`~okx_async.Limiter` and records when slots were asked, granted, freed.

    It adds two clock reads per request, which is noise next to a round trip; it lets
    the fan-out benchmark count round trips of small fan-outs and show that they never
    wait.
    """

    def __init__(self, inner: Limiter) -> None:
        self.inner = inner
        #: Seconds each request waited for its slot.
        self.waits: list[float] = []
        #: ``(time.monotonic(), "grant" | "done", endpoint)`` in the order they happened.
        self.events: list[tuple[float, str, str]] = []
        #: Requests the server still answered with 50011, as the client saw them.
        self.throttled = 0

    def slot(self, key: LimitKey, rule: RateLimit, *, lifetime: float | None = None) -> Permit:
        return _RecordingPermit(self, self.inner.slot(key, rule, lifetime=lifetime), key.endpoint)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def round_trips(self, endpoint: str) -> int:
        """Sequential stages of a fan-out to ``endpoint`` that fits in one window.

        Requests to other endpoints that finished before the first grant (the user-id
        lookup) are one stage each; the fan-out itself is one more; every grant that
        had to wait for a slot (over :data:`WAITED`) starts another. Grants merely
        interleaved with fast answers do not count: the client sends its requests one
        after another on one thread, and a loopback answer can beat the last send.
        """
        mine = [(t, wait) for (t, _, e), wait in zip(self._grants(), self.waits, strict=True)
                if e == endpoint]
        if not mine:
            return 0
        first = min(t for t, _ in mine)
        lookups = sum(1 for t, kind, e in self.events
                      if e != endpoint and kind == "done" and t <= first)
        return lookups + 1 + sum(1 for _, wait in mine if wait >= WAITED)

    def _grants(self) -> list[tuple[float, str, str]]:
        """The grant events, in the order of :attr:`waits`."""
        return [event for event in self.events if event[1] == "grant"]


class _RecordingPermit:
    __slots__ = ("_endpoint", "_inner", "_owner")

    def __init__(self, owner: RecordingLimiter, inner: Permit, endpoint: str) -> None:
        self._owner = owner
        self._inner = inner
        self._endpoint = endpoint

    def finish(self, outcome: Outcome) -> None:
        if outcome is Outcome.THROTTLED:
            self._owner.throttled += 1
        self._inner.finish(outcome)

    async def __aenter__(self) -> None:
        asked = time.monotonic()
        await self._inner.__aenter__()
        granted = time.monotonic()
        self._owner.waits.append(granted - asked)
        self._owner.events.append((granted, "grant", self._endpoint))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner.events.append((time.monotonic(), "done", self._endpoint))
        await self._inner.__aexit__(exc_type, exc, tb)


def rss_bytes() -> int:
    """This process's resident set size now."""
    return int(psutil.Process().memory_info().rss)


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` in KiB, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS count from now (Linux 4.0+); False if unsupported.

    Without it the peak would include whatever imports needed before the baseline,
    and ``ru_maxrss`` is worse: Linux carries it across ``exec``, so a child started
    by a big parent reports the parent's peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """The largest RSS since :func:`reset_peak_rss` (``VmHWM``); ``ru_maxrss`` elsewhere."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024


def open_tcp_connections() -> int:
    """Established TCP connections of this process."""
    connections = psutil.Process(os.getpid()).net_connections(kind="tcp")
    return sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED)


class Sampler:
    """Samples RSS and live tasks every ``interval`` and sockets every ``socket_interval``.

    Runs as a task on the loop under test, so what it sees is what the client does;
    reading ``/proc`` for sockets is slower, hence the separate, coarser interval.
    """

    def __init__(self, interval: float = 0.005, socket_interval: float = 0.05) -> None:
        self.interval = interval
        self.socket_interval = socket_interval
        self.peak_rss = 0
        self.peak_tasks = 0
        self.peak_connections = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sampler:
        self._take(sockets=True)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._take(sockets=True)

    async def _run(self) -> None:
        next_sockets = 0.0
        while True:
            now = time.monotonic()
            sockets = now >= next_sockets
            if sockets:
                next_sockets = now + self.socket_interval
            self._take(sockets=sockets)
            await asyncio.sleep(self.interval)

    def _take(self, *, sockets: bool) -> None:
        self.samples += 1
        self.peak_rss = max(self.peak_rss, rss_bytes())
        # The sampler's own task is one of them; count the client's and the caller's.
        own = 1 if self._task is not None else 0
        self.peak_tasks = max(self.peak_tasks, len(asyncio.all_tasks()) - own)
        if sockets:
            self.peak_connections = max(self.peak_connections, open_tcp_connections())
