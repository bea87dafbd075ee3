"""The simulator's loan orders, borrow and repay, the clOrdId store and the write faults.

The first tests drive the request flow directly (no HTTP, a hand-driven clock); the
rest talk raw signed HTTP to a running simulator, independent of the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from okx_async.simulator._account import LoanAccount, OrderSeed, RefIds
from okx_async.simulator._answers import Answer, ok
from okx_async.simulator._demo import DEFAULT_AMOUNTS, initial_orders
from okx_async.simulator._faults import Fault, FaultPlan
from okx_async.simulator._flow import RequestFlow, path_rule, path_rules
from okx_async.simulator._idempotency import ClOrdIdStore

LOAN = "/api/v5/finance/flexible-loan/"
BORROW = LOAN + "borrow"
REPAY = LOAN + "repay"


# -- the fault plan ----------------------------------------------------------------


def test_a_script_fires_once_per_request_in_order_then_nothing() -> None:
    plan = FaultPlan(scripts={"borrow": ["drop", None, Fault("garbled", hold=0.5)],
                              REPAY: ["busy"]})
    assert plan.pending() == {BORROW: 3, REPAY: 1}
    assert [plan.next(BORROW) for _ in range(4)] == [
        Fault("drop"), Fault(), Fault("garbled", hold=0.5), Fault(),
    ]
    assert plan.next(LOAN + "loan-info") == Fault()
    assert plan.pending() == {REPAY: 1}


def test_a_script_goes_before_the_random_rates() -> None:
    import random

    plan = FaultPlan(scripts={"repay": ["pass"]}, rates=[(1.0, "html")], rng=random.Random(1))
    assert plan.next(REPAY) == Fault()
    assert plan.next(REPAY) == Fault("html")
    only = FaultPlan(rates=[(1.0, "server-error")], endpoints=[BORROW])
    assert (only.next(BORROW), only.next(REPAY)) == (Fault("server-error"), Fault())


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"scripts": {"borow": ["drop"]}, "known": [BORROW]}, ValueError),
        ({"scripts": {"borrow": "drop"}}, TypeError),
        ({"scripts": {"borrow": ["explode"]}}, ValueError),
        ({"scripts": {"borrow": [3]}}, ValueError),
    ],
)
def test_a_bad_script_fails_at_once(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        FaultPlan(**options)
    with pytest.raises(ValueError):
        Fault(hold=-1.0)
    with pytest.raises(ValueError, match="cannot hold"):
        Fault("busy", hold=1.0)


def test_rules_borrow_and_repay_keep_two_per_window() -> None:
    assert path_rule(BORROW, 5, 0.2, {}) == (2, 0.2)
    assert path_rule(REPAY, 1, 60.0, {}) == (2, 60.0)
    assert path_rule(LOAN + "loan-info", 5, 0.2, {}) == (5, 0.2)
    rules = path_rules({"repay": (3, 1.0), LOAN + "loan-info": (1, 9.0)})
    assert path_rule(REPAY, 5, 0.2, rules) == (3, 1.0)
    assert path_rule(LOAN + "loan-info", 5, 0.2, rules) == (1, 9.0)
    with pytest.raises(ValueError):
        path_rules({"borrow": (0, 1.0)})


# -- the request flow, on a hand-driven clock ---------------------------------------


class Held:
    """A sleep that returns when the test says so, and a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waiting: list[asyncio.Future[None]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        await future

    def release(self) -> None:
        for future in self.waiting:
            future.set_result(None)
        self.waiting.clear()


def counting(answer: Answer) -> tuple[list[int], Callable[[], Answer]]:
    runs: list[int] = []

    def execute() -> Answer:
        runs.append(1)
        return answer

    return runs, execute


def code(answer: Answer) -> str:
    """The OKX code in an answer's body; "" for a body that is not JSON."""
    try:
        return str(json.loads(answer.body)["code"])
    except ValueError:
        return ""


async def test_a_held_write_is_in_flight_then_done_and_runs_once() -> None:
    held = Held()
    flow = RequestFlow(FaultPlan(scripts={"borrow": [Fault(hold=5.0)]}), ClOrdIdStore(60.0),
                       clock=held.clock, sleep=held.sleep)
    runs, execute = counting(ok([{"ordId": "1"}]))
    body = {"clOrdId": "k1"}
    first = asyncio.create_task(flow.answer("u", BORROW, body, execute))
    await asyncio.sleep(0)
    held.now = 3.0
    assert code(await flow.answer("u", BORROW, body, execute)) == "51784"
    assert runs == []
    held.release()
    assert code(await first) == "0"
    held.now = 59.0
    assert code(await flow.answer("u", BORROW, body, execute)) == "51016"
    # Another user, or the other path, has keys of its own.
    assert code(await flow.answer("v", BORROW, body, execute)) == "0"
    assert code(await flow.answer("u", REPAY, body, execute)) == "0"
    assert len(runs) == 3
    # 60 s after the first request the key is free: a resend executes again.
    held.now = 60.0
    assert code(await flow.answer("u", BORROW, body, execute)) == "0"
    assert len(runs) == 4


async def test_after_faults_execute_before_faults_do_not() -> None:
    held = Held()
    plan = FaultPlan(scripts={"borrow": ["drop", "garbled", "html", "server-error", "busy"]})
    flow = RequestFlow(plan, ClOrdIdStore(60.0), clock=held.clock, sleep=held.sleep)
    runs, execute = counting(ok([]))
    answers = [await flow.answer("u", BORROW, {"clOrdId": f"k{i}"}, execute) for i in range(5)]
    assert len(runs) == 3
    assert [a.status for a in answers] == [0, 200, 502, 503, 429]
    assert answers[1].body and code(answers[1]) == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(answers[1].body)
    # The dropped, garbled and 502 requests executed: their keys answer 51016 now.
    replays = [await flow.answer("u", BORROW, {"clOrdId": f"k{i}"}, execute) for i in range(5)]
    assert [code(a) for a in replays] == ["51016", "51016", "51016", "0", "0"]


async def test_a_refused_write_frees_its_key_and_a_cancelled_hold_never_runs() -> None:
    held = Held()
    flow = RequestFlow(FaultPlan(scripts={"repay": [None, Fault(hold=1.0)]}),
                       ClOrdIdStore(60.0), clock=held.clock, sleep=held.sleep)
    refused = Answer(400, "51000", b'{"code":"51000","msg":"Parameter amt error","data":[]}')
    _, refuse = counting(refused)
    assert code(await flow.answer("u", REPAY, {"clOrdId": "k"}, refuse)) == "51000"
    runs, execute = counting(ok([]))
    task = asyncio.create_task(flow.answer("u", REPAY, {"clOrdId": "k"}, execute))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == []
    assert code(await flow.answer("u", REPAY, {"clOrdId": "k"}, execute)) == "0"
    assert runs == [1]


# -- the orders a new user starts with -----------------------------------------------


def test_the_demo_account_splits_the_default_amounts_over_two_orders() -> None:
    first, second = initial_orders(DEFAULT_AMOUNTS, None, None)
    assert (dict(first.loans), dict(second.loans)) == ({"USDT": "1000"}, {"USDC": "500"})
    assert {**first.collateral, **second.collateral} == dict(DEFAULT_AMOUNTS)
    assert not first.collateral.keys() & second.collateral.keys()
    # An order cannot hold its own loan currency as collateral.
    assert "USDT" not in first.collateral and "USDC" not in second.collateral
    # Each order is far from its limit: every currency is redeemable in full.
    for seed in (first, second):
        order = LoanAccount({}, {}, RefIds(), 0, orders=[seed]).order()
        for ccy, amt in seed.collateral.items():
            assert order.max_redeem(ccy) == Decimal(amt)


def test_the_options_pick_the_orders() -> None:
    seeds = [OrderSeed({"BTC": "1"}, {"USDT": "10"})] * 3
    assert initial_orders(DEFAULT_AMOUNTS, None, seeds) == tuple(seeds)
    assert initial_orders(DEFAULT_AMOUNTS, None, []) == ()
    assert initial_orders({"BTC": "1"}, None, None) == (OrderSeed({"BTC": "1"}),)
    assert initial_orders({"BTC": "1"}, {"USDT": "5"}, None) == (
        OrderSeed({"BTC": "1"}, {"USDT": "5"}),
    )
    assert initial_orders(lambda ccy: "1", None, None) == ()
