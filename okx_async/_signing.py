"""OKX v5 request signing: HMAC-SHA256 over ``timestamp + METHOD + path + body``."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
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


class RequestSigner:
    """The headers of one API key: the key, the passphrase and a fresh signature per request."""

    __slots__ = ("_signer", "_static")

    def __init__(self, api_key: str, secret_key: str, passphrase: str, *, demo: bool) -> None:
        self._signer = Signer(secret_key)
        self._static = {"OK-ACCESS-KEY": api_key, "OK-ACCESS-PASSPHRASE": passphrase}
        if demo:
            self._static["x-simulated-trading"] = "1"

    def __repr__(self) -> str:
        return f"<RequestSigner api_key={self._static['OK-ACCESS-KEY']!r}>"

    def headers(
        self, method: str, target: str, body: bytes, epoch_seconds: float
    ) -> dict[str, str]:
        """Headers for one request signed at ``epoch_seconds`` (OKX's clock, as we know it)."""
        timestamp = okx_timestamp(epoch_seconds)
        headers = self._static.copy()
        headers["OK-ACCESS-TIMESTAMP"] = timestamp
        headers["OK-ACCESS-SIGN"] = self._signer.sign(timestamp, method, target, body)
        if body:
            headers["Content-Type"] = "application/json"
        return headers
