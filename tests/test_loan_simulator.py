"""The simulator as a Flexible Loan account, over raw signed HTTP (no client code)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from raw import LOAN, call, compact

from okx_async.simulator import DEMO_UID, TRADE_CREDENTIALS, Simulator
from okx_async.simulator._account import INITIAL_LTV, PRICES
from okx_async.simulator._demo import DEFAULT_AMOUNTS
from okx_async.simulator.pytest_plugin import SimulatorFactory


def btc_held(sim: Simulator) -> Decimal:
    """The BTC collateral of the demo user's earliest order."""
    return sim.accounts[DEMO_UID].order().collateral["BTC"]


async def test_the_demo_account_has_two_coherent_orders(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    status, info = await call(session, okx_simulator, "GET", LOAN + "loan-info")
    assert status == 200
    first, second = info["data"]
    assert first["ordId"] != second["ordId"]
    assert first["loanData"] == [{"ccy": "USDT", "amt": "1000"}]
    assert second["loanData"] == [{"ccy": "USDC", "amt": "500"}]
    held: dict[str, str] = {}
    totals = []
    for order, loan in ((first, 1000), (second, 500)):
        collateral = {c["ccy"]: c["amt"] for c in order["collateralData"]}
        assert not held.keys() & collateral.keys()
        held |= collateral
        total = sum((Decimal(a) * PRICES[c] for c, a in collateral.items()), Decimal(0))
        totals.append(total)
        assert Decimal(order["collateralNotionalUsd"]) == total.quantize(Decimal("0.01"))
        assert Decimal(order["curLTV"]) == (Decimal(loan) / total).quantize(Decimal("0.0001"))
        assert (order["marginCallLTV"], order["liqLTV"]) == ("0.85", "0.9")
        assert order["riskWarningData"] == {"instId": "", "liqPx": ""}
    assert held == {c: a for c, a in DEFAULT_AMOUNTS.items() if a != "0"}
    total = totals[0]

    _, assets = await call(session, okx_simulator, "GET", LOAN + "collateral-assets?ccy=BTC")
    assert assets["data"] == [{"assets": [{"ccy": "BTC", "amt": "0.5", "notionalUsd": "30000"}]}]
    _, borrow = await call(session, okx_simulator, "GET", LOAN + "borrow-currencies")
    assert {b["borrowCcy"] for b in borrow["data"]} >= {"USDT", "BTC"}

    body = compact({"borrowCcy": "USDT", "supCollateral": [{"ccy": "BTC", "amt": "1"}]})
    status, max_loan = await call(session, okx_simulator, "POST", LOAN + "max-loan", body)
    assert status == 200
    expected = ((total + 60000) * INITIAL_LTV - 1000).quantize(Decimal("0.00000001"), "ROUND_DOWN")
    assert Decimal(max_loan["data"][0]["maxLoan"]) == expected
    assert okx_simulator.arrivals[-1].body == body
    assert okx_simulator.arrivals[-1].method == "POST"


async def test_adjust_collateral_changes_every_derived_answer(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    sim = okx_simulator
    redeem = LOAN + "max-collateral-redeem-amount?ccy=BTC"
    adjust = LOAN + "adjust-collateral"
    _, before = await call(session, sim, "GET", LOAN + "loan-info")
    reduce = compact({"type": "reduce", "collateralCcy": "BTC", "collateralAmt": "0.2"})
    status, answer = await call(session, sim, "POST", adjust, reduce, credentials=TRADE_CREDENTIALS)
    assert (status, answer) == (200, {"code": "0", "msg": "", "data": []})
    _, after = await call(session, sim, "GET", redeem)
    assert after["data"] == [{"ccy": "BTC", "maxRedeemAmt": "0.3"}]
    _, info = await call(session, sim, "GET", LOAN + "loan-info")
    assert Decimal(info["data"][0]["curLTV"]) > Decimal(before["data"][0]["curLTV"])
    _, history = await call(session, sim, "GET", LOAN + "loan-history?limit=1")
    [newest] = history["data"]
    assert (newest["type"], newest["ccy"], newest["amt"]) == ("collateral_released", "BTC", "0.2")

    # More than max-redeem allows is refused and changes nothing.
    too_much = compact({"type": "reduce", "collateralCcy": "BTC", "collateralAmt": "0.31"})
    trade = TRADE_CREDENTIALS
    status, answer = await call(session, sim, "POST", adjust, too_much, credentials=trade)
    assert (status, answer["code"]) == (400, "51000")
    assert btc_held(sim) == Decimal("0.3")


async def test_a_read_only_key_gets_50120_on_a_trade_call(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    body = compact({"type": "add", "collateralCcy": "BTC", "collateralAmt": "1"})
    status, answer = await call(session, okx_simulator, "POST", LOAN + "adjust-collateral", body)
    assert (status, answer["code"]) == (200, "50120")
    assert btc_held(okx_simulator) == Decimal("0.5")
    # Reads are fine with the same key.
    assert (await call(session, okx_simulator, "GET", LOAN + "loan-info"))[0] == 200


async def test_post_signature_covers_the_raw_body(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    path = LOAN + "max-loan"
    body = compact({"borrowCcy": "USDT"})
    spaced = json.dumps({"borrowCcy": "USDT"}).encode()
    # Signed over the compact body, sent with spaces: the server sees other bytes.
    status, answer = await call(session, okx_simulator, "POST", path, spaced, signed_body=body)
    assert (status, answer["code"]) == (401, "50113")
    status, answer = await call(session, okx_simulator, "POST", path, b"{not json")
    assert answer["code"] == "50002"
    _, answer = await call(session, okx_simulator, "POST", path, body, content_type="text/plain")
    assert answer["code"] == "50002"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "loan-history?type=lent", b""),
        ("GET", "loan-history?limit=101", b""),
        ("GET", "interest-accrued?after=abc", b""),
        ("POST", "max-loan", b'{"borrowCcy":"NOPE"}'),
        ("POST", "max-loan", b'{"borrowCcy":"USDT","supCollateral":[{"ccy":"BTC","amt":1}]}'),
        ("POST", "adjust-collateral", b'{"type":"swap","collateralCcy":"BTC","collateralAmt":"1"}'),
        ("POST", "adjust-collateral", b'{"type":"add","collateralCcy":"BTC","collateralAmt":"-1"}'),
    ],
)
async def test_bad_parameters_are_51000(
    okx_simulator: Simulator, session: aiohttp.ClientSession, method: str, path: str, body: bytes
) -> None:
    status, answer = await call(
        session, okx_simulator, method, LOAN + path, body, credentials=TRADE_CREDENTIALS
    )
    assert (status, answer["code"]) == (400, "51000")


async def test_history_pages_newest_first_by_ref_id(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    okx_simulator = await okx_simulator_factory(rate_limit=False)
    _, everything = await call(session, okx_simulator, "GET", LOAN + "loan-history")
    ids = [int(e["refId"]) for e in everything["data"]]
    # A lock per non-zero default amount and a loan per order.
    assert len(ids) == 31 + 2 and ids == sorted(ids, reverse=True)
    pages: list[int] = []
    cursor = ""
    while True:
        _, page = await call(session, okx_simulator, "GET", LOAN + f"loan-history?limit=10{cursor}")
        pages += [int(e["refId"]) for e in page["data"]]
        if len(page["data"]) < 10:
            break
        cursor = f"&after={page['data'][-1]['refId']}"
    assert pages == ids
    _, newer = await call(
        session, okx_simulator, "GET", LOAN + f"loan-history?before={ids[3]}&limit=2"
    )
    assert [int(e["refId"]) for e in newer["data"]] == ids[1:3]
    _, interest = await call(session, okx_simulator, "GET", LOAN + "interest-accrued?ccy=USDT")
    assert len(interest["data"]) == 24
    assert {e["ccy"] for e in interest["data"]} == {"USDT"}


async def test_every_endpoint_has_its_own_budget_per_user(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(limit=2, window=60)
    paths = ["loan-info", "loan-history", "collateral-assets", "borrow-currencies"]
    replies = await asyncio.gather(
        *(call(session, sim, "GET", LOAN + p) for p in paths for _ in range(3))
    )
    assert sorted(status for status, _ in replies) == [200] * 8 + [429] * 4
    posts = await asyncio.gather(*(
        call(session, sim, "POST", LOAN + "max-loan", b'{"borrowCcy":"USDT"}') for _ in range(3)
    ))
    assert sorted(status for status, _ in posts) == [200, 200, 429]
    assert {a.endpoint for a in sim.rejections()} == {LOAN + p for p in [*paths, "max-loan"]}
