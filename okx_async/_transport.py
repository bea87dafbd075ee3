"""The network seam: ``get(url, headers) -> (status, body)``. Nothing above it does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp
import attrs
from yarl import URL

from ._errors import OkxTransportError


class OkxTimeoutError(OkxTransportError):
    """No complete answer arrived within the configured timeout."""


@attrs.frozen
class Timeouts:
    """Seconds to wait: ``connect`` for a connection, ``total`` for one whole request."""

    connect: float = 5.0
    total: float = 10.0


class Transport(Protocol):
    """Sends one request and returns the HTTP status and the raw body."""

    async def get(self, url: str, headers: Mapping[str, str]) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """:class:`Transport` on an ``aiohttp.ClientSession``.

    A session passed in stays the caller's: only a session created here is closed.
    """

    __slots__ = ("_owns_session", "_session", "_timeout")

    def __init__(
        self, session: aiohttp.ClientSession | None = None, timeouts: Timeouts = Timeouts()
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeouts.total, connect=timeouts.connect)
        self._session = session
        self._owns_session = session is None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def get(self, url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        session = self._ensure_session()
        try:
            # encoded=True: the bytes on the wire must be the bytes that were signed.
            async with session.get(
                URL(url, encoded=True), headers=headers, timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except TimeoutError:
            raise OkxTimeoutError(f"no answer from {url} within {self._timeout.total}s") from None
        except aiohttp.ClientError as exc:
            raise OkxTransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()
