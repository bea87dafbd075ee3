"""The network seam: ``request(method, url, headers, body) -> (status, body)``.

Nothing above it does I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import aiohttp
import attrs
from yarl import URL

from ._errors import (
    OkxClientClosedError,
    OkxConnectError,
    OkxError,
    OkxTimeoutError,
    OkxTransportError,
)


class _ResendRefused(aiohttp.ClientConnectionError):
    """aiohttp wanted to send the request a second time; we did not let it."""


class _SendOnce:
    """A per-request aiohttp middleware that lets the request go out once only.

    aiohttp quietly resends an idempotent request after a dropped connection. That
    second send would reach OKX outside the limiter's slot and count against the
    user's budget unseen, so it is refused here and the client's own retry, which
    goes through the limiter, takes over.
    """

    __slots__ = ("_sent",)

    def __init__(self) -> None:
        self._sent = False

    async def __call__(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        if self._sent:
            raise _ResendRefused("connection dropped; not resent outside the rate limiter")
        self._sent = True
        return await handler(request)


@attrs.frozen
class Timeouts:
    """Seconds to wait: ``connect`` for a connection, ``total`` for one whole request."""

    connect: float = 5.0
    total: float = 10.0


class Transport(Protocol):
    """Sends one request and returns the HTTP status and the raw body.

    ``url`` and ``body`` go on the wire byte for byte, since they were signed as
    they are. A failure to connect, when nothing was sent, raises
    :class:`OkxConnectError`; any other failure to get an answer raises
    :class:`OkxTransportError` (or :class:`OkxTimeoutError`).
    """

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """:class:`Transport` on an ``aiohttp.ClientSession``.

    A session passed in stays the caller's: only a session created here is closed.
    Its defaults do not change how the client's requests are sent: each request sets
    its own timeout, ``raise_for_status=False``, ``allow_redirects=False`` and
    ``auto_decompress=True``, so every answer reaches the decoder and the limiter.
    Each request carries the client's send-once guard (:class:`_SendOnce`) as its
    per-request middleware, which in aiohttp replaces the session's middlewares: a
    session's own middlewares do not run for these requests, so none can send one
    twice behind the limiter's back. Its default headers and cookies go out with the
    requests (the client's own headers win). No aiohttp exception is chained to the
    errors raised here, because some carry the request's headers.
    """

    __slots__ = ("_closed", "_owns_session", "_session", "_timeout")

    def __init__(
        self, session: aiohttp.ClientSession | None = None, timeouts: Timeouts = Timeouts()
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeouts.total, connect=timeouts.connect)
        self._session = session
        self._owns_session = session is None
        self._closed = False

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise OkxClientClosedError("the client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        session = self._ensure_session()
        error: OkxError
        try:
            # encoded=True: the bytes on the wire must be the bytes that were signed.
            async with session.request(
                method, URL(url, encoded=True), headers=headers, data=body or None,
                timeout=self._timeout, allow_redirects=False, raise_for_status=False,
                auto_decompress=True, middlewares=(_SendOnce(),),
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # No connection, so not a byte of the request left: safe to send again.
            if self._closed:
                error = OkxClientClosedError("the client was closed during the request")
            else:
                error = OkxConnectError(f"{type(exc).__name__}: {exc}")
        except TimeoutError:
            error = OkxTimeoutError(f"no answer from {url} within {self._timeout.total}s")
        except aiohttp.ClientError as exc:
            if self._closed:
                error = OkxClientClosedError("the client was closed during the request")
            else:
                # str() of aiohttp's errors names the URL at most; repr() may show headers.
                error = OkxTransportError(f"{type(exc).__name__}: {exc}")
        # Raised outside the except blocks, so nothing from aiohttp is chained to it.
        raise error

    async def aclose(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()
