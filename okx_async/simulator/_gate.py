"""The OKX v5 authentication check, in OKX's order, over the request exactly as received."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Final

from . import _answers as answers
from ._answers import Answer
from ._auth import expected_signature, timestamp_seconds
from ._demo import SimKey
from ._request import Incoming

logger = logging.getLogger(__name__)

#: How far OK-ACCESS-TIMESTAMP may be from the server clock.
MAX_CLOCK_DIFFERENCE: Final = 30.0


def authenticate(
    request: Incoming, keys: Mapping[str, SimKey], server_time: float
) -> tuple[str, SimKey] | Answer:
    """The API key and its :class:`SimKey`, or the 401 answer to send.

    ``server_time`` is the Unix time OK-ACCESS-TIMESTAMP must be within
    :data:`MAX_CLOCK_DIFFERENCE` seconds of. The signature is checked over the path
    and query and the body bytes exactly as received.
    """
    headers = request.headers
    api_key = headers.get("OK-ACCESS-KEY", "")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
    signature = headers.get("OK-ACCESS-SIGN", "")
    timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
    key = keys.get(api_key)
    failure: Answer | None = None
    if not api_key:
        failure = answers.MISSING_KEY
    elif not passphrase:
        failure = answers.MISSING_PASSPHRASE
    elif not signature:
        failure = answers.MISSING_SIGN
    elif not timestamp:
        failure = answers.MISSING_TIMESTAMP
    elif key is None:
        failure = answers.UNKNOWN_KEY
    elif (sent_at := timestamp_seconds(timestamp)) is None:
        failure = answers.BAD_TIMESTAMP
    elif abs(sent_at - server_time) > MAX_CLOCK_DIFFERENCE:
        failure = answers.EXPIRED
    elif not hmac.compare_digest(_encode(passphrase), _encode(key.passphrase)):
        failure = answers.BAD_PASSPHRASE
    elif key.demo is not None and key.demo != (headers.get("x-simulated-trading") == "1"):
        failure = answers.WRONG_ENVIRONMENT
    else:
        expected = expected_signature(
            key.secret_key, timestamp, request.method, request.target, request.body
        )
        if not hmac.compare_digest(_encode(expected), _encode(signature)):
            failure = answers.BAD_SIGN
    if failure is None and key is not None:  # key is None implies a failure above
        return api_key, key
    failure = failure or answers.UNKNOWN_KEY
    # The API key is an identifier, not a secret; the other headers stay out of the log.
    logger.debug("refused %s: %s (api key %r)", request.url.path, failure.code, api_key)
    return failure


def _encode(value: str) -> bytes:
    """Bytes for ``hmac.compare_digest``, which refuses non-ASCII str."""
    return value.encode("utf-8", "replace")
