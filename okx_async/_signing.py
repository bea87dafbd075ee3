"""OKX v5 request signing: HMAC-SHA256 over ``timestamp + METHOD + path + body``."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def okx_timestamp(epoch_seconds: float | None = None) -> str:
    """Format a Unix time as OKX wants it: UTC ISO-8601 with milliseconds, e.g.
    ``2020-12-08T09:08:57.715Z``."""
    if epoch_seconds is None:
        epoch_seconds = time.time()
    seconds, millis = divmod(int(epoch_seconds * 1000), 1000)
    return f"{_utc_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    # Requests within one second share this part; formatting it costs as much as the HMAC.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


class Signer:
    """Signs requests with one secret key, keyed once and copied per request."""

    __slots__ = ("_mac",)

    def __init__(self, secret_key: str | bytes) -> None:
        key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "<Signer key=<hidden>>"

    def sign(
        self, timestamp: str, method: str, request_path: str, body: str | bytes = b""
    ) -> str:
        """Return the Base64 HMAC-SHA256 signature of one request.

        ``request_path`` must be exactly the path and query that go on the wire, and
        ``body`` exactly the bytes sent (a POST's compact JSON), because the server
        checks what it receives, not what we meant to send.
        """
        mac = self._mac.copy()
        mac.update(f"{timestamp}{method.upper()}{request_path}".encode())
        mac.update(body.encode() if isinstance(body, str) else body)
        return base64.b64encode(mac.digest()).decode("ascii")


def json_body(params: Mapping[str, Any]) -> bytes:
    """A POST body as OKX signs it: compact JSON, no spaces, in the given key order."""
    return json.dumps(params, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(
    secret_key: str | bytes,
    timestamp: str,
    method: str,
    request_path: str,
    body: str | bytes = b"",
) -> str:
    """One-off form of :meth:`Signer.sign`."""
    return Signer(secret_key).sign(timestamp, method, request_path, body)


def parse_okx_timestamp(value: str) -> float:
    """Inverse of :func:`okx_timestamp`; raises ``ValueError`` on anything else."""
    if not value.endswith("Z"):
        raise ValueError(f"not an OKX timestamp: {value!r}")
    moment = datetime.strptime(value[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return moment.timestamp()
