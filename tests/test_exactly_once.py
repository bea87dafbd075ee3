"""Keyed writes are executed at most once, and their outcome is never misreported.

On the virtual-time loop against the in-process simulator, at OKX's real rules and
its real 60 s ``clOrdId`` retention: a lost answer, a request held in flight past
the client's timeout, the call's deadline, a resend that could only leave after OKX
forgets the key, and random mixtures of all of them.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest

from okx_async import (
    Borrowed,
    OkxClientClosedError,
    OkxError,
    OkxUnknownOutcomeError,
    RateLimit,
    Repaid,
    RetryPolicy,
    Timeouts,
)
from okx_async.simulator import DEMO_UID, TRADE_CREDENTIALS, Fault, Simulator, run_virtual
from okx_async.simulator._faults import FaultKind

LOAN = "/api/v5/finance/flexible-loan/"
BORROW, REPAY = LOAN + "borrow", LOAN + "repay"
T = TypeVar("T")


def applied(sim: Simulator, write: str) -> dict[str, int]:
    """How many times each keyed write of this kind executed, by clOrdId."""
    return {key: n for (kind, key), n in sim.account(DEMO_UID).applied.items() if kind == write}


def sent(sim: Simulator, path: str) -> list[tuple[float, str, dict[str, object]]]:
    return [(a.t, a.code, json.loads(a.body)) for a in sim.arrivals if a.endpoint == path]


def test_a_resend_that_could_only_leave_after_okx_forgets_the_key_is_not_sent() -> None:
    async def scenario(sim: Simulator) -> tuple[OkxUnknownOutcomeError, float]:
        loop = asyncio.get_running_loop()
        # One borrow per 120 s for this client: after the lost answer, the resend's slot
        # frees long after the key's 60 s.
        async with sim.client(TRADE_CREDENTIALS, rate_limits={BORROW: RateLimit(1, 120)}) as okx:
            (order, _) = await okx.loan_info()
            with pytest.raises(OkxUnknownOutcomeError) as caught:
                await okx.borrow("USDT", "10", ord_id=order.ord_id, cl_ord_id="once")
        return caught.value, loop.time()

    error, ended = run_virtual(checked(scenario, one_lost_borrow), faults={"borrow": ["drop"]})
    assert error.cl_ord_id == "once"
    # Given up when the slot could not come before 60 s less the margin after the send.
    assert ended == pytest.approx(50.0, abs=0.01)


def one_lost_borrow(sim: Simulator) -> None:
    """Only the first borrow went out (its answer lost), and it executed once."""
    assert [code for _t, code, _body in sent(sim, BORROW)] == [""]
    assert applied(sim, "borrow") == {"once": 1}


def test_a_resend_due_after_the_cut_off_is_not_made_at_all() -> None:
    async def scenario(sim: Simulator) -> float:
        loop = asyncio.get_running_loop()
        slow = RetryPolicy(base_delay=60.0, max_delay=60.0, jitter=0.0)
        async with sim.client(TRADE_CREDENTIALS, retry=slow) as okx:
            (order, _) = await okx.loan_info()
            with pytest.raises(OkxUnknownOutcomeError):
                await okx.borrow("USDT", "10", ord_id=order.ord_id, cl_ord_id="once")
        return loop.time()

    ended = run_virtual(checked(scenario, one_lost_borrow), faults={"borrow": ["drop"]})
    assert ended < 1.0  # decided at once: a resend 60 s later could execute twice


def test_held_past_the_timeout_the_resend_meets_in_flight_then_done() -> None:
    async def scenario(sim: Simulator) -> Repaid:
        async with sim.client(TRADE_CREDENTIALS) as okx:  # Timeouts(total=10)
            (order, _) = await okx.loan_info()
            return await okx.repay(order.ord_id, "USDT", Decimal("5"), cl_ord_id="r1")

    def check(sim: Simulator) -> None:
        # Logged as answered: the held one completes (0) after the resends met it.
        codes = [code for _t, code, _b in sent(sim, REPAY)]
        assert codes.count("0") == 1 and "51784" in codes and codes[-1] == "51016"
        assert applied(sim, "repay") == {"r1": 1}

    repaid = run_virtual(checked(scenario, check), faults={"repay": [Fault(hold=15.0)]})
    assert repaid.confirmed_by_duplicate
    assert repaid.cl_ord_id == "r1" and repaid.amt == Decimal("5")


def checked(
    scenario: Callable[[Simulator], Awaitable[T]], check: Callable[[Simulator], None]
) -> Callable[[Simulator], Awaitable[T]]:
    """The scenario, then ``check`` of what the simulator saw."""

    async def run(sim: Simulator) -> T:
        result = await scenario(sim)
        check(sim)
        return result

    return run


def test_the_deadline_in_flight_is_an_unknown_outcome_with_the_key() -> None:
    async def scenario(sim: Simulator) -> OkxUnknownOutcomeError:
        async with sim.client(TRADE_CREDENTIALS, retry=RetryPolicy(deadline=5.0)) as okx:
            (order, _) = await okx.loan_info()
            with pytest.raises(OkxUnknownOutcomeError) as caught:
                await okx.borrow("USDT", "10", ord_id=order.ord_id)
        await asyncio.sleep(30)  # the held request completes on the server meanwhile
        return caught.value

    def check(sim: Simulator) -> None:
        assert list(applied(sim, "borrow").values()) == [1]

    error = run_virtual(checked(scenario, check), faults={"borrow": [Fault(hold=8.0)]})
    assert error.cl_ord_id is not None and len(error.cl_ord_id) == 32
    assert error.cl_ord_id in error.request.body.decode()


def test_a_post_with_a_clordid_through_request_is_resent_and_confirmed() -> None:
    async def scenario(sim: Simulator) -> list[dict[str, object]]:
        async with sim.client(TRADE_CREDENTIALS) as okx:
            (order, _) = await okx.loan_info()
            return await okx.request(
                "POST", REPAY, {"ordId": order.ord_id, "ccy": "USDT", "amt": "1",
                                "clOrdId": "raw1"},
            )

    def check(sim: Simulator) -> None:
        assert [code for _t, code, _b in sent(sim, REPAY)] == ["", "51016"]
        assert applied(sim, "repay") == {"raw1": 1}

    answer = run_virtual(checked(scenario, check), faults={"repay": ["drop"]})
    assert answer == [{"ordId": answer[0]["ordId"], "ccy": "USDT", "amt": "1",
                       "clOrdId": "raw1", "confirmedByDuplicate": True}]


def test_request_on_a_keyed_path_gets_a_key_of_its_own() -> None:
    async def scenario(sim: Simulator) -> list[dict[str, object]]:
        async with sim.client(TRADE_CREDENTIALS) as okx:
            (order, _) = await okx.loan_info()
            return await okx.request(
                "POST", REPAY, {"ordId": order.ord_id, "ccy": "USDT", "amt": "1"}
            )

    answer = run_virtual(scenario)
    key = answer[0]["clOrdId"]
    assert isinstance(key, str) and len(key) == 32 and key.isalnum()


# Random mixtures: whatever happens, a write executes at most once, and the caller is
# told the truth: success means executed, an unknown outcome carries the key, and any
# other error means nothing executed.

KINDS: tuple[FaultKind, ...] = ("pass", "drop", "garbled", "html", "server-error", "busy")


@pytest.mark.parametrize("seed", range(40))
def test_random_faults_never_execute_a_write_twice_or_misreport_it(seed: int) -> None:
    rng = random.Random(seed)

    def fault() -> Fault:
        if rng.random() < 0.2:
            return Fault(hold=rng.uniform(5, 15))  # in flight past a 3 s timeout, or not
        return Fault(rng.choice(KINDS))

    scripts = {w: [fault() for _ in range(rng.randint(0, 4))] for w in ("borrow", "repay")}
    timeouts = Timeouts(connect=5.0, total=rng.choice([3.0, 10.0]))
    retry = RetryPolicy(max_attempts=rng.randint(1, 6), deadline=rng.choice([None, 20.0]))

    async def scenario(sim: Simulator) -> list[tuple[str, str, object]]:
        outcomes: list[tuple[str, str, object]] = []
        async with sim.client(TRADE_CREDENTIALS, timeouts=timeouts, retry=retry) as okx:
            (order, _) = await okx.loan_info()
            calls = [
                ("borrow", f"b{i}", okx.borrow("USDT", "1", ord_id=order.ord_id,
                                                cl_ord_id=f"b{i}"))
                for i in range(3)
            ] + [
                ("repay", f"r{i}", okx.repay(order.ord_id, "USDT", "1", cl_ord_id=f"r{i}"))
                for i in range(3)
            ]
            results = await asyncio.gather(*(c for _w, _k, c in calls), return_exceptions=True)
            outcomes = [(w, k, r) for (w, k, _c), r in zip(calls, results, strict=True)]
        await asyncio.sleep(60)  # every held request has completed on the server
        for write, key, result in outcomes:
            times = applied(sim, write).get(key, 0)
            assert times <= 1, (write, key, times)
            if isinstance(result, (Borrowed, Repaid)):
                assert times == 1 and result.cl_ord_id == key
            elif isinstance(result, OkxUnknownOutcomeError):
                assert result.cl_ord_id == key
            else:
                assert isinstance(result, OkxError), result
                assert times == 0, (write, key, result)
        return outcomes

    run_virtual(scenario, faults=scripts, seed=seed)


def test_closing_the_client_after_a_write_may_have_executed_is_an_unknown_outcome() -> None:
    async def scenario(sim: Simulator) -> list[BaseException | Borrowed]:
        slow = RetryPolicy(base_delay=5.0, jitter=0.0)
        # One borrow per 60 s: the second call queues for a slot, never sent.
        okx = sim.client(TRADE_CREDENTIALS, retry=slow, rate_limits={BORROW: RateLimit(1, 60)})
        (order, _) = await okx.loan_info()
        # The first borrow's answer is lost; the client waits 5 s before resending it.
        calls = [asyncio.ensure_future(okx.borrow("USDT", "1", ord_id=order.ord_id))
                 for _ in range(2)]
        await asyncio.sleep(1.0)
        await okx.aclose()
        return await asyncio.gather(*calls, return_exceptions=True)

    lost, queued = run_virtual(scenario, faults={"borrow": ["drop"]})
    assert isinstance(lost, OkxUnknownOutcomeError)  # it may have executed: it did
    assert isinstance(lost.__cause__, OkxClientClosedError)
    assert lost.cl_ord_id is not None
    assert type(queued) is OkxClientClosedError  # never sent: a plain closed error
