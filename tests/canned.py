"""One fixed HTTP answer at the client's transport seam, for fuzzing what the client decodes.

The simulator answers only what OKX would; these tests feed the client answers no
server should send (truncated JSON, wrong shapes, odd codes) and run the client's
own pipeline on them: limiter, signing, decoding and the retry policy, as in
production, with no socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from virtual_time import run

from okx_async import MemoryLimiter, OkxClient, RetryPolicy
from okx_async.simulator import DEMO_CREDENTIALS

T = TypeVar("T")


class Canned:
    """A transport that answers every request with ``(status, body)`` and keeps what was sent."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        self.sent: list[tuple[str, str, bytes]] = []

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        self.sent.append((method, url, body))
        return self.status, self.body

    async def aclose(self) -> None:
        pass


def through_client(
    status: int,
    body: bytes,
    call: Callable[[OkxClient], Awaitable[T]],
) -> T:
    """``call(client)`` on a client whose every request gets ``(status, body)``, sent once."""
    return through(Canned(status, body), call)


def through(
    transport: Canned,
    call: Callable[[OkxClient], Awaitable[T]],
    *,
    base_url: str = "https://canned.invalid",
) -> T:
    """``call(client)`` on a client of ``base_url`` that sends through ``transport``, once."""

    async def main() -> T:
        async with OkxClient(
            DEMO_CREDENTIALS, base_url=base_url, user_id="1", transport=transport,
            limiter=MemoryLimiter(), retry=RetryPolicy.disabled(),
        ) as okx:
            return await call(okx)

    return run(main())
