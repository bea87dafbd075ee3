"""The Flexible Loan family end to end: typed methods against the simulator.

Over loopback HTTP, except what concerns budgets and their timing, which runs
in-process on virtual time at OKX's real rule.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from one_order import ONE_ORDER, one_order
from schedule import COOL

from okx_async import (
    BorrowCurrency,
    CollateralAsset,
    CurrencyAmount,
    InterestAccrued,
    LimitKey,
    LoanHistoryEntry,
    MaxCollateralRedeemAmount,
    MaxLoan,
    MemoryLimiter,
    OkxAuthError,
    OkxClient,
    OkxParameterError,
    OkxTimeoutError,
    OkxUnknownOutcomeError,
    RateLimit,
    RetryPolicy,
    Timeouts,
)
from okx_async.simulator import (
    DEMO_CREDENTIALS,
    DEMO_UID,
    TRADE_CREDENTIALS,
    OrderSeed,
    Simulator,
)
from okx_async.simulator._demo import DEFAULT_AMOUNTS
from okx_async.simulator.pytest_plugin import SimulatorFactory

LOAN = "/api/v5/finance/flexible-loan/"
REDEEM = LOAN + "max-collateral-redeem-amount"
ADJUST = LOAN + "adjust-collateral"
HISTORY = LOAN + "loan-history"



@pytest.fixture
def okx_simulator_factory(okx_simulator_factory: SimulatorFactory) -> SimulatorFactory:
    """The plugin's factory, with users holding one order (see tests/one_order.py)."""
    return one_order(okx_simulator_factory)


@pytest_asyncio.fixture
async def okx_simulator(okx_simulator_factory: SimulatorFactory) -> Simulator:
    return await okx_simulator_factory()


def client(sim: Simulator, **options: Any) -> OkxClient:
    """A client of ``sim`` over loopback HTTP, with the trade key and the user known."""
    options.setdefault("user_id", DEMO_UID)
    credentials = options.pop("credentials", TRADE_CREDENTIALS)
    return OkxClient(credentials, base_url=sim.base_url, **options)


def in_process(sim: Simulator, **options: Any) -> OkxClient:
    """The same client wired to ``sim`` in-process."""
    options.setdefault("user_id", DEMO_UID)
    return sim.client(TRADE_CREDENTIALS, **options)


def now() -> float:
    return asyncio.get_running_loop().time()


def arrivals(sim: Simulator, path: str) -> list[tuple[str, bytes]]:
    return [(a.code, a.body) for a in sim.arrivals if a.endpoint == path]


async def test_every_endpoint_gives_typed_exact_results(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    # One order holding every demo currency and owing 1000 USDT.
    sim = await okx_simulator_factory(orders=[OrderSeed(DEFAULT_AMOUNTS, {"USDT": "1000"})])
    async with client(sim) as okx:
        borrow = await okx.borrow_currencies()
        assets = await okx.collateral_assets()
        btc = await okx.collateral_assets("BTC")
        headroom = await okx.max_loan("USDT", {"BTC": Decimal("1")})
        redeem = await okx.max_collateral_redeem_amount("SHIB")
        (info,) = await okx.loan_info()
        history = await okx.loan_history(limit=3)
        interest = await okx.interest_accrued("USDT", limit=2)
        await okx.adjust_collateral("add", "ETH", Decimal("0.8"))
        after = await okx.max_collateral_redeem_amount("ETH")

    assert BorrowCurrency("USDT") in borrow
    assert len(assets) == 31 and all(isinstance(a, CollateralAsset) for a in assets)
    assert btc == [CollateralAsset("BTC", Decimal("0.5"), Decimal("30000"))]
    total = info.collateral_notional_usd
    # The LTV model: (collateral + extra) * 70 % - loan; the USD total is rounded to cents.
    assert isinstance(headroom, MaxLoan) and headroom.remaining_quota == Decimal("999000")
    assert abs(headroom.max_loan - ((total + 60000) * Decimal("0.7") - 1000)) < Decimal("0.01")
    assert redeem == MaxCollateralRedeemAmount("SHIB", Decimal(DEFAULT_AMOUNTS["SHIB"]))
    assert info.loan_data == (CurrencyAmount("USDT", Decimal("1000")),)
    assert info.cur_ltv == Decimal("0.0136")
    assert (info.margin_call_ltv, info.liq_ltv, info.risk_warning) == (
        Decimal("0.85"), Decimal("0.9"), None,
    )
    assert len(history) == 3 and all(isinstance(e, LoanHistoryEntry) for e in history)
    assert history[0].type == "borrowed" and history[0].amt == Decimal("1000")
    assert history[0].ts.tzinfo is UTC and history[0].ts < datetime.now(UTC)
    assert [type(r) for r in interest] == [InterestAccrued] * 2
    assert interest[0].interest == Decimal("0.00913")
    assert after == MaxCollateralRedeemAmount("ETH", Decimal("4.0"))


@pytest.mark.parametrize(
    ("method", "args", "error"),
    [
        ("collateral_assets", {"ccy": "B TC"}, ValueError),
        ("collateral_assets", {"ord_id": "12a"}, ValueError),
        ("max_loan", {"borrow_ccy": 7}, TypeError),
        ("max_loan", {"borrow_ccy": "USDT", "sup_collateral": {"BTC": 0.5}}, TypeError),
        ("max_loan", {"borrow_ccy": "USDT", "sup_collateral": {"BTC": "-1"}}, ValueError),
        ("max_loan", {"borrow_ccy": "USDT", "sup_collateral": {}}, ValueError),
        ("max_loan", {"borrow_ccy": "USDT", "sup_collateral": "BTC"}, TypeError),
        ("max_collateral_redeem_amount", {"ccy": ""}, ValueError),
        ("adjust_collateral", {"type": "swap", "collateral_ccy": "BTC", "collateral_amt": 1},
         ValueError),
        ("adjust_collateral", {"type": "add", "collateral_ccy": "BTC", "collateral_amt": 0},
         ValueError),
        ("adjust_collateral", {"type": "add", "collateral_ccy": "BTC", "collateral_amt": "NaN"},
         ValueError),
        ("adjust_collateral", {"type": "add", "collateral_ccy": "BTC", "collateral_amt": 1.5},
         TypeError),
        ("loan_history", {"type": "lent money"}, ValueError),
        ("loan_history", {"limit": 101}, ValueError),
        ("loan_history", {"limit": True}, TypeError),
        ("loan_history", {"after": "-1"}, ValueError),
        ("interest_accrued", {"before": 1.0}, TypeError),
        ("interest_accrued", {"ccy": "USDT&x=1"}, ValueError),
    ],
)
async def test_bad_parameters_are_refused_before_any_request(
    okx_simulator: Simulator, method: str, args: dict[str, Any], error: type[Exception]
) -> None:
    async with client(okx_simulator) as okx:
        with pytest.raises(error):
            await getattr(okx, method)(**args)
    assert okx_simulator.arrivals == []


@pytest.mark.parametrize(
    ("method", "args", "error"),
    [("iter_loan_history", {"page_size": 0}, ValueError),
     ("iter_loan_history", {"type": "Borrowed"}, ValueError),
     ("iter_interest_accrued", {"ccy": ""}, ValueError),
     ("iter_interest_accrued", {"after": 3.5}, TypeError)],
)
async def test_bad_iterator_parameters_are_refused_before_any_request(
    okx_simulator: Simulator, method: str, args: dict[str, Any], error: type[Exception]
) -> None:
    async with client(okx_simulator) as okx:
        with pytest.raises(error):
            await anext(getattr(okx, method)(**args))
    assert okx_simulator.arrivals == []


async def test_api_errors_are_typed_and_definite_write_failures_are_not_resent(
    okx_simulator: Simulator,
) -> None:
    sim = okx_simulator
    async with client(sim, credentials=DEMO_CREDENTIALS) as read_only, client(sim) as trader:
        with pytest.raises(OkxParameterError) as not_lent:
            await read_only.max_loan("DOGE")
        with pytest.raises(OkxAuthError) as no_trade:
            await read_only.adjust_collateral("reduce", "BTC", "0.1")
        with pytest.raises(OkxParameterError) as too_much:
            await trader.adjust_collateral("reduce", "BTC", "0.6")
    assert (not_lent.value.code, no_trade.value.code, too_much.value.code) == (
        "51000", "50120", "51000",
    )
    assert [code for code, _ in arrivals(sim, ADJUST)] == ["50120", "51000"]
    assert sim.accounts[DEMO_UID].order().collateral["BTC"] == Decimal("0.5")


async def test_post_body_is_sent_byte_for_byte_as_signed(okx_simulator: Simulator) -> None:
    async with client(okx_simulator) as okx:
        await okx.max_loan("BTC", [("ETH", Decimal("1.50")), CurrencyAmount("SOL", Decimal(2))])
        await okx.adjust_collateral("reduce", "SOL", 2)
    # The simulator accepted both signatures over the raw bytes it logged.
    assert arrivals(okx_simulator, LOAN + "max-loan") == [(
        "0", b'{"borrowCcy":"BTC","supCollateral":[{"ccy":"ETH","amt":"1.50"},'
             b'{"ccy":"SOL","amt":"2"}]}',
    )]
    assert arrivals(okx_simulator, ADJUST) == [
        ("0", b'{"type":"reduce","collateralCcy":"SOL","collateralAmt":"2"}'),
    ]


@pytest.mark.parametrize(
    ("fault", "executed"),
    [({"drop_rate": 1.0}, True), ({"html_error_rate": 1.0}, True),
     ({"server_error_rate": 1.0}, False), ({"response_latency": (0.25, 0.25)}, True)],
    ids=["dropped", "html-502", "50001", "timeout"],
)
async def test_a_write_with_an_unknown_outcome_is_never_resent(
    okx_simulator_factory: SimulatorFactory, fault: dict[str, Any], executed: bool
) -> None:
    sim = await okx_simulator_factory(fault_endpoints=[ADJUST], **fault)
    async with client(sim, timeouts=Timeouts(total=0.1)) as writer:
        with pytest.raises(OkxUnknownOutcomeError) as caught:
            await writer.adjust_collateral("reduce", "BTC", Decimal("0.1"))
    async with client(sim) as okx:
        error = caught.value
        assert len(arrivals(sim, ADJUST)) == 1
        assert error.attempts == 1
        sent = b'{"type":"reduce","collateralCcy":"BTC","collateralAmt":"0.1"}'
        request = error.request
        assert (request.method, request.path, request.body) == ("POST", ADJUST, sent)
        assert TRADE_CREDENTIALS.secret_key not in repr(error.request) + str(error)
        # Reconciling, as docs/errors.md says: did the release make it into the history?
        newest = (await okx.loan_history(limit=1))[0]
    released = newest.type == "collateral_released" and newest.amt == Decimal("0.1")
    assert released is executed
    assert sim.accounts[DEMO_UID].order().collateral["BTC"] == Decimal("0.4" if executed else "0.5")


@pytest.mark.okx_virtual(orders=ONE_ORDER, response_latency=(0.3, 0.3))
async def test_a_write_in_flight_when_the_deadline_passes_has_an_unknown_outcome(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    async with in_process(sim, retry=RetryPolicy(deadline=0.15)) as okx:
        with pytest.raises(OkxUnknownOutcomeError) as caught:
            await okx.adjust_collateral("add", "BTC", "0.5")
        assert now() == 0.15
    assert isinstance(caught.value.__cause__, OkxTimeoutError)
    assert caught.value.attempts == 1
    assert len(arrivals(sim, ADJUST)) == 1
    assert sim.accounts[DEMO_UID].order().collateral["BTC"] == Decimal("1.0")  # it did execute


#: One adjust-collateral per 2 s, stricter than OKX's rule, so that one write of
#: another program is enough to spend the budget.
ONE_ADJUST = RateLimit(1, 2.0)


@pytest.mark.okx_virtual(orders=ONE_ORDER, rules={"adjust-collateral": (1, 2.0)})
async def test_a_write_answered_50011_is_resent(okx_virtual_simulator: Simulator) -> None:
    sim = okx_virtual_simulator
    rules = {ADJUST: ONE_ADJUST}
    # Another program of the same user spends the budget; OKX rejects ours with 50011.
    async with in_process(sim, limiter=MemoryLimiter(), rate_limits=rules) as other:
        await other.adjust_collateral("add", "BTC", "0.25")
    async with in_process(sim, limiter=MemoryLimiter(), rate_limits=rules) as okx:
        await okx.adjust_collateral("add", "BTC", "0.25")
    # Resent once the pause after the 50011 is over: a window and the margin.
    assert [(a.t, a.code) for a in sim.arrivals] == [(0.0, "0"), (0.0, "50011"), (COOL, "0")]
    assert sim.accounts[DEMO_UID].order().collateral["BTC"] == Decimal("1.0")


async def test_a_write_that_could_not_connect_is_resent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retry = RetryPolicy(max_attempts=4, base_delay=0.3, jitter=0.0)
    okx = OkxClient(TRADE_CREDENTIALS, base_url=f"http://127.0.0.1:{port}", user_id=DEMO_UID,
                    retry=retry)
    call = asyncio.ensure_future(okx.adjust_collateral("add", "ETH", "1"))
    await asyncio.sleep(0.1)  # the first attempt is refused: nothing listens yet
    assert not call.done()
    async with Simulator(port=port) as sim:
        await asyncio.wait_for(call, 5)
        await okx.aclose()
    assert [code for code, _ in arrivals(sim, ADJUST)] == ["0"]
    assert sim.accounts[DEMO_UID].order().collateral["ETH"] == Decimal("4.2")


async def test_iterators_walk_every_page_and_stop(okx_simulator: Simulator) -> None:
    async with client(okx_simulator) as okx:
        history = [e async for e in okx.iter_loan_history(page_size=10)]
        interest = [r async for r in okx.iter_interest_accrued("USDT", page_size=10)]
        released = [e async for e in okx.iter_loan_history("collateral_released")]
    assert len(history) == 32
    assert [e.ref_id for e in history] == sorted((e.ref_id for e in history), reverse=True)
    assert len(arrivals(okx_simulator, HISTORY)) == 5  # 10 + 10 + 10 + 2, then the filter
    assert len(interest) == 24
    assert len(arrivals(okx_simulator, LOAN + "interest-accrued")) == 3
    assert released == []
    assert not okx_simulator.rejections()


@pytest.mark.okx_virtual(orders=ONE_ORDER, response_latency=(0.2, 0.2))
async def test_a_cancelled_or_abandoned_iterator_leaks_no_slot(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    limiter = MemoryLimiter()
    key = LimitKey(DEMO_UID, HISTORY)
    timeout = 0.5

    async with in_process(sim, limiter=limiter, timeouts=Timeouts(total=timeout)) as okx:

        async def walk() -> None:
            async for _ in okx.iter_loan_history(page_size=5):
                pass

        walking = asyncio.ensure_future(walk())
        await asyncio.sleep(0.1)  # the first page is in flight
        budget = limiter.budget(key)
        assert budget is not None and budget.in_flight == 1
        walking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await walking
        assert budget.in_flight == 0

        async for _ in okx.iter_loan_history(page_size=5):
            break  # abandoned after the first page
        assert limiter.budget(key) is budget and budget.in_flight == 0
        # The cancelled request could still reach OKX until its timeout, so its slot is
        # held until then plus a window (tests/test_resilience.py checks that instant).
        # After that the budget serves a full burst again.
        await asyncio.sleep(3.0 - now())
        assert timeout + COOL < 3.0
        await asyncio.gather(*(okx.loan_history(limit=1) for _ in range(5)))
    times = [a.t for a in sim.arrivals if a.endpoint == HISTORY]
    assert times == [0.0, 0.1] + [3.0] * 5
    assert not sim.rejections()


@pytest.mark.okx_virtual(orders=ONE_ORDER, response_latency=(0.1, 0.1))
async def test_a_fan_out_on_one_endpoint_does_not_slow_loan_info(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    ccys = list(DEFAULT_AMOUNTS)[:30]
    async with in_process(sim) as okx:
        answered = asyncio.Event()
        fan_out = asyncio.ensure_future(
            okx.max_collateral_redeem_amounts(ccys, on_result=lambda _c, _r: answered.set())
        )
        await answered.wait()  # the first burst is answered, the rest queue
        started = now()
        orders = await okx.loan_info()
        assert now() - started == 0.1  # one round trip, no wait behind the fan-out
        assert not fan_out.done()
        results = await fan_out
    assert len(orders) == 1 and orders[0].cur_ltv > 0
    assert len(results) == 30
    assert not sim.rejections()


@pytest.mark.okx_virtual(orders=ONE_ORDER)
async def test_max_redeem_over_all_collateral(okx_virtual_simulator: Simulator) -> None:
    sim = okx_virtual_simulator
    async with in_process(sim) as okx:
        everything = await okx.max_collateral_redeem_amounts()
    held = [ccy for ccy, amount in DEFAULT_AMOUNTS.items() if amount != "0"]
    assert list(everything) == held
    assert everything["SHIB"] == MaxCollateralRedeemAmount("SHIB", Decimal(DEFAULT_AMOUNTS["SHIB"]))
    assert [a.endpoint for a in sim.arrivals].count(LOAN + "collateral-assets") == 1
    assert not sim.rejections()
