"""Raw signed requests to the simulator, signed with a few lines of hmac (no client code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
from yarl import URL

from okx_async._credentials import Credentials
from okx_async._signing import okx_timestamp
from okx_async.simulator import DEMO_CREDENTIALS, Simulator

LOAN = "/api/v5/finance/flexible-loan/"


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def send(
    session: aiohttp.ClientSession,
    sim: Simulator,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    credentials: Credentials = DEMO_CREDENTIALS,
    signed_body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One signed request; the status and the raw body of the answer."""
    timestamp = okx_timestamp()
    prehash = (timestamp + method + path).encode() + (body if signed_body is None else signed_body)
    mac = hmac.new(credentials.secret_key.encode(), prehash, hashlib.sha256)
    headers = {
        "OK-ACCESS-KEY": credentials.api_key,
        "OK-ACCESS-SIGN": base64.b64encode(mac.digest()).decode(),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": credentials.passphrase,
    }
    if method == "POST":
        headers["Content-Type"] = content_type
    url = URL(sim.base_url + path, encoded=True)
    async with session.request(method, url, headers=headers, data=body or None) as response:
        return response.status, await response.read()


async def call(
    session: aiohttp.ClientSession,
    sim: Simulator,
    method: str,
    path: str,
    body: bytes = b"",
    **options: Any,
) -> tuple[int, Any]:
    """One signed request; the status and the decoded JSON answer."""
    status, raw = await send(session, sim, method, path, body, **options)
    return status, json.loads(raw)
