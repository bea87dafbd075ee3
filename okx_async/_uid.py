"""Which user an API key belongs to: asked of OKX once per key, shared by every client."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: An API key on one host, in one environment: (base url, API key, demo).
UidKey = tuple[str, str, bool]


class UidDirectory:
    """User ids by API key, for every client of the process, on any thread.

    Concurrent first calls of one key on one event loop share one lookup; each
    event loop (thread) that meets an unknown key looks it up at most once.
    """

    __slots__ = ("_guard", "_known", "_locks")

    def __init__(self) -> None:
        self._known: dict[UidKey, str] = {}
        self._guard = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[UidKey, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def known(self, key: UidKey) -> str | None:
        return self._known.get(key)

    async def resolve(
        self,
        key: UidKey,
        lookup: Callable[[], Awaitable[str]],
        wait: Callable[[Awaitable[bool]], Awaitable[bool]],
    ) -> str:
        """The uid of ``key``, from ``lookup()`` unless known; ``wait`` wraps the queueing."""
        uid = self._known.get(key)
        if uid is not None:
            return uid
        lock = self._lock(key)
        await wait(lock.acquire())
        try:
            uid = self._known.get(key)
            if uid is None:
                uid = await lookup()
                with self._guard:
                    self._known[key] = uid
        finally:
            lock.release()
        return uid

    def _lock(self, key: UidKey) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            locks = self._locks.setdefault(loop, {})
            lock = locks.get(key)
            if lock is None:
                lock = locks[key] = asyncio.Lock()
            return lock


#: The process's directory: clients of one key on one host share its uid.
UIDS = UidDirectory()
