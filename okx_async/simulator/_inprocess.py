"""The simulator's in-process front: the client's transport seam, served with no socket.

What the client sees is what it sees over loopback HTTP: the exact path, query and
body bytes it signed reach the server; a dropped answer is an
:class:`~okx_async.OkxTransportError` after the request executed; no answer within
``Timeouts.total`` is an :class:`~okx_async.OkxTimeoutError`; a closed simulator
refuses the connection (:class:`~okx_async.OkxConnectError`). As an HTTP server
does, the simulator goes on with a request whose caller stopped waiting (a timeout,
a cancellation): it may still arrive and execute. An exception inside the simulator
(a bug, or a misuse it refuses) reaches the caller as it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import (
    OkxClientClosedError,
    OkxConnectError,
    OkxError,
    OkxTimeoutError,
    OkxTransportError,
    Timeouts,
)
from . import _answers as answers
from ._answers import Answer
from ._request import Incoming

logger = logging.getLogger(__name__)

#: The caller's address as the server sees it, for the public endpoint's per-IP limit.
_REMOTE = "127.0.0.1"


class InProcessServer:
    """Runs each request in a task of its own, which outlives a caller who stops waiting."""

    __slots__ = ("_handle", "_open", "_tasks")

    def __init__(self, handle: Callable[[Incoming], Coroutine[Any, Any, Answer]]) -> None:
        self._handle = handle
        self._open = True
        self._tasks: set[asyncio.Task[Answer]] = set()

    def transport(self, timeouts: Timeouts) -> InProcessTransport:
        """A new transport to this server, bounded by ``timeouts.total`` per request."""
        return InProcessTransport(self, timeouts)

    def submit(self, request: Incoming) -> asyncio.Task[Answer]:
        """Start serving ``request``; a closed server refuses it, as a closed port does."""
        if not self._open:
            raise OkxConnectError("the simulator is closed: nothing was sent")
        task = asyncio.get_running_loop().create_task(self._handle(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def reopen(self) -> None:
        """Accept requests again after :meth:`close`."""
        self._open = True

    async def close(self) -> None:
        """Refuse new requests and drop those in progress; the clients stay open."""
        self._open = False
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class InProcessTransport:
    """The client's ``Transport`` (``request`` and ``aclose``) on an in-process simulator.

    Every request goes to the simulator whatever the URL's host: only its path and
    query are read, byte for byte. Get one from
    :meth:`~okx_async.simulator.Simulator.transport`, or a whole client from
    :meth:`~okx_async.simulator.Simulator.client`.
    """

    __slots__ = ("_closed", "_server", "_timeouts", "_waiting")

    def __init__(self, server: InProcessServer, timeouts: Timeouts) -> None:
        self._server = server
        self._timeouts = timeouts
        self._closed = False
        #: The futures callers wait on; aclose() ends them with a closed error.
        self._waiting: set[asyncio.Future[Answer]] = set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<InProcessTransport {state} total={self._timeouts.total}s>"

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self._closed:
            raise OkxClientClosedError("the client is closed")
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        task = self._server.submit(Incoming(method, target, headers, body, _REMOTE))
        answered: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        task.add_done_callback(lambda done: _pass_on(done, answered))
        self._waiting.add(answered)
        error: OkxError
        try:
            async with asyncio.timeout(self._timeouts.total):
                answer = await answered
        except TimeoutError:
            error = OkxTimeoutError(f"no answer from {url} within {self._timeouts.total}s")
        else:
            if answer is answers.DROP:
                error = OkxTransportError("the connection closed before an answer came")
            else:
                return answer.status, answer.body
        finally:
            self._waiting.discard(answered)
        # Raised outside the except block, so no TimeoutError is chained to it.
        raise error

    async def aclose(self) -> None:
        self._closed = True
        for waiting in self._waiting:
            if not waiting.done():
                waiting.set_exception(
                    OkxClientClosedError("the client was closed during the request")
                )


def _pass_on(task: asyncio.Task[Answer], answered: asyncio.Future[Answer]) -> None:
    """Hand the server's answer to the caller, if the caller still waits for it."""
    if answered.done():
        return
    if task.cancelled():
        # The simulator closed with the request in progress: the connection went with it.
        answered.set_exception(OkxTransportError("the simulator closed the connection"))
    elif (exc := task.exception()) is not None:
        # Over HTTP this would be a 500 and a log line; here the test sees the bug itself.
        exc.add_note("raised inside the in-process simulator while it answered a request")
        answered.set_exception(exc)
    else:
        answered.set_result(task.result())
