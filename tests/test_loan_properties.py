"""Properties of the pure pieces: amount checks, paging, the simulator's orders and LTV
model (driven through its handlers), and its clOrdId store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from okx_async._params import check_amount
from okx_async.simulator._account import (
    INITIAL_LTV,
    QUOTAS,
    LoanAccount,
    OrderSeed,
    RefIds,
    page,
    plain,
)
from okx_async.simulator._answers import Answer
from okx_async.simulator._call import Call
from okx_async.simulator._demo import SimKey
from okx_async.simulator._idempotency import Claim, ClOrdIdStore, Seen
from okx_async.simulator._loan import LOAN, ROUTES
from okx_async.simulator._loan import answer as handle
from okx_async.simulator._orders import price

amounts = st.decimals(
    min_value=Decimal("1e-12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False
)


@given(amounts)
def test_an_amount_goes_on_the_wire_exactly_and_without_exponent(amount: Decimal) -> None:
    wire = check_amount(amount)
    assert "E" not in wire and "e" not in wire
    assert Decimal(wire) == amount
    assert check_amount(wire) == wire


@attrs.frozen
class Entry:
    ref_id: int


@settings(max_examples=60)
@given(st.lists(st.integers(1, 10_000), unique=True, max_size=60), st.integers(1, 15))
def test_walking_pages_with_after_yields_every_entry_once_newest_first(
    ids: list[int], size: int
) -> None:
    entries = [Entry(i) for i in sorted(ids)]
    walked: list[int] = []
    after = None
    while True:
        chunk = page(entries, after, None, size)
        walked += [e.ref_id for e in chunk]
        if len(chunk) < size:
            break
        after = chunk[-1].ref_id
    assert walked == sorted(ids, reverse=True)



# -- orders, through the handlers --------------------------------------------------

TRADER = SimKey("secret", "passphrase", uid="1", perm="read_only,trade")
LENT = ("USDT", "USDC", "ETH")
COLLATERAL = ("BTC", "ETH", "SOL", "USDT")
positive = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("100000"), places=8,
    allow_nan=False, allow_infinity=False,
)
shares = st.decimals(0, Decimal("1.3"), places=3)
_STEP = Decimal("0.00000001")


def floor8(value: Decimal) -> Decimal:
    return value.quantize(_STEP, rounding="ROUND_DOWN")


def usd(amounts: dict[str, Decimal]) -> Decimal:
    return sum((a * price(c) for c, a in amounts.items()), Decimal(0))


class OrdersMachine(RuleBasedStateMachine):
    """Orders opened, added to, repaid and closed at random keep the model's promises.

    The model here is restated from ``_account.py``'s description: an order accepts a
    loan or a release exactly when its LTV stays within 70 %, a full repayment closes
    it, and every record adds up to the amounts loan-info shows.
    """

    def __init__(self) -> None:
        super().__init__()
        seed = OrderSeed({"BTC": "0.1", "ETH": "1"}, {"USDT": "3000"})
        self.account = LoanAccount({}, {}, RefIds(), 0, orders=[seed])
        self.now_ms = 0
        self.keys = 0
        [first] = self.account.orders
        self.open: list[str] = [first]
        self.closed: list[str] = []
        self.owed: dict[str, tuple[str, Decimal]] = {first: ("USDT", Decimal(3000))}
        self.held: dict[str, dict[str, Decimal]] = {
            first: {"BTC": Decimal("0.1"), "ETH": Decimal(1)}
        }

    def send(
        self, method: str, name: str, body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> tuple[str, list[dict[str, Any]]]:
        self.now_ms += 1000
        if method == "POST" and name in ("borrow", "repay"):
            self.keys += 1
            body = {**(body or {}), "clOrdId": f"k{self.keys}"}
        call = Call(TRADER, query or {}, body or {}, self.now_ms)
        reply: Answer = handle(ROUTES[method, LOAN + name], call, self.account)
        decoded = json.loads(reply.body)
        return decoded["code"], decoded["data"]

    def quota_left(self, ccy: str) -> Decimal:
        owed = sum((a for c, a in self.owed.values() if c == ccy), Decimal(0))
        return QUOTAS[ccy] - owed

    def headroom(self, ord_id: str) -> Decimal:
        ccy, owed = self.owed[ord_id]
        return usd(self.held[ord_id]) * INITIAL_LTV - owed * price(ccy)

    def pick(self, index: int) -> str:
        return self.open[index % len(self.open)]

    @rule(ccy=st.sampled_from(LENT), coll=st.sampled_from(COLLATERAL), coll_amt=positive,
          share=shares)
    def open_order(self, ccy: str, coll: str, coll_amt: Decimal, share: Decimal) -> None:
        limit = coll_amt * price(coll) * INITIAL_LTV / price(ccy)
        amt = floor8(min(limit, self.quota_left(ccy)) * share)
        body = {"loanData": {"ccy": ccy, "amt": plain(amt)},
                "collateralData": [{"ccy": coll, "amt": plain(coll_amt)}]}
        code, data = self.send("POST", "borrow", body)
        if amt <= 0:
            assert code == "51000"
        elif coll == ccy:
            assert code == "51750"
        elif amt > limit or amt > self.quota_left(ccy):
            assert code == "51000"
        else:
            assert code == "0", (code, data)
            [created] = data
            ord_id = str(created["ordId"])
            assert ord_id not in self.owed and created["eMode"] == "0"
            self.open.append(ord_id)
            self.owed[ord_id] = (ccy, amt)
            self.held[ord_id] = {coll: coll_amt}

    @precondition(lambda self: self.open)
    @rule(index=st.integers(0, 99), share=shares)
    def borrow_more(self, index: int, share: Decimal) -> None:
        ord_id = self.pick(index)
        ccy, owed = self.owed[ord_id]
        room = self.headroom(ord_id) / price(ccy)
        amt = floor8(max(Decimal(0), min(room, self.quota_left(ccy))) * share)
        body = {"ordId": ord_id, "loanData": {"ccy": ccy, "amt": plain(amt)}}
        code, data = self.send("POST", "borrow", body)
        if 0 < amt <= room and amt <= self.quota_left(ccy):
            assert (code, data[0]["ordId"]) == ("0", ord_id)
            self.owed[ord_id] = (ccy, owed + amt)
        else:
            assert code == "51000"

    @precondition(lambda self: self.open)
    @rule(index=st.integers(0, 99), share=st.decimals(0, Decimal("1.2"), places=2),
          everything=st.booleans())
    def repay(self, index: int, share: Decimal, everything: bool) -> None:
        ord_id = self.pick(index)
        ccy, owed = self.owed[ord_id]
        amt = owed if everything else floor8(owed * share)
        code, data = self.send("POST", "repay", {"ordId": ord_id, "ccy": ccy, "amt": plain(amt)})
        if not 0 < amt <= owed:
            assert code == "51000"
            return
        assert (code, data) == ("0", [
            {"ordId": ord_id, "ccy": ccy, "amt": plain(amt), "clOrdId": f"k{self.keys}"}
        ])
        if amt < owed:
            self.owed[ord_id] = (ccy, owed - amt)
            return
        self.open.remove(ord_id)
        self.closed.append(ord_id)
        self.owed[ord_id] = (ccy, Decimal(0))
        self.held[ord_id] = {}

    @precondition(lambda self: self.open)
    @rule(index=st.integers(0, 99), ccy=st.sampled_from(COLLATERAL), share=shares,
          add=st.booleans())
    def adjust(self, index: int, ccy: str, share: Decimal, add: bool) -> None:
        ord_id = self.pick(index)
        held = self.held[ord_id].get(ccy, Decimal(0))
        amt = floor8((held or Decimal(1)) * share)
        body = {"type": "add" if add else "reduce", "collateralCcy": ccy,
                "collateralAmt": plain(amt), "ordId": ord_id}
        code, _ = self.send("POST", "adjust-collateral", body)
        fits = amt * price(ccy) <= self.headroom(ord_id) / INITIAL_LTV or self.owed[ord_id][1] == 0
        if amt <= 0 or (not add and (amt > held or not fits)):
            assert code == "51000"
            return
        assert code == "0"
        self.held[ord_id][ccy] = held + amt if add else held - amt

    @precondition(lambda self: self.closed)
    @rule(index=st.integers(0, 99))
    def a_closed_order_is_gone_but_its_records_stay(self, index: int) -> None:
        ord_id = self.closed[index % len(self.closed)]
        assert self.send("GET", "loan-info", query={"ordId": ord_id})[0] == "51063"
        ccy = self.owed[ord_id][0]
        body = {"ordId": ord_id, "loanData": {"ccy": ccy, "amt": "1"}}
        assert self.send("POST", "borrow", body)[0] == "51063"
        code, records = self.send("GET", "loan-history", query={"ordId": ord_id})
        assert code == "0" and records[0]["type"] == "collateral_released"

    @invariant()
    def loan_info_shows_exactly_the_open_orders(self) -> None:
        code, items = self.send("GET", "loan-info")
        assert code == "0"
        assert [item["ordId"] for item in items] == self.open
        for item in items:
            ord_id = str(item["ordId"])
            ccy, owed = self.owed[ord_id]
            assert item["loanData"] == ([{"ccy": ccy, "amt": plain(owed)}] if owed else [])
            held = {c: a for c, a in self.held[ord_id].items() if a > 0}
            assert item["collateralData"] == [{"ccy": c, "amt": plain(a)} for c, a in held.items()]
            assert Decimal(str(item["curLTV"])) <= INITIAL_LTV
            assert owed * price(ccy) <= usd(held) * INITIAL_LTV

    @invariant()
    def the_default_order_is_the_earliest_open_one(self) -> None:
        earliest = self.account.earliest()
        assert (earliest.ord_id if earliest else None) == (self.open[0] if self.open else None)
        code, data = self.send("GET", "max-collateral-redeem-amount", query={"ccy": "BTC"})
        assert code == "0"
        if not self.open:
            assert data == []
            body = {"type": "add", "collateralCcy": "BTC", "collateralAmt": "1"}
            assert self.send("POST", "adjust-collateral", body)[0] == "51063"
            return
        [redeem] = data
        held = self.held[self.open[0]].get("BTC", Decimal(0))
        assert Decimal(0) <= Decimal(str(redeem["maxRedeemAmt"])) <= held

    @invariant()
    def every_record_adds_up_and_quotas_hold(self) -> None:
        for ord_id, (_, owed) in self.owed.items():
            records = [e for e in self.account.history if e.ord_id == ord_id]
            loans = sum((e.amt for e in records if e.type in ("borrowed", "repaid")), Decimal(0))
            assert loans == owed
            for coll, held in self.held[ord_id].items():
                moved = sum((e.amt for e in records if e.ccy == coll and e.type.startswith(
                    "collateral_")), Decimal(0))
                assert -moved == held
        for ccy in LENT:
            assert self.quota_left(ccy) >= 0


OrdersMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25,
                                           deadline=None)
TestOrdersMachine = OrdersMachine.TestCase


# -- the clOrdId store ----------------------------------------------------------------

RETENTION = 10.0
KEYS = [("1", "/borrow", "a"), ("1", "/borrow", "b"), ("1", "/repay", "a"), ("2", "/borrow", "a")]


class StoreMachine(RuleBasedStateMachine):
    """The store against a plain model: each key's first request time and state."""

    def __init__(self) -> None:
        super().__init__()
        self.store = ClOrdIdStore(RETENTION)
        self.now = 0.0
        self.model: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self.claims: dict[tuple[str, str, str], Claim] = {}
        self.stale: list[Claim] = []

    def alive(self, key: tuple[str, str, str]) -> bool:
        return key in self.model and self.now - self.model[key][0] < RETENTION

    @rule(key=st.sampled_from(KEYS))
    def request(self, key: tuple[str, str, str]) -> None:
        result = self.store.claim(key, self.now)
        if self.alive(key):
            done = self.model[key][1]
            assert result is (Seen.COMPLETED if done else Seen.IN_FLIGHT)
        else:
            assert isinstance(result, Claim)
            if key in self.claims:
                self.stale.append(self.claims[key])
            self.claims[key] = result
            self.model[key] = (self.now, False)
        # A claim also forgets every expired key: the store holds the live ones only.
        assert len(self.store) == sum(self.alive(k) for k in KEYS)

    @rule(key=st.sampled_from(KEYS), refused=st.booleans())
    def finish(self, key: tuple[str, str, str], refused: bool) -> None:
        claim = self.claims.pop(key, None)
        if claim is None:
            return
        if refused:
            self.store.release(claim)
            self.model.pop(key)
        else:
            self.store.complete(claim)
            self.model[key] = (self.model[key][0], True)

    @precondition(lambda self: self.stale)
    @rule(refused=st.booleans())
    def a_late_finish_of_an_expired_claim_changes_nothing(self, refused: bool) -> None:
        claim = self.stale.pop()
        (self.store.release if refused else self.store.complete)(claim)

    @rule(seconds=st.sampled_from([0.0, 0.5, 3.0, 9.999, 10.0, 25.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30)
TestStoreMachine = StoreMachine.TestCase


def test_the_store_keeps_a_key_from_the_first_request_for_the_retention() -> None:
    store = ClOrdIdStore(60.0)
    key = ("1000001", "/api/v5/finance/flexible-loan/borrow", "k1")
    first = store.claim(key, 100.0)
    assert isinstance(first, Claim)
    assert store.claim(key, 130.0) is Seen.IN_FLIGHT
    store.complete(first)
    assert store.claim(key, 159.999) is Seen.COMPLETED
    # 60 s after the first request, not after its completion, the key is free again.
    again = store.claim(key, 160.0)
    assert isinstance(again, Claim) and again is not first
    # Completing the old claim late does not mark the new request done.
    store.complete(first)
    assert store.claim(key, 161.0) is Seen.IN_FLIGHT
    store.release(again)
    assert isinstance(store.claim(key, 162.0), Claim)
    assert store.claim((key[0], "/api/v5/finance/flexible-loan/repay", "k1"), 162.0) is not (
        Seen.IN_FLIGHT
    )


def test_the_store_forgets_expired_keys() -> None:
    store = ClOrdIdStore(1.0)
    for i in range(100):
        store.claim(("u", "/p", str(i)), i * 0.1)
    assert len(store) == 10
    store.claim(("u", "/p", "last"), 1000.0)
    assert len(store) == 1
