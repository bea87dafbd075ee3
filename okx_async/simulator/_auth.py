"""The simulator's own check of OKX v5 signatures, written from OKX's docs alone.

It shares no code with the client's signer on purpose: a test in which both sides
ran the same function would pass whatever that function did.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

# OKX: "2020-12-08T09:08:57.715Z", UTC with exactly three digits of milliseconds.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def expected_signature(
    secret_key: str, timestamp: str, method: str, request_path: str, body: bytes = b""
) -> str:
    """Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)), as OKX computes it.

    ``request_path`` is the path and query exactly as received; ``body`` the raw bytes.
    """
    prehash = timestamp.encode() + method.encode() + request_path.encode() + body
    digest = hmac.new(secret_key.encode(), prehash, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def timestamp_seconds(value: str) -> float | None:
    """Unix seconds of an OKX ``OK-ACCESS-TIMESTAMP``, or None if it is malformed."""
    if not _TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()
