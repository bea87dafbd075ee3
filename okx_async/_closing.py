"""Waits that closing a client ends at once, so nothing queued outlives ``aclose()``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from ._errors import OkxClientClosedError

T = TypeVar("T")

CLOSED_WHILE_WAITING = "the client was closed while the call waited"


class Closer:
    """One client's open/closed state and the tasks it has waiting.

    A wait (for a slot, a backoff, the uid lookup) goes through :meth:`wait`; after
    :meth:`close`, every such wait ends with :class:`OkxClientClosedError`, and new
    calls are refused by :meth:`check`. Requests already on the wire are not waits:
    closing the transport ends them.
    """

    __slots__ = ("_closed_out", "_waiting", "closed")

    def __init__(self) -> None:
        self.closed = False
        self._waiting: set[asyncio.Task[object]] = set()
        #: Tasks that close() cancelled, so their CancelledError becomes a closed error.
        self._closed_out: set[asyncio.Task[object]] = set()

    def check(self) -> None:
        if self.closed:
            raise OkxClientClosedError("the client is closed")

    def close(self) -> None:
        self.closed = True
        for task in self._waiting:
            if not task.done():
                task.cancel()
                self._closed_out.add(task)
        self._waiting.clear()

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await something that only waits; :meth:`close` ends it at once."""
        if self.closed:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never started: no "never awaited" warning
            self.check()
        task = self.enter()
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not self.closed_it(task):
                raise
        finally:
            self.leave(task)
        # Out of the except block, so no CancelledError is chained to it.
        raise OkxClientClosedError(CLOSED_WHILE_WAITING)

    # The steps of :meth:`wait`, for a caller that awaits in its own frame (the sender's
    # wait for a slot): enter(), await, closed_it() on a CancelledError, leave().

    def enter(self) -> asyncio.Task[Any]:
        """The current task starts a wait that :meth:`close` ends; returns the task."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        return task

    def closed_it(self, task: asyncio.Task[Any]) -> bool:
        """After a CancelledError in ``task``'s wait: True if :meth:`close` alone caused it."""
        return task in self._closed_out and task.uncancel() == 0

    def leave(self, task: asyncio.Task[Any]) -> None:
        """``task``'s wait is over."""
        self._waiting.discard(task)
        self._closed_out.discard(task)
