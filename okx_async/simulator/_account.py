"""A Flexible Loan account per user: loan orders, their records, and one LTV model.

An account holds loan orders (:class:`LoanOrder`), each with its own ``ordId``, loans,
collateral and LTVs. ``borrow`` without an ``ordId`` opens one, ``borrow`` with an
``ordId`` adds to it, and repaying the last of its loan closes it: its collateral is
released and it leaves ``loan-info``, while its records stay. Where an endpoint takes
an optional ``ordId``, the default order is the open one that started first (ties go to
the lower ``ordId``). Collateral comes from, and returns to, a funding account that
never runs dry.

The LTV model, per order (simulated numbers, not OKX's):

- Every currency has a fixed USD price (:data:`PRICES`; a currency the caller seeded
  that is not in the table is worth 1 USD).
- An order's ``collateral_usd`` and ``loan_usd`` are the sums of amount * price, and its
  LTV is ``loan_usd / collateral_usd`` (0 with nothing borrowed).
- Borrowing and redeeming may take an order's LTV up to :data:`INITIAL_LTV` and no
  further: the redeemable amount of ``ccy`` is
  ``min(amount, (collateral_usd - loan_usd / INITIAL_LTV) / price)``, floored to
  8 decimals and never below 0 (the whole amount, exactly, with nothing borrowed);
  the loan headroom in ``ccy`` is
  ``((collateral_usd + extra_usd) * INITIAL_LTV - loan_usd) / price``, capped by what
  is left of the user's quota of that currency (:data:`QUOTAS` less what all the
  user's open orders owe in it).
- A margin call comes at :data:`MARGIN_CALL_LTV`, liquidation at :data:`LIQ_LTV`. As
  OKX does, ``riskWarningData`` is filled only for an order with one collateral and
  one borrowed currency: ``liqPx = loan / (LIQ_LTV * collateral)``, in the loan currency.

Records get increasing ``refId``s and come back newest first, paged with ``after``
(older than) and ``before`` (newer than), as OKX pages. Money leaving the funding
account is negative (``collateral_locked``, as OKX's example shows, and ``repaid``);
money coming back is positive (``borrowed``, ``collateral_released``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from ._orders import (
    INITIAL_LTV,
    LIQ_LTV,
    MARGIN_CALL_LTV,
    PRICES,
    QUOTAS,
    LoanOrder,
    OrderSeed,
    floor8,
    plain,
    price,
)
from ._records import HistoryEntry, InterestEntry, RefIds, page

__all__ = [
    "DEFAULT_LOANS",
    "HOURLY_RATE",
    "INITIAL_LTV",
    "LIQ_LTV",
    "MARGIN_CALL_LTV",
    "PRICES",
    "QUOTAS",
    "LoanAccount",
    "LoanOrder",
    "OrderSeed",
    "RefIds",
    "page",
    "plain",
]

#: Hourly interest rate charged on every loan, as a fraction.
HOURLY_RATE: Final = Decimal("0.00000913")
_HOUR_MS: Final = 3_600_000
#: Hours of interest records a new account starts with.
_INTEREST_HOURS: Final = 24

#: The loan of the one order a simulator's default amounts make without ``orders``.
DEFAULT_LOANS: Mapping[str, str] = MappingProxyType({"USDT": "1000"})

Amounts = Iterable[tuple[str, Decimal]]


class LoanAccount:
    """One user's Flexible Loan: open and closed orders, history and interest records.

    ``collateral`` and ``loans`` seed one order (none when both are empty); ``orders``
    seeds several instead. ``applied[(endpoint, clOrdId)]`` counts the keyed writes
    this account executed (``endpoint`` is ``"borrow"`` or ``"repay"``)::

        account = LoanAccount({}, {}, RefIds(), now_ms, orders=[OrderSeed({"BTC": "1"})])
    """

    def __init__(
        self,
        collateral: Mapping[str, str],
        loans: Mapping[str, str],
        ref_ids: RefIds,
        now_ms: int,
        *,
        orders: Sequence[OrderSeed] | None = None,
    ) -> None:
        if orders is None:
            orders = [OrderSeed(collateral, loans)] if collateral or loans else []
        self._ids = ref_ids
        #: The open orders by ``ordId``, in the order they were opened.
        self.orders: dict[str, LoanOrder] = {}
        #: Fully repaid orders; their records can still be asked for.
        self.closed: dict[str, LoanOrder] = {}
        self.history: list[HistoryEntry] = []
        self.interest: list[InterestEntry] = []
        self.applied: Counter[tuple[str, str]] = Counter()
        # A past worth paging through: an hour per lock and loan, order by order, then a
        # day of hourly interest.
        events = sum(
            sum(Decimal(a) > 0 for a in (*seed.collateral.values(), *seed.loans.values()))
            for seed in orders
        )
        ts = now_ms - (events + _INTEREST_HOURS) * _HOUR_MS
        for seed in orders:
            order = self._new_order(ts, e_mode=seed.e_mode)
            for kind, sign, amounts, book in (
                ("collateral_locked", -1, seed.collateral, order.collateral),
                ("borrowed", 1, seed.loans, order.loans),
            ):
                for ccy, text in amounts.items():
                    amt = book[ccy] = Decimal(text)
                    if amt > 0:
                        self._record(order, kind, ccy, sign * amt, ts)
                        ts += _HOUR_MS
        for _ in range(_INTEREST_HOURS):
            for order in self.orders.values():
                for ccy, loan in order.loans.items():
                    if loan > 0:
                        self.interest.append(InterestEntry(
                            ref_ids(), ccy, loan, floor8(loan * HOURLY_RATE), HOURLY_RATE, ts,
                            order.ord_id,
                        ))
            ts += _HOUR_MS

    def __repr__(self) -> str:
        return f"LoanAccount(orders={list(self.orders.values())}, closed={list(self.closed)})"

    # -- finding orders --------------------------------------------------------------

    def earliest(self) -> LoanOrder | None:
        """The open order that started first, or None without one."""
        if not self.orders:
            return None
        return min(self.orders.values(), key=lambda o: (o.started_ms, int(o.ord_id)))

    def order(self, ord_id: str | None = None) -> LoanOrder:
        """The open order ``ord_id``, else the earliest; KeyError if there is none.

        For tests: ``sim.accounts[uid].order().collateral["BTC"]`` is the BTC of the
        order adjust-collateral acts on without an ``ordId``.
        """
        order = self.earliest() if ord_id is None else self.orders.get(ord_id)
        if order is None:
            raise KeyError(ord_id or "no open order")
        return order

    def knows_order(self, ord_id: str) -> bool:
        """Whether ``ord_id`` is, or was, one of this account's orders."""
        return ord_id in self.orders or ord_id in self.closed

    def quota_left(self, ccy: str) -> Decimal:
        """What the user may still borrow of ``ccy`` over all orders (0 if not lent)."""
        owed = sum((o.loans.get(ccy, Decimal(0)) for o in self.orders.values()), Decimal(0))
        return QUOTAS.get(ccy, Decimal(0)) - owed

    def max_loan(self, order: LoanOrder, ccy: str, extra: Amounts) -> dict[str, str]:
        return order.max_loan(ccy, extra, self.quota_left(ccy))

    def may_borrow(
        self, order: LoanOrder | None, ccy: str, amt: Decimal, collateral: Amounts
    ) -> bool:
        """Whether borrowing ``amt`` more (on a new order if None) stays within the model."""
        headroom = (order or LoanOrder("", 0)).headroom_usd(collateral)
        return amt <= self.quota_left(ccy) and amt * price(ccy) <= headroom

    # -- changes ---------------------------------------------------------------------

    def open(
        self, ccy: str, amt: Decimal, collateral: Amounts, *, e_mode: bool, now_ms: int
    ) -> LoanOrder:
        """A new order borrowing ``amt`` of ``ccy`` against ``collateral``."""
        order = self._new_order(now_ms, e_mode=e_mode)
        self.borrow(order, ccy, amt, collateral, now_ms)
        return order

    def borrow(
        self, order: LoanOrder, ccy: str, amt: Decimal, collateral: Amounts, now_ms: int
    ) -> None:
        """Lock ``collateral`` into ``order``, then borrow ``amt`` more of ``ccy`` on it."""
        for extra_ccy, extra in collateral:
            self.add(order, extra_ccy, extra, now_ms)
        order.loans[ccy] = order.loans.get(ccy, Decimal(0)) + amt
        self._record(order, "borrowed", ccy, amt, now_ms)

    def repay(self, order: LoanOrder, ccy: str, amt: Decimal, now_ms: int) -> None:
        """Repay ``amt`` of ``ccy``; the last of the loan closes the order."""
        order.loans[ccy] -= amt
        self._record(order, "repaid", ccy, -amt, now_ms)
        if not order.owes():
            for held_ccy, held in order.collateral.items():
                if held > 0:
                    self._record(order, "collateral_released", held_ccy, held, now_ms)
            order.collateral.clear()
            self.closed[order.ord_id] = self.orders.pop(order.ord_id)

    def add(self, order: LoanOrder, ccy: str, amt: Decimal, now_ms: int) -> None:
        order.collateral[ccy] = order.collateral.get(ccy, Decimal(0)) + amt
        self._record(order, "collateral_locked", ccy, -amt, now_ms)

    def reduce(self, order: LoanOrder, ccy: str, amt: Decimal, now_ms: int) -> bool:
        """Release collateral if the LTV allows it; False (nothing changed) if not."""
        if amt > order.max_redeem(ccy):
            return False
        order.collateral[ccy] -= amt
        self._record(order, "collateral_released", ccy, amt, now_ms)
        return True

    def _new_order(self, now_ms: int, *, e_mode: bool) -> LoanOrder:
        order = LoanOrder(str(self._ids()), now_ms, e_mode=e_mode)
        self.orders[order.ord_id] = order
        return order

    def _record(self, order: LoanOrder, kind: str, ccy: str, amt: Decimal, ts: int) -> None:
        self.history.append(HistoryEntry(self._ids(), kind, ccy, amt, ts, order.ord_id))
