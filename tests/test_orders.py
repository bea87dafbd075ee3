"""Loan orders and exactly-once writes, against the simulator.

Over loopback HTTP with the rules scaled down, except where the rule or a timeout
is what is tested: those run in-process on virtual time at OKX's real rules.

The simulator follows OKX's current pages: an account holds loan orders, borrow and
repay carry a ``clOrdId`` kept 60 s (51016 for a completed duplicate, 51784 for one
in flight), and the write faults apply a request before losing or garbling its answer.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from schedule import full_speed

from okx_async import (
    Borrowed,
    LoanOrder,
    OkxClient,
    OkxNoOrderError,
    OkxParameterError,
    OkxUnknownOutcomeError,
    RateLimit,
    Repaid,
    RetryPolicy,
    Timeouts,
)
from okx_async.simulator import DEMO_UID, TRADE_CREDENTIALS, Fault, OrderSeed, Simulator
from okx_async.simulator.pytest_plugin import SimulatorFactory

LOAN = "/api/v5/finance/flexible-loan/"
BORROW, REPAY, ADJUST = LOAN + "borrow", LOAN + "repay", LOAN + "adjust-collateral"
SHORT = 0.3
#: Every limit scaled down so the tests run fast; the writes keep OKX's 2 per window.
SCALED = {
    "limit": 5, "window": SHORT,
    "rules": {"borrow": (2, SHORT), "repay": (2, SHORT)},
}
CLIENT_RULES = {
    **{LOAN + name: RateLimit(5, SHORT) for name in (
        "borrow-currencies", "collateral-assets", "max-loan", "max-collateral-redeem-amount",
        "adjust-collateral", "loan-info", "loan-history", "interest-accrued")},
    BORROW: RateLimit(2, SHORT), REPAY: RateLimit(2, SHORT),
}
TWO_ORDERS = [
    OrderSeed({"BTC": "0.5", "ETH": "2"}, {"USDT": "1000"}),
    OrderSeed({"SOL": "100"}, {"USDC": "3000"}),
]
RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)


def client(sim_url: str, **options: object) -> OkxClient:
    options.setdefault("rate_limits", CLIENT_RULES)
    options.setdefault("retry", RETRY)
    return OkxClient(TRADE_CREDENTIALS, base_url=sim_url, user_id=DEMO_UID, **options)  # type: ignore[arg-type]


def applied(sim: object, write: str) -> list[int]:
    """How many times each keyed write of this kind executed, per clOrdId."""
    account = sim.accounts[DEMO_UID]  # type: ignore[attr-defined]
    return [n for (kind, _key), n in account.applied.items() if kind == write]


# Two orders, and none --------------------------------------------------------------


async def test_every_read_sees_two_orders(okx_simulator_factory: SimulatorFactory) -> None:
    sim = await okx_simulator_factory(orders=TWO_ORDERS, **SCALED)
    async with client(sim.base_url) as okx:
        orders = await okx.loan_info()
        first, second = (o.ord_id for o in orders)
        assert [(o.loan_data[0].ccy, [c.ccy for c in o.collateral_data]) for o in orders] == [
            ("USDT", ["BTC", "ETH"]), ("USDC", ["SOL"])
        ]
        assert all(isinstance(o, LoanOrder) for o in orders)
        assert await okx.loan_info(ord_id=second) == [orders[1]]
        # Without ord_id, the acting reads use the earliest order.
        earliest = await okx.max_collateral_redeem_amount("BTC")
        assert earliest is not None and earliest.max_redeem_amt > 0
        sol = await okx.max_collateral_redeem_amount("SOL", ord_id=second)
        assert sol is not None and sol.ccy == "SOL" and sol.max_redeem_amt > 0
        assert [a.ccy for a in await okx.collateral_assets()] == ["BTC", "ETH"]
        assert [a.ccy for a in await okx.collateral_assets(ord_id=second)] == ["SOL"]
        usdc = await okx.max_loan("USDC", ord_id=second)
        assert usdc is not None and usdc.borrow_ccy == "USDC"
        history = await okx.loan_history(ord_id=second)
        assert {e.ccy for e in history} >= {"SOL", "USDC"}
        assert await okx.interest_accrued(ord_id=first)
        with pytest.raises(OkxNoOrderError):
            await okx.loan_info(ord_id="999")


async def test_no_order_is_an_ordinary_answer(okx_simulator_factory: SimulatorFactory) -> None:
    sim = await okx_simulator_factory(orders=[], **SCALED)
    async with client(sim.base_url) as okx:
        assert await okx.loan_info() == []
        assert await okx.max_collateral_redeem_amount("BTC") is None
        assert await okx.max_collateral_redeem_amounts(["BTC", "ETH"]) == {
            "BTC": None, "ETH": None
        }
        assert await okx.max_collateral_redeem_amounts_by_order() == {}
        assert await okx.max_loan("USDT") is None
        assert await okx.collateral_assets() == []
        assert await okx.loan_history() == []
        assert await okx.interest_accrued() == []
        with pytest.raises(OkxNoOrderError) as caught:
            await okx.adjust_collateral("add", "BTC", "0.1")
    assert caught.value.code == "51063"


async def test_the_whole_account_spans_every_order(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(orders=TWO_ORDERS, **SCALED)
    async with client(sim.base_url) as okx:
        first, second = (o.ord_id for o in await okx.loan_info())
        everything = await okx.max_collateral_redeem_amounts_by_order()
        assert list(everything) == [(first, "BTC"), (first, "ETH"), (second, "SOL")]
        # The second order's amounts are that order's, not the earliest's.
        alone = await okx.max_collateral_redeem_amount("SOL", ord_id=second)
        assert everything[second, "SOL"] == alone
        assert everything[second, "SOL"].max_redeem_amt > 0
    assert not sim.rejections()


async def test_history_of_a_type_okx_added_later_is_asked_and_decoded(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(**SCALED)
    async with client(sim.base_url) as okx:
        assert await okx.loan_history("sell_collateral") == []
        # Not refused before sending: OKX adds types, and only OKX knows its list.
        with pytest.raises(OkxParameterError):
            await okx.loan_history("a_type_from_next_year")
    assert [a.endpoint for a in sim.arrivals] == [LOAN + "loan-history"] * 2


# Borrow and repay ------------------------------------------------------------------


async def test_borrow_opens_an_order_and_repay_closes_it(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(orders=[], **SCALED)
    async with client(sim.base_url) as okx:
        opened = await okx.borrow("USDT", Decimal("100"), collateral={"BTC": "0.01"})
        assert isinstance(opened, Borrowed) and opened.ord_id and not opened.e_mode
        assert len(opened.cl_ord_id) == 32 and opened.cl_ord_id.isalnum()
        assert not opened.confirmed_by_duplicate
        more = await okx.borrow("USDT", "50", ord_id=opened.ord_id, cl_ord_id="my-borrow-2")
        assert (more.ord_id, more.cl_ord_id) == (opened.ord_id, "my-borrow-2")
        (order,) = await okx.loan_info()
        assert order.loan_data[0].amt == Decimal("150")
        repaid = await okx.repay(opened.ord_id, "USDT", Decimal("150"))
        assert repaid == Repaid(opened.ord_id, "USDT", Decimal("150"), repaid.cl_ord_id)
        assert await okx.loan_info() == []
    assert applied(sim, "borrow") == [1, 1] and applied(sim, "repay") == [1]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda okx: okx.borrow("USDT", "1"), ValueError),  # no collateral to open with
        (lambda okx: okx.borrow("USDT", "1", collateral={f"C{i}": "1" for i in range(11)}),
         ValueError),
        (lambda okx: okx.borrow("USDT", "1", ord_id="1", e_mode=True), ValueError),
        (lambda okx: okx.borrow("USDT", 1.5, collateral={"BTC": "1"}), TypeError),
        (lambda okx: okx.borrow("USDT", "-1", collateral={"BTC": "1"}), ValueError),
        (lambda okx: okx.borrow("USDT", "1", collateral={"BTC": 0.1}), TypeError),
        (lambda okx: okx.borrow("USDT", "1", collateral={"BTC": "1"}, cl_ord_id="x" * 33),
         ValueError),
        (lambda okx: okx.borrow("USDT", "1", collateral={"BTC": "1"}, e_mode=1), TypeError),
        (lambda okx: okx.repay("1", "USDT", "0"), ValueError),
        (lambda okx: okx.repay("not-an-id", "USDT", "1"), ValueError),
        (lambda okx: okx.repay("1", "USDT", Decimal("NaN")), ValueError),
    ],
)
async def test_bad_writes_are_refused_before_sending(
    okx_simulator_factory: SimulatorFactory, call: object, error: type[Exception]
) -> None:
    sim = await okx_simulator_factory(**SCALED)
    async with client(sim.base_url) as okx:
        with pytest.raises(error):
            await call(okx)  # type: ignore[operator]
    assert sim.arrivals == []


@pytest.mark.okx_virtual
async def test_six_concurrent_repays_queue_within_two_per_window(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(TRADE_CREDENTIALS, user_id=DEMO_UID, retry=RETRY) as okx:
        (order, _second) = await okx.loan_info()
        repaid = await asyncio.gather(*(
            okx.repay(order.ord_id, "USDT", "1") for _ in range(6)
        ))
    assert len({r.cl_ord_id for r in repaid}) == 6
    assert not sim.rejections()
    assert applied(sim, "repay") == [1] * 6
    # OKX's 2 per 2 s: two at once, then two more each time the slots come back.
    assert [a.t for a in sim.arrivals if a.endpoint == REPAY] == full_speed(6, RateLimit(2, 2.0))


# Exactly once through the write faults ---------------------------------------------


@pytest.mark.parametrize("write", ["borrow", "repay"])
async def test_a_write_whose_answer_is_lost_is_resent_and_applied_once(
    okx_simulator_factory: SimulatorFactory, write: str
) -> None:
    sim = await okx_simulator_factory(**SCALED, faults={write: ["drop"]})
    async with client(sim.base_url) as okx:
        (order, _second) = await okx.loan_info()
        result: Borrowed | Repaid
        if write == "borrow":
            result = await okx.borrow("USDT", "10", ord_id=order.ord_id)
        else:
            result = await okx.repay(order.ord_id, "USDT", "10")
    assert result.confirmed_by_duplicate
    assert result.ord_id == order.ord_id  # known: it was sent
    sent = [a for a in sim.arrivals if a.endpoint == LOAN + write]
    assert [a.code for a in sent] == ["", "51016"]
    assert sent[0].body == sent[1].body  # the same clOrdId, byte for byte
    assert applied(sim, write) == [1]
    assert sim.pending_faults() == {}


async def test_a_new_orders_id_lost_with_its_answer_is_said_to_be_lost(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(orders=[], **SCALED, faults={"borrow": ["drop"]})
    async with client(sim.base_url) as okx:
        opened = await okx.borrow("USDT", "10", collateral={"BTC": "0.01"})
        assert opened.confirmed_by_duplicate and opened.ord_id is None
        (order,) = await okx.loan_info()  # where to find it
    assert applied(sim, "borrow") == [1]
    assert order.loan_data[0].amt == Decimal("10")


@pytest.mark.okx_virtual(faults={"repay": [Fault(hold=6.0)]})
async def test_a_write_held_past_the_timeout_meets_in_flight_then_done(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    retry = RetryPolicy(base_delay=0.5, max_delay=2.0, max_attempts=8)
    async with sim.client(TRADE_CREDENTIALS, user_id=DEMO_UID, retry=retry,
                          timeouts=Timeouts(total=2.5)) as okx:
        (order, _second) = await okx.loan_info()
        repaid = await okx.repay(order.ord_id, "USDT", "5")
    assert repaid.confirmed_by_duplicate
    repays = sorted((a for a in sim.arrivals if a.endpoint == REPAY), key=lambda a: a.t)
    # The first is held 6 s: every resend before then meets it in flight (51784), the
    # first one after finds it done (51016); it executed once.
    assert len(repays) > 2
    assert [a.code for a in repays] == ["0", *["51784"] * (len(repays) - 2), "51016"]
    assert repays[-2].t < 6.0 <= repays[-1].t
    assert applied(sim, "repay") == [1]


async def test_adjust_collateral_answered_with_garbage_has_an_unknown_outcome(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(**SCALED, faults={"adjust-collateral": ["garbled"]})
    async with client(sim.base_url) as okx:
        with pytest.raises(OkxUnknownOutcomeError) as caught:
            await okx.adjust_collateral("add", "BTC", "0.1")
    assert [a.endpoint for a in sim.arrivals] == [ADJUST]  # never resent
    assert caught.value.cl_ord_id is None
    assert caught.value.__cause__ is not None
    assert getattr(caught.value.__cause__, "http_status", None) == 200
