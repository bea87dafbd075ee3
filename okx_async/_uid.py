"""Which user an API key belongs to: asked of OKX once per key, shared by every client."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

#: An API key on one host, in one environment: (base url, API key, demo).
UidKey = tuple[str, str, bool]


class UidDirectory:
    """User ids by API key, for every client of the process, on any thread.

    Concurrent first calls of one key on one event loop share one lookup, and its
    outcome: if it fails, they all fail with its error at once, rather than each
    trying again in turn (a fan-out to an unreachable host fails in one lookup's
    time, not in one per queued call). A later call tries again. Each event loop
    (thread) that meets an unknown key looks it up at most once at a time.
    """

    __slots__ = ("_guard", "_known", "_pending")

    def __init__(self) -> None:
        self._known: dict[UidKey, str] = {}
        self._guard = threading.Lock()
        #: The lookup under way per loop and key: its outcome, for the calls waiting.
        self._pending: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[UidKey, asyncio.Future[str]]
        ] = weakref.WeakKeyDictionary()

    def known(self, key: UidKey) -> str | None:
        return self._known.get(key)

    def forget(self, base_url: str) -> None:
        """Drop the user ids learnt from ``base_url``: another server answers there now."""
        with self._guard:
            for key in [key for key in self._known if key[0] == base_url]:
                del self._known[key]

    async def resolve(
        self,
        key: UidKey,
        lookup: Callable[[], Awaitable[str]],
        wait: Callable[[Awaitable[Any]], Awaitable[Any]],
    ) -> str:
        """The uid of ``key``, from ``lookup()`` unless known; ``wait`` wraps the waiting."""
        while True:
            uid = self._known.get(key)
            if uid is not None:
                return uid
            loop = asyncio.get_running_loop()
            with self._guard:
                pending = self._pending.setdefault(loop, {})
                shared = pending.get(key)
                if shared is None:
                    shared = pending[key] = loop.create_future()
                    mine = True
                else:
                    mine = False
            if mine:
                return await self._look_up(key, lookup, shared, pending)
            await wait(asyncio.wait((shared,)))
            if not shared.cancelled():
                return shared.result()  # the lookup's uid, or its error
            # Its caller was cancelled before it finished: look it up ourselves.

    async def _look_up(
        self,
        key: UidKey,
        lookup: Callable[[], Awaitable[str]],
        shared: asyncio.Future[str],
        pending: dict[UidKey, asyncio.Future[str]],
    ) -> str:
        try:
            uid = await lookup()
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except BaseException as exc:
            shared.set_exception(exc)
            shared.exception()  # the waiting calls raise it; nobody else needs to see it
            raise
        else:
            with self._guard:
                self._known[key] = uid
            shared.set_result(uid)
            return uid
        finally:
            with self._guard:
                if pending.get(key) is shared:
                    del pending[key]


#: The process's directory: clients of one key on one host share its uid.
UIDS = UidDirectory()
