"""The simulator in-process: the same answers as over loopback HTTP, through the same seam.

Requests go through the client's ``Transport`` both ways (``AiohttpTransport`` to the
HTTP front, ``sim.transport()`` in-process), so one table of cases checks both fronts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import attrs
import pytest
import pytest_asyncio

from okx_async import Credentials
from okx_async._signing import Signer, okx_timestamp
from okx_async._transport import AiohttpTransport, Transport
from okx_async.simulator import (
    DEMO_CREDENTIALS,
    DEMO_UID,
    TRADE_CREDENTIALS,
    Simulator,
)

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount?ccy=USDT"
ADJUST = "/api/v5/finance/flexible-loan/adjust-collateral"
WRONG_SECRET = attrs.evolve(DEMO_CREDENTIALS, secret_key="not-the-secret")
WRONG_PASSPHRASE = attrs.evolve(DEMO_CREDENTIALS, passphrase="not-the-passphrase")
UNKNOWN_KEY = attrs.evolve(DEMO_CREDENTIALS, api_key="no-such-key")


@attrs.define
class Front:
    """One simulator and a transport to it, over HTTP or in-process."""

    sim: Simulator
    transport: Transport
    base_url: str

    async def send(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        credentials: Credentials = DEMO_CREDENTIALS,
        *,
        timestamp: str | None = None,
        signed_target: str | None = None,
        signed_body: bytes | None = None,
        content_type: str | None = "application/json",
        omit: Iterable[str] = (),
        lower_case: bool = False,
    ) -> tuple[int, Any]:
        """Send ``target`` signed the OKX v5 way (optionally sabotaged); status and JSON."""
        timestamp = okx_timestamp() if timestamp is None else timestamp
        signature = Signer(credentials.secret_key).sign(
            timestamp, method, signed_target or target,
            body if signed_body is None else signed_body,
        )
        headers = {
            "OK-ACCESS-KEY": credentials.api_key,
            "OK-ACCESS-SIGN": signature,
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": credentials.passphrase,
        }
        if method == "POST" and content_type is not None:
            headers["Content-Type"] = content_type
        for name in omit:
            del headers[name]
        if lower_case:
            headers = {name.lower(): value for name, value in headers.items()}
        status, raw = await self.transport.request(method, self.base_url + target, headers, body)
        return status, json.loads(raw)


FrontFactory = Callable[..., Awaitable[Front]]


@pytest_asyncio.fixture(params=["http", "in-process"])
async def open_front(request: pytest.FixtureRequest) -> AsyncIterator[FrontFactory]:
    """``await open_front(**options)``: a simulator and a transport, over HTTP or in-process."""
    opened: list[Front] = []

    async def factory(**options: Any) -> Front:
        sim = Simulator(**options)
        if request.param == "http":
            await sim.start()
            front = Front(sim, AiohttpTransport(), sim.base_url)
        else:
            front = Front(sim, sim.transport(), "http://anything.invalid")
        opened.append(front)
        return front

    try:
        yield factory
    finally:
        for front in opened:
            await front.transport.aclose()
            await front.sim.close()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "0"),
        ({"lower_case": True}, "0"),  # header names are case-insensitive
        ({"credentials": WRONG_SECRET}, "50113"),
        ({"signed_target": REDEEM.partition("?")[0]}, "50113"),  # the query is signed
        ({"credentials": WRONG_PASSPHRASE}, "50105"),
        ({"credentials": UNKNOWN_KEY}, "50111"),
        ({"clock_offset": -31.0}, "50102"),
        ({"clock_offset": +31.0}, "50102"),
        ({"timestamp": "2020-12-08T09:08:57Z"}, "50112"),
        ({"omit": ["OK-ACCESS-KEY"]}, "50103"),
        ({"omit": ["OK-ACCESS-PASSPHRASE"]}, "50104"),
        ({"omit": ["OK-ACCESS-SIGN"]}, "50106"),
        ({"omit": ["OK-ACCESS-TIMESTAMP"]}, "50107"),
    ],
)
async def test_auth_is_checked_alike_both_ways_and_a_refusal_costs_nothing(
    open_front: FrontFactory, kwargs: dict[str, Any], code: str
) -> None:
    front = await open_front(limit=1, window=60)
    if "clock_offset" in kwargs:
        kwargs = {"timestamp": okx_timestamp(front.sim.wall_time() + kwargs["clock_offset"])}
    status, body = await front.send("GET", REDEEM, **kwargs)
    assert body["code"] == code
    assert (status == 200) == (code == "0")
    if code != "0":
        assert front.sim.arrivals == []
        # The refused request took no budget: the single allowed one still passes.
        assert (await front.send("GET", REDEEM))[1]["code"] == "0"


@pytest.mark.parametrize(
    ("body", "kwargs", "code"),
    [
        (b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}', {}, "0"),
        # The body is signed byte for byte: the same JSON spelt otherwise fails.
        (b'{"type": "add", "collateralCcy": "BTC", "collateralAmt": "1"}',
         {"signed_body": b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}'}, "50113"),
        (b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}',
         {"content_type": "text/plain"}, "50002"),
        (b"not json", {}, "50002"),
        (b'{"type":"add","collateralCcy":"BTC","collateralAmt":"-1"}', {}, "51000"),
    ],
)
async def test_a_write_is_checked_over_its_exact_body_both_ways(
    open_front: FrontFactory, body: bytes, kwargs: dict[str, Any], code: str
) -> None:
    front = await open_front()
    before = front.sim.account(DEMO_UID).order().loan_info()
    _, answer = await front.send("POST", ADJUST, body, TRADE_CREDENTIALS, **kwargs)
    assert answer["code"] == code
    changed = front.sim.account(DEMO_UID).order().loan_info() != before
    assert changed == (code == "0")


async def test_every_endpoint_answers_alike_both_ways() -> None:
    async def answers_of(front: Front) -> dict[tuple[str, str], tuple[int, str, list[str]]]:
        seen = {}
        for method, path in sorted(front.sim._routes):
            status, answer = await front.send(
                method, path, b"{}" if method == "POST" else b"", TRADE_CREDENTIALS
            )
            first = (answer.get("data") or [{}])[0]
            seen[method, path] = (status, answer["code"], sorted(first))
        return seen

    transport = AiohttpTransport()
    in_process = Simulator()
    try:
        async with Simulator() as over_http:
            http = await answers_of(Front(over_http, transport, over_http.base_url))
        mine = await answers_of(Front(in_process, in_process.transport(), "http://x.invalid"))
    finally:
        await transport.aclose()
        await in_process.close()
    assert mine == http
    assert {code for _, code, _ in mine.values()} >= {"0", "51000"}
