"""One attempt of one request: slot -> sign -> transport -> decode -> tell the limiter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ._closing import CLOSED_WHILE_WAITING, Closer
from ._decode import decode_envelope
from ._errors import OkxClientClosedError, OkxError
from ._limiter import Limiter, Outcome
from ._policy import limit_outcome
from ._request import Request
from ._signing import RequestSigner
from ._transport import Transport

log = logging.getLogger(__name__)

Data = list[Mapping[str, Any]]


class TooLate(Exception):
    """No slot came before the request's ``send_by``: it was not sent."""


class Attempt:
    """What the caller learns of one attempt besides its result: whether it was sent."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        #: The request left for the transport, so it may have reached OKX.
        self.sent = False


class Sender:
    """Sends one attempt of a request within a limiter slot; knows nothing of retries.

    ``clock()`` is OKX's time as the client knows it, in Unix seconds, for the
    signature. A wait for the slot can be ended by closing (``closer``) and bounded
    by ``send_by`` (loop time): past it the request is not sent at all.
    """

    __slots__ = ("_base_url", "_clock", "_closer", "_limiter", "_signer", "_transport")

    def __init__(
        self,
        *,
        base_url: str,
        transport: Transport,
        limiter: Limiter,
        signer: RequestSigner,
        clock: Callable[[], float],
        closer: Closer,
    ) -> None:
        self._base_url = base_url
        self._transport = transport
        self._limiter = limiter
        self._signer = signer
        self._clock = clock
        self._closer = closer

    async def send(
        self,
        request: Request,
        attempt: Attempt,
        *,
        lifetime: float | None,
        send_by: float | None = None,
    ) -> Data:
        """The ``data`` of OKX's answer, or the :class:`OkxError` that ended the attempt.

        ``lifetime``: how long after its grant the request may still reach OKX,
        should it be abandoned mid-flight (the limiter holds its slot that long).
        """
        permit = self._limiter.slot(request.key, request.rule, lifetime=lifetime)
        # The wait for the slot: Closer.wait written out, one coroutine less for every
        # request that waits. A wait ended before the grant (closing, send_by) leaves
        # no trace in the limiter: it is a cancelled waiter.
        closer = self._closer
        closer.check()
        task = closer.enter()
        try:
            if send_by is None:
                await permit.__aenter__()
            else:
                async with asyncio.timeout_at(send_by):
                    await permit.__aenter__()
        except asyncio.CancelledError:
            if not closer.closed_it(task):
                raise
            granted = False
        except TimeoutError:
            raise TooLate from None
        else:
            granted = True
        finally:
            closer.leave(task)
        if not granted:
            # Out of the except block, so no CancelledError is chained to it.
            raise OkxClientClosedError(CLOSED_WHILE_WAITING)
        # ``async with permit`` written out: one coroutine less per request.
        try:
            headers = (
                self._signer.headers(request.method, request.target, request.body, self._clock())
                if request.private else {}
            )
            attempt.sent = True
            try:
                status, body = await self._transport.request(
                    request.method, self._base_url + request.target, headers, request.body
                )
            except OkxError as exc:
                # No answer: it may have arrived until now, unless no connection opened.
                permit.finish(limit_outcome(exc))
                raise
            try:
                data = decode_envelope(status, body)
            except OkxError as exc:
                outcome = limit_outcome(exc)
                if request.approximate_key and outcome is Outcome.THROTTLED:
                    outcome = Outcome.UNKNOWN  # OKX's count is not this budget's
                permit.finish(outcome)
                raise
            permit.finish(Outcome.ACCEPTED)
        except BaseException as exc:
            await permit.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await permit.__aexit__(None, None, None)
        return data

