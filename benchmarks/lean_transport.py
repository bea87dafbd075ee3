"""A measuring prototype: okx-async through a minimal HTTP/1.1 transport instead of aiohttp.

aiohttp's client machinery, not okx-async's own code, is most of okx-async's CPU
per request. The overhead benchmark's "okx-async, lean transport" row measures
that: a minimal keep-alive GET on ``asyncio.Protocol``, plugged into
``OkxClient(transport=...)`` through the client's ``Transport`` seam.

It is a **prototype for measuring only**: plain HTTP, ``Content-Length`` bodies, no
TLS, chunked encoding, proxy or timeout support. It is not shipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

from okx_async import OkxTransportError

_HEADER_END = b"\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._buffer = bytearray()
        self._body_start = -1
        self._length = 0
        self._status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._body_start < 0 and not self._parse_head():
            return
        end = self._body_start + self._length
        if len(buffer) < end:
            return
        body = bytes(buffer[self._body_start:end])
        del buffer[:end]
        self._body_start = -1
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, body))

    def _parse_head(self) -> bool:
        end = self._buffer.find(_HEADER_END)
        if end < 0:
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        self._status = int(lines[0].split(" ", 2)[1])
        self._length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                self._length = int(value)
        self._body_start = end + len(_HEADER_END)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(OkxTransportError("connection lost"))


class LeanTransport:
    """``Transport`` for okx-async: HTTP/1.1 GET over a pool of idle connections."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if method != "GET" or body:
            raise NotImplementedError("this benchmark transport sends GETs only")
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 80)
        pool = self._idle.setdefault(address, [])
        loop = asyncio.get_running_loop()
        connection = None
        while pool and connection is None:
            candidate = pool.pop()
            if candidate.transport is not None and not candidate.transport.is_closing():
                connection = candidate
        if connection is None:
            _, connection = await loop.create_connection(_Connection, *address)
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        head = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        connection.waiter = waiter
        assert connection.transport is not None
        connection.transport.write((head + "\r\n").encode("latin-1"))
        answer = await waiter
        pool.append(connection)
        return answer

    async def aclose(self) -> None:
        for pool in self._idle.values():
            for connection in pool:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
