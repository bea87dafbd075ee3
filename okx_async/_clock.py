"""OKX's clock as the client knows it: the local clock plus a measured offset."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ._models import ServerTime

log = logging.getLogger(__name__)


class ServerClock:
    """Signs with the local clock until OKX says it is off (50102), then with OKX's.

    ``measure(ask)`` calls ``ask()`` for OKX's time once; concurrent 50102s of one
    client share a single measurement (:meth:`resync_after`).
    """

    __slots__ = ("_lock", "_wall", "offset", "syncs")

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        #: Seconds to add to the local clock so OKX accepts our timestamps.
        self.offset = 0.0
        #: Measurements so far, so a burst of 50102s measures only once.
        self.syncs = 0
        self._lock = asyncio.Lock()

    def now(self) -> float:
        """OKX's Unix time, as far as we know it."""
        return self._wall() + self.offset

    async def measure(self, ask: Callable[[], Awaitable[ServerTime]]) -> float:
        """Measure the offset now; returns it."""
        async with self._lock:
            return await self._measure(ask)

    async def resync_after(self, seen: int, ask: Callable[[], Awaitable[ServerTime]]) -> None:
        """Measure unless another request already did since it saw ``seen`` measurements."""
        async with self._lock:
            if self.syncs == seen:
                await self._measure(ask)

    async def _measure(self, ask: Callable[[], Awaitable[ServerTime]]) -> float:
        sent = self._wall()
        server = await ask()
        received = self._wall()
        self.offset = server.ts_ms / 1000 - (sent + received) / 2
        self.syncs += 1
        log.warning("signing with OKX's clock: the local clock is %.3f s off", self.offset)
        return self.offset
