"""A request, built once: what is signed and sent, what budget it takes, and what kind it is."""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from ._limiter import LimitKey
from ._signing import json_body
from ._window import RateLimit


class Kind(enum.Enum):
    """What sending a request twice would do, which decides whether it may be resent."""

    #: Changes nothing: resent after any transient failure.
    READ = "read"
    #: A write carrying an idempotency key (``clOrdId``): OKX recognises a resend of it
    #: within its retention window, so resending the same bytes is safe until then.
    KEYED_WRITE = "keyed write"
    #: A write without a key: once it may have reached OKX it is never resent.
    UNKEYED_WRITE = "unkeyed write"


#: How long OKX remembers a ``clOrdId`` per (user, path), from the first request.
KEY_RETENTION = 60.0


def new_cl_ord_id() -> str:
    """A fresh idempotency key: 32 letters and digits, as OKX's client ids allow."""
    return secrets.token_hex(16)


@attrs.frozen
class Request:
    """Everything the sender needs, fixed before the first attempt and kept across resends.

    ``target`` is the path and query exactly as they go on the wire and ``body`` the
    exact bytes, since both are what OKX checks the signature against. A resend sends
    the same ``target`` and ``body`` (so the same ``clOrdId``) with a fresh signature.
    """

    method: str
    #: The endpoint's path without the query: what OKX counts a limit by.
    path: str
    target: str
    body: bytes
    key: LimitKey
    rule: RateLimit
    kind: Kind
    #: Signed with the API key; public endpoints are not.
    private: bool = True
    #: The idempotency key of a keyed write, as sent.
    cl_ord_id: str | None = None
    #: The limit key only stands in for OKX's, which is not known yet (the user id is
    #: being looked up): a 50011 says nothing about this budget's own pace.
    approximate_key: bool = False

    @property
    def is_write(self) -> bool:
        return self.kind is not Kind.READ


#: Characters that percent-encoding leaves as they are, in a name or a value.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _query(wire: Mapping[str, Any]) -> str:
    """A GET's query: ``urlencode`` with ``%20`` for spaces, and no work for plain text.

    Currency codes, ids and numbers need no quoting, so joining them is the same
    string ``urlencode`` would build, for a fraction of its cost.
    """
    plain = _UNRESERVED.fullmatch
    for name, value in wire.items():
        if not (isinstance(value, str) and plain(value) and plain(name)):
            return urlencode(wire, quote_via=quote)
    return "&".join(f"{name}={value}" for name, value in wire.items())


def build(
    method: str,
    path: str,
    wire: Mapping[str, Any],
    *,
    key: LimitKey,
    rule: RateLimit,
    kind: Kind,
    private: bool = True,
    key_param: str | None = None,
    approximate_key: bool = False,
) -> Request:
    """The request for ``wire`` (OKX's names and wire values): a GET's query, a POST's body.

    A keyed write without its key (``key_param``) gets a fresh one here, once, so
    every resend carries the same.
    """
    cl_ord_id: str | None = None
    if key_param is not None:
        given = wire.get(key_param)
        cl_ord_id = given if isinstance(given, str) else new_cl_ord_id()
        wire = {**wire, key_param: cl_ord_id}
    body = b""
    if method == "GET":
        query = _query(wire)
        target = f"{path}?{query}" if query else path
    else:
        target, body = path, json_body(wire)
    return Request(
        method, path, target, body, key, rule, kind, private, cl_ord_id, approximate_key
    )
