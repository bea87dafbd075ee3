"""OKX v5 request signing: HMAC-SHA256 over ``timestamp + METHOD + path + body``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timezone


def okx_timestamp(epoch_seconds: float | None = None) -> str:
    """Format a Unix time as OKX wants it: UTC ISO-8601 with milliseconds, e.g.
    ``2020-12-08T09:08:57.715Z``."""
    if epoch_seconds is None:
        epoch_seconds = time.time()
    millis = int(epoch_seconds * 1000)
    moment = datetime.fromtimestamp(millis // 1000, tz=timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def sign(secret_key: bytes, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """Return the Base64 HMAC-SHA256 signature of one request.

    ``request_path`` must be exactly the path and query that go on the wire, because
    the server signs what it receives, not what we meant to send.
    """
    prehash = f"{timestamp}{method.upper()}{request_path}{body}".encode()
    digest = hmac.new(secret_key, prehash, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_okx_timestamp(value: str) -> float:
    """Inverse of :func:`okx_timestamp`; raises ``ValueError`` on anything else."""
    if not value.endswith("Z"):
        raise ValueError(f"not an OKX timestamp: {value!r}")
    moment = datetime.strptime(value[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return moment.timestamp()
