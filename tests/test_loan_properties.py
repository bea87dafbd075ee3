"""Properties of the pure pieces: amount checks, paging, and the simulator's LTV model."""

from __future__ import annotations

from decimal import Decimal

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from okx_async._params import check_amount
from okx_async.simulator._account import INITIAL_LTV, LoanAccount, RefIds, page

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


CCYS = ("USDT", "BTC", "ETH")


class AccountMachine(RuleBasedStateMachine):
    """Random adds and reductions never break the LTV rule or lose an amount."""

    def __init__(self) -> None:
        super().__init__()
        self.account = LoanAccount(
            {"USDT": "2000", "BTC": "0.1", "ETH": "1"}, {"USDT": "3000"}, RefIds(), 0
        )
        self.expected = dict(self.account.collateral)

    @rule(ccy=st.sampled_from(CCYS), amt=amounts)
    def add(self, ccy: str, amt: Decimal) -> None:
        self.account.add(ccy, amt, 0)
        self.expected[ccy] += amt

    @rule(ccy=st.sampled_from(CCYS), share=st.decimals(0, 2, places=3))
    def reduce(self, ccy: str, share: Decimal) -> None:
        most = self.account.max_redeem(ccy)
        amt = most * share
        if amt <= 0:
            return
        accepted = self.account.reduce(ccy, amt, 0)
        assert accepted == (amt <= most)
        if accepted:
            self.expected[ccy] -= amt

    @invariant()
    def amounts_add_up_and_the_ltv_holds(self) -> None:
        account = self.account
        assert account.collateral == self.expected
        assert all(amount >= 0 for amount in account.collateral.values())
        for ccy in CCYS:
            assert 0 <= account.max_redeem(ccy) <= account.collateral[ccy]
        # Redeeming everything allowed of one currency keeps the LTV at most the initial.
        for ccy in CCYS:
            left = account.collateral_usd() - account.max_redeem(ccy) * account.price(ccy)
            assert left <= 0 or account.loan_usd() / left <= INITIAL_LTV


AccountMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20)
TestAccountMachine = AccountMachine.TestCase
