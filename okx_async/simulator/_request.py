"""A request as the simulator receives it, and the record it keeps of each one it counts."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL


@attrs.frozen
class Arrival:
    """One authenticated request to a rate-limited endpoint, as the server counted it.

    ``t`` is the event loop's ``time()`` at the moment of counting: ``time.monotonic()``
    on a normal loop (the test process and the client share that clock), virtual
    seconds on a :class:`~okx_async.simulator.VirtualTimeLoop`. ``code`` is the OKX code
    answered; it is ``""`` for the faults that carry none (the HTML 502 and the
    dropped connection, whose ``status`` is 0). ``body`` is the raw request body as
    received (empty for a GET).
    """

    t: float
    uid: str
    endpoint: str
    ccy: str | None
    api_key: str
    status: int
    code: str
    method: str = "GET"
    body: bytes = b""


def _case_insensitive(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    """HTTP header names are case-insensitive, on the wire and here."""
    if isinstance(headers, CIMultiDictProxy):
        return headers
    return CIMultiDictProxy(CIMultiDict(headers))


@attrs.frozen
class Incoming:
    """One request as the server receives it, from either front.

    ``target`` is the path and query exactly as sent (what the client signed);
    ``headers`` are looked up case-insensitively; ``remote`` is the caller's address,
    which the public endpoint's per-IP limit counts by.
    """

    method: str
    target: str
    headers: CIMultiDictProxy[str] = attrs.field(converter=_case_insensitive)
    body: bytes = b""
    remote: str = ""

    @property
    def url(self) -> URL:
        """The target parsed the way aiohttp parses a request line: path, then query."""
        path, _, query = self.target.partition("?")
        return URL.build(path=path, query_string=query, encoded=True)
