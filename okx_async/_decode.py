"""Turn an HTTP answer into OKX ``data`` items, or into the right typed error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._errors import OkxResponseError, api_error


def _preview(body: bytes) -> str:
    return body[:120].decode("utf-8", "replace").replace("\n", " ")


def decode_envelope(status: int, body: bytes) -> list[Mapping[str, Any]]:
    """Return the ``data`` list of a successful answer (``code`` "0").

    Raises :class:`OkxAPIError` (or a subclass) for any other code, whatever the
    HTTP status, and :class:`OkxResponseError` for anything that is not an OKX
    envelope: HTML error pages, truncated JSON, wrong shapes.
    """
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise OkxResponseError(
            f"HTTP {status}: answer is not JSON: {_preview(body)!r}", http_status=status
        ) from None
    if not isinstance(envelope, dict) or "code" not in envelope:
        raise OkxResponseError(
            f"HTTP {status}: answer is not an OKX envelope: {_preview(body)!r}", http_status=status
        )
    raw_code = envelope["code"]
    # OKX has sent the code as a string and as an integer; compare as text.
    if isinstance(raw_code, bool) or not isinstance(raw_code, (str, int)):
        raise OkxResponseError(f"HTTP {status}: 'code' is {raw_code!r:.40}", http_status=status)
    code = str(raw_code)
    msg = envelope.get("msg")
    msg = msg if isinstance(msg, str) else ""
    if code != "0":
        raise api_error(code, msg, status)
    if status >= 400:
        raise OkxResponseError(f"HTTP {status} with code 0", http_status=status)
    data = envelope.get("data")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise OkxResponseError(f"'data' is not a list of objects: {data!r:.80}", http_status=status)
    return data


