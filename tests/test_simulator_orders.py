"""The simulator's loan orders, borrow and repay, the clOrdId store and the write faults.

The first tests drive the request flow directly (no HTTP, a hand-driven clock); the
rest talk raw signed HTTP to a running simulator, independent of the client, with
short scaled windows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from raw import call, compact, send

from okx_async.simulator import DEMO_UID, TRADE_CREDENTIALS, Simulator
from okx_async.simulator._account import LoanAccount, OrderSeed, RefIds
from okx_async.simulator._answers import Answer, ok
from okx_async.simulator._demo import DEFAULT_AMOUNTS, initial_orders
from okx_async.simulator._faults import Fault, FaultPlan
from okx_async.simulator._flow import RequestFlow, path_rule, path_rules
from okx_async.simulator._idempotency import ClOrdIdStore
from okx_async.simulator.pytest_plugin import SimulatorFactory

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


# -- over HTTP: two orders, and none --------------------------------------------------

READS = ["loan-info", "loan-history", "interest-accrued"]


def demo_orders(sim: Simulator) -> tuple[str, str]:
    first, second = sim.account(DEMO_UID).orders
    return first, second


async def test_two_orders_every_endpoint_picks_the_right_one(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    sim = okx_simulator
    first, second = demo_orders(sim)
    redeem = LOAN + "max-collateral-redeem-amount?ccy=SOL"
    # Without ordId, the earliest order: SOL is the second order's.
    assert (await call(session, sim, "GET", redeem))[1]["data"] == [
        {"ccy": "SOL", "maxRedeemAmt": "0"}
    ]
    _, named = await call(session, sim, "GET", redeem + f"&ordId={second}")
    assert named["data"] == [{"ccy": "SOL", "maxRedeemAmt": "42.75"}]
    _, assets = await call(session, sim, "GET", LOAN + f"collateral-assets?ordId={second}")
    assert {a["ccy"] for a in assets["data"][0]["assets"]} >= {"SOL", "USDT"}
    _, loan = await call(session, sim, "POST", LOAN + "max-loan",
                         compact({"borrowCcy": "USDC", "ordId": second}))
    assert loan["data"][0]["remainingQuota"] == "999500"

    _, info = await call(session, sim, "GET", LOAN + f"loan-info?ordId={second}")
    assert [o["ordId"] for o in info["data"]] == [second]
    _, everything = await call(session, sim, "GET", LOAN + "loan-history")
    _, mine = await call(session, sim, "GET", LOAN + f"loan-history?ordId={second}")
    assert 0 < len(mine["data"]) < len(everything["data"])
    assert "ordId" not in mine["data"][0]  # OKX's records do not name their order
    assert {e["ccy"] for e in mine["data"]} >= {"SOL", "USDC"} and "BTC" not in {
        e["ccy"] for e in mine["data"]
    }
    _, interest = await call(session, sim, "GET", LOAN + f"interest-accrued?ordId={first}")
    assert {e["ccy"] for e in interest["data"]} == {"USDT"}

    # adjust-collateral acts on the earliest order, or on the one named.
    adjust = LOAN + "adjust-collateral"
    add = {"type": "add", "collateralCcy": "SOL", "collateralAmt": "1"}
    for body in (add, {**add, "ordId": second}):
        status, answer = await call(session, sim, "POST", adjust, compact(body),
                                    credentials=TRADE_CREDENTIALS)
        assert (status, answer["code"]) == (200, "0")
    orders = sim.accounts[DEMO_UID].orders
    assert (orders[first].collateral["SOL"], orders[second].collateral["SOL"]) == (
        Decimal(1), Decimal("43.75")
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "max-collateral-redeem-amount?ccy=BTC&ordId=7", b""),
        ("GET", "collateral-assets?ordId=7", b""),
        ("POST", "max-loan", b'{"borrowCcy":"USDT","ordId":"7"}'),
        ("POST", "adjust-collateral",
         b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1","ordId":"7"}'),
        ("GET", "loan-info?ordId=7", b""),
        ("GET", "loan-history?ordId=7", b""),
        ("GET", "interest-accrued?ordId=7", b""),
        ("POST", "borrow", b'{"ordId":"7","loanData":{"ccy":"USDT","amt":"1"},"clOrdId":"k"}'),
        ("POST", "repay", b'{"ordId":"7","ccy":"USDT","amt":"1","clOrdId":"k"}'),
    ],
)
async def test_an_unknown_order_is_51063_everywhere(
    okx_simulator: Simulator, session: aiohttp.ClientSession, method: str, path: str,
    body: bytes,
) -> None:
    status, answer = await call(session, okx_simulator, method, LOAN + path, body,
                                credentials=TRADE_CREDENTIALS)
    assert (status, answer["code"], answer["data"]) == (200, "51063", [])


async def test_no_order_means_empty_data_and_51063_for_adjust_collateral(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(orders=[])
    for method, path, body in [
        ("GET", "max-collateral-redeem-amount?ccy=BTC", b""),
        ("GET", "collateral-assets", b""),
        ("POST", "max-loan", b'{"borrowCcy":"USDT"}'),
        *(("GET", read, b"") for read in READS),
    ]:
        assert await call(session, sim, method, LOAN + path, body) == (
            200, {"code": "0", "msg": "", "data": []}
        ), path
    body = b'{"type":"add","collateralCcy":"BTC","collateralAmt":"1"}'
    status, answer = await call(session, sim, "POST", LOAN + "adjust-collateral", body,
                                credentials=TRADE_CREDENTIALS)
    assert (status, answer["code"]) == (200, "51063")


# -- over HTTP: borrow and repay ------------------------------------------------------


def borrow_body(key: str, ccy: str = "USDT", amt: str = "100", **more: object) -> bytes:
    return compact({"loanData": {"ccy": ccy, "amt": amt}, "clOrdId": key, **more})


async def test_borrow_opens_and_adds_to_an_order_and_a_full_repay_closes_it(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(orders=[], window=0.1)
    trade = {"credentials": TRADE_CREDENTIALS}
    borrow, repay = LOAN + "borrow", LOAN + "repay"
    body = borrow_body("open1", collateralData=[{"ccy": "BTC", "amt": "0.1"}])
    status, opened = await call(session, sim, "POST", borrow, body, **trade)
    assert status == 200 and opened["code"] == "0"
    [answer] = opened["data"]
    ord_id = answer["ordId"]
    assert answer == {"ordId": ord_id, "eMode": "0", "clOrdId": "open1"}
    await asyncio.sleep(0.1)
    more = borrow_body("more1", amt="50", ordId=ord_id)
    assert (await call(session, sim, "POST", borrow, more, **trade))[1]["data"] == [
        {"ordId": ord_id, "eMode": "0", "clOrdId": "more1"}
    ]
    _, info = await call(session, sim, "GET", LOAN + "loan-info")
    [order] = info["data"]
    assert order["loanData"] == [{"ccy": "USDT", "amt": "150"}]
    assert order["riskWarningData"]["instId"] == "BTC-USDT"

    part = compact({"ordId": ord_id, "ccy": "USDT", "amt": "50.0", "clOrdId": "r1"})
    _, repaid = await call(session, sim, "POST", repay, part, **trade)
    assert repaid["data"] == [{"ordId": ord_id, "ccy": "USDT", "amt": "50.0", "clOrdId": "r1"}]
    await asyncio.sleep(0.1)
    rest = compact({"ordId": ord_id, "ccy": "USDT", "amt": "100", "clOrdId": "r2"})
    assert (await call(session, sim, "POST", repay, rest, **trade))[1]["code"] == "0"
    assert (await call(session, sim, "GET", LOAN + "loan-info"))[1]["data"] == []
    _, history = await call(session, sim, "GET", LOAN + f"loan-history?ordId={ord_id}")
    assert [(e["type"], e["ccy"], e["amt"]) for e in history["data"]] == [
        ("collateral_released", "BTC", "0.1"), ("repaid", "USDT", "-100"),
        ("repaid", "USDT", "-50"), ("borrowed", "USDT", "50"),
        ("borrowed", "USDT", "100"), ("collateral_locked", "BTC", "-0.1"),
    ]
    account = sim.accounts[DEMO_UID]
    assert list(account.closed) == [ord_id]
    assert sorted(account.applied.items()) == [
        (("borrow", "more1"), 1), (("borrow", "open1"), 1), (("repay", "r1"), 1),
        (("repay", "r2"), 1),
    ]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("borrow", borrow_body("k"), "51000"),  # no collateral to open an order
        ("borrow", borrow_body("k", collateralData=[]), "51000"),
        ("borrow", borrow_body("k", collateralData=[{"ccy": c, "amt": "1"} for c in (
            "BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "TRX", "TON", "DOT", "LTC", "BCH")]),
         "51000"),
        ("borrow", borrow_body("k", amt="-1", collateralData=[{"ccy": "BTC", "amt": "1"}]),
         "51000"),
        ("borrow", borrow_body("k", collateralData=[{"ccy": "BTC", "amt": 1}]), "51000"),
        ("borrow", borrow_body("k", amt="100000",
                               collateralData=[{"ccy": "BTC", "amt": "1"}]), "51000"),
        ("borrow", borrow_body("k", eMode="2", collateralData=[{"ccy": "BTC", "amt": "1"}]),
         "51000"),
        ("borrow", borrow_body("k", ordId="1", eMode="0"), "50024"),
        ("borrow", borrow_body("k", collateralData=[{"ccy": "USDT", "amt": "9"}]), "51750"),
        ("borrow", borrow_body("k", ccy="DOGE", collateralData=[{"ccy": "BTC", "amt": "1"}]),
         "51751"),
        ("borrow", borrow_body("k", collateralData=[{"ccy": "NOPE", "amt": "1"}]), "51752"),
        ("borrow", borrow_body("", collateralData=[{"ccy": "BTC", "amt": "1"}]), "51000"),
        ("borrow", borrow_body("k" * 33, collateralData=[{"ccy": "BTC", "amt": "1"}]),
         "51000"),
        ("repay", compact({"ordId": "FIRST", "ccy": "USDC", "amt": "1", "clOrdId": "k"}),
         "51000"),
        ("repay", compact({"ordId": "FIRST", "ccy": "USDT", "amt": "1000.01", "clOrdId": "k"}),
         "51000"),
        ("repay", compact({"ordId": "FIRST", "ccy": "USDT", "amt": "1"}), "51000"),
    ],
)
async def test_borrow_and_repay_check_their_parameters(
    okx_simulator: Simulator, session: aiohttp.ClientSession, path: str, body: bytes,
    code: str,
) -> None:
    first, _ = demo_orders(okx_simulator)
    body = body.replace(b"FIRST", first.encode())
    before = [e.ref_id for e in okx_simulator.accounts[DEMO_UID].history]
    _, answer = await call(session, okx_simulator, "POST", LOAN + path, body,
                           credentials=TRADE_CREDENTIALS)
    assert answer["code"] == code
    account = okx_simulator.accounts[DEMO_UID]
    assert [e.ref_id for e in account.history] == before and not account.applied


async def test_borrow_and_repay_need_the_trade_permission(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    first, _ = demo_orders(okx_simulator)
    body = borrow_body("k", ordId=first)
    assert await call(session, okx_simulator, "POST", LOAN + "borrow", body) == (200, {
        "code": "50120", "msg": "This API key doesn't have permission to use this function",
        "data": [],
    })


async def test_a_duplicate_clordid_is_51016_per_user_and_path(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    sim = okx_simulator
    first, _ = demo_orders(sim)
    trade = {"credentials": TRADE_CREDENTIALS}
    body = borrow_body("same", ordId=first)
    assert (await call(session, sim, "POST", LOAN + "borrow", body, **trade))[1]["code"] == "0"
    status, again = await call(session, sim, "POST", LOAN + "borrow", body, **trade)
    assert (status, again) == (200, {"code": "51016", "msg": "Client order ID already exists.",
                                     "data": []})
    repay = compact({"ordId": first, "ccy": "USDT", "amt": "1", "clOrdId": "same"})
    assert (await call(session, sim, "POST", LOAN + "repay", repay, **trade))[1]["code"] == "0"
    assert sim.accounts[DEMO_UID].applied == {("borrow", "same"): 1, ("repay", "same"): 1}
    assert sim.accounts[DEMO_UID].orders[first].loans["USDT"] == Decimal("1099")


# -- over HTTP: limits ----------------------------------------------------------------


async def test_borrow_and_repay_allow_two_per_window_the_reads_five(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(window=0.25)
    first, _ = demo_orders(sim)
    trade = {"credentials": TRADE_CREDENTIALS}
    repays = [compact({"ordId": first, "ccy": "USDT", "amt": "1", "clOrdId": f"r{i}"})
              for i in range(3)]
    replies = await asyncio.gather(
        *(call(session, sim, "POST", LOAN + "repay", body, **trade) for body in repays),
        *(call(session, sim, "GET", LOAN + "loan-info") for _ in range(5)),
    )
    assert sorted(status for status, _ in replies[:3]) == [200, 200, 429]
    assert [status for status, _ in replies[3:]] == [200] * 5
    assert [a.endpoint for a in sim.rejections()] == [LOAN + "repay"]
    # What was throttled did not claim its key: sent again later, it executes.
    await asyncio.sleep(0.25)
    [throttled] = [body for body, (status, _) in zip(repays, replies, strict=False)
                   if status == 429]
    assert (await call(session, sim, "POST", LOAN + "repay", throttled, **trade))[1]["code"] == "0"
    assert sum(sim.accounts[DEMO_UID].applied.values()) == 3


async def test_rules_set_a_path_exactly(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(window=0.2, rules={"loan-info": (1, 60.0)})
    replies = await asyncio.gather(
        *(call(session, sim, "GET", LOAN + "loan-info") for _ in range(2))
    )
    assert sorted(status for status, _ in replies) == [200, 429]
    with pytest.raises(ValueError, match="unknown endpoint"):
        Simulator(faults={"borow": ["drop"]})


# -- over HTTP: write faults, each applied exactly once ------------------------------


async def test_a_dropped_borrow_executed_once_and_its_resend_is_51016(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(orders=[], faults={"borrow": ["drop"]})
    body = borrow_body("lost", collateralData=[{"ccy": "ETH", "amt": "1"}])
    with pytest.raises(aiohttp.ClientError):
        await send(session, sim, "POST", LOAN + "borrow", body, credentials=TRADE_CREDENTIALS)
    assert sim.pending_faults() == {}
    _, again = await call(session, sim, "POST", LOAN + "borrow", body,
                          credentials=TRADE_CREDENTIALS)
    assert again["code"] == "51016"
    account = sim.accounts[DEMO_UID]
    assert account.applied == {("borrow", "lost"): 1} and len(account.orders) == 1
    assert [a.code for a in sim.arrivals] == ["", "51016"]


async def test_a_held_repay_is_51784_while_in_flight_then_51016(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(faults={"repay": [Fault(hold=0.3)]}, window=0.1)
    first, _ = demo_orders(sim)
    body = compact({"ordId": first, "ccy": "USDT", "amt": "10", "clOrdId": "slow"})
    trade = {"credentials": TRADE_CREDENTIALS}
    held = asyncio.create_task(call(session, sim, "POST", LOAN + "repay", body, **trade))
    await asyncio.sleep(0.15)
    assert (await call(session, sim, "POST", LOAN + "repay", body, **trade))[1]["code"] == (
        "51784"
    )
    assert sim.accounts[DEMO_UID].orders[first].loans["USDT"] == Decimal(1000)
    assert (await held)[1]["code"] == "0"
    await asyncio.sleep(0.1)
    assert (await call(session, sim, "POST", LOAN + "repay", body, **trade))[1]["code"] == (
        "51016"
    )
    account = sim.accounts[DEMO_UID]
    assert account.applied == {("repay", "slow"): 1}
    assert account.orders[first].loans["USDT"] == Decimal(990)


async def test_a_garbled_adjust_collateral_executed_once(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(faults={"adjust-collateral": ["garbled"]})
    body = compact({"type": "add", "collateralCcy": "BTC", "collateralAmt": "0.25"})
    status, raw = await send(session, sim, "POST", LOAN + "adjust-collateral", body,
                             credentials=TRADE_CREDENTIALS)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)
    assert sim.accounts[DEMO_UID].order().collateral["BTC"] == Decimal("0.75")
    locks = [e for e in sim.accounts[DEMO_UID].history if e.amt == Decimal("-0.25")]
    assert len(locks) == 1


async def test_past_the_retention_a_resend_executes_again(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(cl_ord_id_retention=0.2, window=0.05)
    first, _ = demo_orders(sim)
    body = borrow_body("twice", ordId=first)
    trade = {"credentials": TRADE_CREDENTIALS}
    assert (await call(session, sim, "POST", LOAN + "borrow", body, **trade))[1]["code"] == "0"
    await asyncio.sleep(0.25)
    assert (await call(session, sim, "POST", LOAN + "borrow", body, **trade))[1]["code"] == "0"
    assert sim.accounts[DEMO_UID].applied == {("borrow", "twice"): 2}
