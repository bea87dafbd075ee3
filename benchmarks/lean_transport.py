"""Experiment: how much CPU per request a leaner HTTP layer would save okx-async.

The overhead benchmark shows aiohttp's client machinery, not okx-async's own code,
is most of okx-async's CPU per request. This module backs that up with a measurement:
a minimal HTTP/1.1 keep-alive GET on ``asyncio.Protocol``, plugged into
``OkxClient(transport=...)`` through the client's ``Transport`` seam, against the
default aiohttp transport and ccxt, on the same unlimited simulator child.

It is a **prototype for measuring only**: plain HTTP, ``Content-Length`` bodies, no
TLS, chunked encoding or proxy support. Run ``python -m benchmarks.lean_transport``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from okx_async import MemoryLimiter, OkxClient, OkxTransportError
from okx_async.simulator import DEMO_UID

from ._common import CREDENTIALS, REDEEM_PATH
from ._server import SimServer
from .overhead import UNLIMITED, Sample, _ccxt, _sample_async

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


async def _okx_async(base_url: str, total: int, concurrency: int, *, lean: bool) -> Sample:
    async with OkxClient(
        CREDENTIALS, base_url=base_url, user_id=DEMO_UID, limiter=MemoryLimiter(),
        rate_limits={REDEEM_PATH: UNLIMITED}, transport=LeanTransport() if lean else None,
    ) as okx:
        return await _sample_async(okx.max_collateral_redeem_amount, total, concurrency)


async def compare(total: int = 2000, rounds: int = 5) -> None:
    """Print median CPU per request of each variant, interleaved over ``rounds``."""
    variants = ("okx-async (aiohttp)", "okx-async (lean prototype)", "ccxt")
    with SimServer(rate_limit=False) as server:
        url = server.base_url
        for concurrency in (1, 50):
            cpu: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(rounds):
                samples = (
                    await _okx_async(url, total, concurrency, lean=False),
                    await _okx_async(url, total, concurrency, lean=True),
                    await _ccxt(url, total, concurrency),
                )
                for name, sample in zip(variants, samples, strict=True):
                    cpu[name].append(sample.cpu_s / total * 1e6)
            ccxt = statistics.median(cpu["ccxt"])
            for name in variants:
                median = statistics.median(cpu[name])
                print(f"concurrency {concurrency:>2}  {name:<27} {median:6.0f} µs CPU/request"
                      f"  ({median / ccxt:.2f}x ccxt)")
        server.finish()


if __name__ == "__main__":
    asyncio.run(compare(*(int(arg) for arg in sys.argv[1:3])))
