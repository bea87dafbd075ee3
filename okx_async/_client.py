"""``OkxClient``: the public face. Its lifecycle, the typed methods and ``request()``.

A call goes one way: typed method (``_family.py``) -> endpoint data
(``_endpoints.py``) -> ``Pipeline.call`` (``_pipeline.py``: uid, request value,
attempts, policy) -> ``Sender.send`` (``_sender.py``: limiter slot, signature,
transport, decoder) -> back up as a model or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from . import _generic
from ._clock import ServerClock
from ._closing import Closer
from ._credentials import Credentials
from ._family import LoanReads
from ._limiter import Limiter, default_limiter
from ._pipeline import Pipeline
from ._retry import RetryPolicy
from ._sender import Sender
from ._signing import RequestSigner
from ._transport import AiohttpTransport, Timeouts, Transport
from ._uid import UIDS
from ._window import RateLimit
from ._writes import LoanWrites


class Region(StrEnum):
    """OKX's REST hosts; pass one as ``base_url``."""

    GLOBAL = "https://www.okx.com"
    EEA = "https://eea.okx.com"
    US = "https://us.okx.com"


class OkxClient(LoanReads, LoanWrites):
    """Async client for OKX v5 with a built-in per-user-id rate limiter.

    Example::

        async with OkxClient(Credentials.from_env()) as okx:
            one = await okx.max_collateral_redeem_amount("USDT")
            many = await okx.max_collateral_redeem_amounts(["USDT", "BTC", "ETH"])
            balance = await okx.request(
                "GET", "/api/v5/account/balance", {"ccy": "USDT"}, rule=RateLimit(10, 2)
            )

    Clients share the process-wide limiter unless given one, so several clients whose
    keys belong to one user share that user's budget. ``user_id`` saves one request:
    without it the first client of each API key asks ``/api/v5/account/config`` once
    per process, and every client of that key reuses the answer.

    ``fanout_concurrency`` caps how many requests of one batch method run at once; a
    batch never runs more than its endpoint's rule lets into one window (5 on the
    Flexible Loan endpoints) and one more waiting its turn, because any more would
    only queue in the limiter.

    A ``session`` passed in stays the caller's; its own settings (``raise_for_status``,
    ``base_url``, timeouts) do not change how the client's requests are sent, and its
    middlewares do not run for them (see docs/errors.md).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str = Region.GLOBAL,
        demo: bool = False,
        user_id: str | None = None,
        limiter: Limiter | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        fanout_concurrency: int = 16,
        transport: Transport | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError("credentials must be an okx_async.Credentials")
        if fanout_concurrency < 1:
            raise ValueError("fanout_concurrency must be at least 1")
        if transport is not None and session is not None:
            raise ValueError("pass a session or a transport, not both")
        self._base_url = str(base_url).rstrip("/")
        host = urlsplit(self._base_url).netloc
        if not host:
            raise ValueError(f"base_url {base_url!r} has no host")
        self._api_key = credentials.api_key
        self._rate_limits = dict(rate_limits or {})
        self._fanout_concurrency = fanout_concurrency
        self._closer = Closer()
        if transport is None:
            transport = AiohttpTransport(session, timeouts if timeouts is not None else Timeouts())
            if timeouts is None:
                timeouts = Timeouts()
        self._transport = transport
        clock = ServerClock()
        signer = RequestSigner(
            credentials.api_key, credentials.secret_key, credentials.passphrase, demo=demo
        )
        sender = Sender(
            base_url=self._base_url, transport=transport,
            limiter=limiter if limiter is not None else default_limiter(),
            signer=signer, clock=clock.now, closer=self._closer,
        )
        self._pipeline = Pipeline(
            host=host, sender=sender, closer=self._closer, clock=clock,
            retry=retry if retry is not None else RetryPolicy(),
            # A request may reach OKX until its transport gives up on it.
            lifetime=timeouts.total if timeouts is not None else None,
            rate_limits=self._rate_limits, uids=UIDS,
            uid_key=(self._base_url, credentials.api_key, demo), user_id=user_id,
        )

    def __repr__(self) -> str:
        return (
            f"<OkxClient {self._base_url} api_key={self._api_key!r} "
            f"user_id={self._pipeline.user_id!r}>"
        )

    async def __aenter__(self) -> OkxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: nothing more is sent.

        Calls still queued for a slot (or backing off) end at once with
        :class:`OkxClientClosedError` without taking a slot; requests in flight end as
        the session's closing makes them. The HTTP session is closed only if the
        client created it.
        """
        self._closer.close()
        await self._transport.aclose()

    @property
    def base_url(self) -> str:
        """Where requests go: OKX's host (a :class:`Region`), or another base URL."""
        return self._base_url

    @property
    def user_id(self) -> str | None:
        """The OKX user id the budgets are counted by, once known."""
        return self._pipeline.user_id

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock to sign with OKX's time (0 until measured)."""
        return self._pipeline.clock.offset

    async def sync_clock(self) -> float:
        """Measure the local clock's offset from OKX's and sign with OKX's time from now on.

        The client does this by itself after a 50102 (timestamp expired); returns the
        offset in seconds.
        """
        self._closer.check()
        return await self._pipeline.clock.measure(self._pipeline.server_time)

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        rule: RateLimit | None = None,
        write: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Any OKX v5 REST endpoint, signed and limited like the typed methods: OKX's ``data``.

        ``params`` become a GET's query or a POST's JSON body (``None`` values left
        out; ``Decimal`` as plain text; a ``float`` is refused). ``rule`` is the
        endpoint's limit as OKX's page states it, counted per user ID for private
        endpoints and per IP for public ones (``/api/v5/public/``, ``/market/``,
        ``/system/``); on a path the client types, its known rule applies and the
        budget is the typed method's. A POST is a write unless ``write=False``: sent
        again only when it provably did not execute, or, carrying a ``clOrdId``, while
        OKX remembers the key (see docs/errors.md). Bad input raises
        ``TypeError``/``ValueError`` before anything is sent.

        Example::

            balances = await okx.request(
                "GET", "/api/v5/account/balance", {"ccy": "USDT"}, rule=RateLimit(10, 2)
            )
        """
        endpoint, wire = _generic.prepare(
            method, path, params, rule=rule, write=write, rate_limits=self._rate_limits
        )
        return await self._pipeline.call(endpoint, wire)

