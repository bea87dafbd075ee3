"""``OkxClient.request()``: any OKX v5 endpoint through the client's signing, limiter and errors."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from one_order import ONE_ORDER, one_order
from schedule import full_speed

from okx_async import (
    MaxCollateralRedeemAmount,
    OkxClient,
    OkxUnknownOutcomeError,
    RateLimit,
    RetryPolicy,
)
from okx_async.simulator import DEMO_CREDENTIALS, DEMO_UID, TRADE_CREDENTIALS, Simulator
from okx_async.simulator.pytest_plugin import SimulatorFactory

LOAN = "/api/v5/finance/flexible-loan/"
REDEEM = LOAN + "max-collateral-redeem-amount"
ADJUST = LOAN + "adjust-collateral"


@pytest.fixture
def okx_simulator_factory(okx_simulator_factory: SimulatorFactory) -> SimulatorFactory:
    """The plugin's factory, with users holding one order (see tests/one_order.py)."""
    return one_order(okx_simulator_factory)


async def test_a_get_and_a_post_go_out_signed(okx_simulator_factory: SimulatorFactory) -> None:
    sim = await okx_simulator_factory()
    async with OkxClient(TRADE_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID) as okx:
        got = await okx.request("GET", REDEEM, {"ccy": "USDT"})
        headroom = await okx.request(
            "post", LOAN + "max-loan",
            {"borrowCcy": "USDT", "supCollateral": [{"ccy": "BTC", "amt": Decimal("0.1")}]},
        )
        adjusted = await okx.request(
            "POST", ADJUST, {"type": "add", "collateralCcy": "BTC", "collateralAmt": "0.01"}
        )
    assert got == [{"ccy": "USDT", "maxRedeemAmt": "1"}]
    assert headroom[0]["borrowCcy"] == "USDT" and Decimal(headroom[0]["maxLoan"]) > 0
    assert adjusted == []
    # The simulator checked each signature with its own HMAC and answered code 0.
    assert [(a.method, a.endpoint, a.code) for a in sim.arrivals] == [
        ("GET", REDEEM, "0"), ("POST", LOAN + "max-loan", "0"), ("POST", ADJUST, "0")
    ]
    assert sim.arrivals[1].body == (
        b'{"borrowCcy":"USDT","supCollateral":[{"ccy":"BTC","amt":"0.1"}]}'
    )


@pytest.mark.okx_virtual(orders=ONE_ORDER)
async def test_a_typed_call_and_request_on_one_path_share_one_budget(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    ccys = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA"]
    async with sim.client(user_id=DEMO_UID) as okx:
        typed, raw = await asyncio.gather(
            okx.max_collateral_redeem_amounts(ccys),
            asyncio.gather(*(okx.request("GET", REDEEM, {"ccy": c}) for c in ccys)),
        )
    assert typed == {c: MaxCollateralRedeemAmount(c, Decimal(raw[i][0]["maxRedeemAmt"]))
                     for i, c in enumerate(ccys)}
    assert not sim.rejections()
    # Twelve requests on one budget: bursts of five, each as soon as the rule allows.
    assert [a.t for a in sim.arrivals] == full_speed(12)


@pytest.mark.okx_virtual(orders=ONE_ORDER)
async def test_twenty_five_concurrent_gets_at_the_rule(okx_virtual_simulator: Simulator) -> None:
    sim = okx_virtual_simulator
    async with sim.client(user_id=DEMO_UID) as okx:
        pages = await asyncio.gather(*(
            okx.request("GET", LOAN + "loan-history", {"limit": 1}) for _ in range(25)
        ))
    assert all(len(page) == 1 for page in pages)
    assert not sim.rejections()
    assert [a.t for a in sim.arrivals] == full_speed(25)


@pytest.mark.parametrize(
    "case",
    [
        ("GET", "https://www.okx.com/api/v5/account/balance", None, RateLimit(10, 2),
         ValueError),
        ("GET", "/api/v4/account/balance", None, RateLimit(10, 2), ValueError),
        ("GET", "api/v5/account/balance", None, RateLimit(10, 2), ValueError),
        ("GET", "/api/v5/account/balance?ccy=BTC", None, RateLimit(10, 2), ValueError),
        ("GET", "/api/v5/account/../balance", None, RateLimit(10, 2), ValueError),
        ("PUT", "/api/v5/account/balance", None, RateLimit(10, 2), ValueError),
        (b"GET", "/api/v5/account/balance", None, RateLimit(10, 2), TypeError),
        ("GET", "/api/v5/account/balance", None, None, ValueError),  # no rule for it
        ("GET", "/api/v5/account/balance", None, (10, 2), TypeError),
        ("GET", "/api/v5/account/balance", {"ccy": 1.5}, RateLimit(10, 2), TypeError),
        ("POST", ADJUST, {"type": "add", "collateralCcy": "BTC", "collateralAmt": 0.1}, None,
         TypeError),
        ("POST", ADJUST, {"nested": [{"amt": 0.1}]}, None, TypeError),
        ("GET", REDEEM, {"ccy": ["BTC"]}, None, TypeError),
        ("GET", REDEEM, {"ccy": "BTC"}, RateLimit(50, 2), ValueError),  # not OKX's rule
        ("GET", REDEEM, "ccy=BTC", None, TypeError),
    ],
)
async def test_bad_input_is_refused_before_anything_is_sent(
    okx_simulator: Simulator, case: tuple[str, str, object, object, type[Exception]]
) -> None:
    method, path, params, rule, error = case
    sim = okx_simulator
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url) as okx:  # no user id yet
        with pytest.raises(error):
            await okx.request(method, path, params, rule=rule)  # type: ignore[arg-type]
        assert okx.user_id is None  # not even the uid lookup went out
    assert sim.arrivals == []


async def test_an_unknown_path_without_a_rule_says_where_okx_states_it() -> None:
    async with OkxClient(DEMO_CREDENTIALS, base_url="http://127.0.0.1:9") as okx:
        with pytest.raises(ValueError, match=r"Rate Limit.*docs-v5"):
            await okx.request("GET", "/api/v5/account/balance")


async def test_a_post_whose_answer_is_lost_is_sent_once(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(drop_rate=1.0, fault_endpoints=[ADJUST])
    body = {"type": "add", "collateralCcy": "BTC", "collateralAmt": "0.01"}
    async with OkxClient(TRADE_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy(base_delay=0.01)) as okx:
        with pytest.raises(OkxUnknownOutcomeError) as caught:
            await okx.request("POST", ADJUST, body)
    assert [a.endpoint for a in sim.arrivals] == [ADJUST]
    assert caught.value.request.body == (
        b'{"type":"add","collateralCcy":"BTC","collateralAmt":"0.01"}'
    )
    assert caught.value.cl_ord_id is None
    # The simulator applied it before dropping the answer: once, and only once.
    locked = [e for e in sim.accounts[DEMO_UID].history
              if (e.type, e.ccy) == ("collateral_locked", "BTC") and abs(e.amt) == Decimal("0.01")]
    assert len(locked) == 1
