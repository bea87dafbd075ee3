"""The simulator's loopback HTTP front: an aiohttp.web server that hands every request in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import _answers as answers
from ._answers import Answer
from ._request import Incoming

logger = logging.getLogger(__name__)


class HttpFront:
    """Serves ``handle`` on ``host:port`` (0 for a free port) over HTTP/1.1.

    It only translates: the request line, headers and raw body in; the answer's
    status, content type and body out, or a closed connection for a dropped answer.
    """

    __slots__ = ("_handle", "_host", "_port", "_runner")

    def __init__(
        self, handle: Callable[[Incoming], Awaitable[Answer]], host: str, port: int
    ) -> None:
        self._handle = handle
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        """Whether the socket is bound and serving."""
        return self._runner is not None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``, with the real port once started."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        """Bind the socket and start serving."""
        if self._runner is not None:
            raise RuntimeError("Simulator already started")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # No access log: benchmarks push tens of thousands of requests through here.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("OKX simulator listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("OKX simulator on %s stopped", self.base_url)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        incoming = Incoming(
            request.method, request.raw_path, request.headers, await request.read(),
            request.remote or "",
        )
        answer = await self._handle(incoming)
        if answer is answers.DROP:
            return _drop(request)
        return answer.response()


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without a byte of answer."""
    if request.transport is not None:
        request.transport.close()
    # aiohttp fails to write this to the closed transport and drops it quietly.
    return web.Response(status=500)
