"""The error hierarchy, and the one table that maps OKX codes onto it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OkxError(Exception):
    """Root of every error okx-async raises on purpose.

    ``attempts`` is how many requests the call sent before giving up; the failure
    before the last one, if any, is chained as ``__cause__``. Nothing from aiohttp
    is chained, and no link of the chain carries a secret.
    """

    attempts: int = 0


class OkxConfigError(OkxError):
    """The client was set up wrongly, e.g. credentials are missing."""


class OkxTransportError(OkxError):
    """The request did not produce an HTTP answer: timeout, refused or reset connection."""


class OkxTimeoutError(OkxTransportError):
    """No complete answer arrived within the configured timeout."""


class OkxConnectError(OkxTransportError):
    """No connection could be opened (refused, unreachable, TLS failed): nothing was sent."""


class OkxClientClosedError(OkxError):
    """The client was closed; it sends nothing more."""


class OkxLimiterUnavailable(OkxError):
    """The shared limiter's store (Redis) cannot be reached, so nothing is sent."""


class OkxResponseError(OkxError):
    """The server answered, but not with a well-formed OKX envelope (say an HTML 502 page)."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class OkxAPIError(OkxError):
    """OKX answered with a non-zero ``code``.

    ``code`` is always a string, because OKX has sent it both ways.
    """

    def __init__(self, code: str, msg: str, *, http_status: int | None = None) -> None:
        super().__init__(f"OKX error {code}: {msg}" if msg else f"OKX error {code}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


class OkxAuthError(OkxAPIError):
    """Authentication failed (codes 501xx): wrong key, signature, passphrase or timestamp."""


class OkxRateLimitError(OkxAPIError):
    """OKX kept answering 50011 after the client had used up its retries."""


class OkxServerBusyError(OkxAPIError):
    """OKX said it is unavailable or overloaded (50001, 50004, 50013, 50026)."""


class OkxParameterError(OkxAPIError):
    """OKX rejected a parameter (51xxx), e.g. an unknown currency."""


class OkxNoOrderError(OkxParameterError):
    """51063: the loan order does not exist (or, with no ``ord_id``, the account has none).

    The reads answer an account without orders with an empty result instead (``None``
    or ``[]``); a write needs an order to act on.
    """


class OkxBatchError(OkxError):
    """Some currencies of a fan-out failed, or the ``on_result`` callback raised.

    ``results`` holds every success and ``errors`` every failure, both keyed by the
    currency as the caller passed it, so nothing that succeeded is lost.
    ``callback_errors`` holds what ``on_result`` raised, keyed by the currency it was
    called for; that currency's result is in ``results`` or ``errors`` all the same.
    """

    def __init__(
        self,
        results: Mapping[Any, Any],
        errors: Mapping[Any, BaseException],
        *,
        callback_errors: Mapping[Any, BaseException] | None = None,
    ) -> None:
        parts = []
        if errors:
            failed = ", ".join(f"{ccy}: {exc}" for ccy, exc in errors.items())
            parts.append(f"{len(errors)} of {len(results) + len(errors)} failed ({failed})")
        if callback_errors:
            raised = ", ".join(
                f"{ccy}: {type(exc).__name__}: {exc}" for ccy, exc in callback_errors.items()
            )
            parts.append(f"on_result raised for {len(callback_errors)} ({raised})")
        super().__init__("; ".join(parts))
        self.results = dict(results)
        self.errors = dict(errors)
        self.callback_errors = dict(callback_errors or {})


class SentRequest:
    """A request as sent, without its headers (they hold the signature): for reconciling."""

    __slots__ = ("body", "method", "path")

    def __init__(self, method: str, path: str, body: bytes) -> None:
        self.method = method
        self.path = path
        self.body = body

    def __repr__(self) -> str:
        return f"SentRequest({self.method} {self.path} {self.body.decode('utf-8', 'replace')})"


class OkxUnknownOutcomeError(OkxError):
    """A write may or may not have been executed, and is not sent again.

    It failed after it may have reached OKX (a timeout, a dropped connection, a 5xx,
    an answer that is not OKX's, a "busy" code, the call's deadline), and sending it
    again could apply it twice. A write with an idempotency key is resent while OKX
    still remembers the key; this is raised once it may not. Reconcile before trying
    again (docs/borrow-and-repay.md). ``request`` is what was sent, ``cl_ord_id`` its
    idempotency key if it had one, and the failure is chained as ``__cause__``.
    """

    def __init__(self, request: SentRequest, *, cl_ord_id: str | None = None) -> None:
        key = f" (clOrdId {cl_ord_id})" if cl_ord_id else ""
        super().__init__(
            f"outcome unknown: {request.method} {request.path}{key} may have been executed; "
            "it was not sent again: reconcile before trying again"
        )
        self.request = request
        self.cl_ord_id = cl_ord_id


RATE_LIMITED = "50011"
TIMESTAMP_EXPIRED = "50102"
#: A request with this clOrdId was already executed, or is still being processed.
DUPLICATE_DONE = "51016"
DUPLICATE_IN_FLIGHT = "51784"
#: The loan order named does not exist, or the account has none to act on.
NO_ORDER = "51063"
#: OKX is unavailable or overloaded; it may send these after the work was done.
BUSY_CODES = frozenset({"50001", "50004", "50013", "50026"})


def api_error(code: str, msg: str, http_status: int | None) -> OkxAPIError:
    """Build the most specific :class:`OkxAPIError` for an OKX ``code``."""
    cls: type[OkxAPIError]
    if code == RATE_LIMITED:
        cls = OkxRateLimitError
    elif code in BUSY_CODES:
        cls = OkxServerBusyError
    elif code.startswith("501"):
        cls = OkxAuthError
    elif code == NO_ORDER:
        cls = OkxNoOrderError
    elif code.startswith("51"):
        cls = OkxParameterError
    else:
        cls = OkxAPIError
    return cls(code, msg, http_status=http_status)
