"""One loan order and its LTV arithmetic (the model is described in ``_account.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

INITIAL_LTV: Final = Decimal("0.7")
MARGIN_CALL_LTV: Final = Decimal("0.85")
LIQ_LTV: Final = Decimal("0.9")
_STEP: Final = Decimal("0.00000001")
_CENT: Final = Decimal("0.01")

#: USD per unit, for the LTV model.
PRICES: Mapping[str, Decimal] = MappingProxyType({
    ccy: Decimal(price) for ccy, price in {
        "USDT": "1", "USDC": "1", "DAI": "1", "BTC": "60000", "ETH": "3000", "SOL": "150",
        "XRP": "0.5", "DOGE": "0.1", "ADA": "0.4", "TRX": "0.12", "TON": "5", "DOT": "6",
        "LTC": "80", "BCH": "400", "LINK": "15", "AVAX": "30", "MATIC": "0.5", "POL": "0.5",
        "ATOM": "8", "UNI": "8", "XLM": "0.1", "ETC": "25", "FIL": "5", "APT": "8",
        "ARB": "0.8", "OP": "1.8", "NEAR": "5", "SUI": "1.5", "PEPE": "0.00001", "OKB": "45",
        "SHIB": "0.00002", "LUNC": "0.0001",
    }.items()
})

#: What Flexible Loan lends here, and how much of each a user may owe in all.
QUOTAS: Mapping[str, Decimal] = MappingProxyType({
    "USDT": Decimal("1000000"), "USDC": Decimal("1000000"), "BTC": Decimal("20"),
    "ETH": Decimal("300"),
})


def plain(value: Decimal) -> str:
    """A decimal as OKX writes amounts: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def floor8(value: Decimal) -> Decimal:
    """``value`` rounded down to 8 decimal places."""
    return value.quantize(_STEP, rounding=ROUND_DOWN)


def price(ccy: str) -> Decimal:
    """USD per unit of ``ccy``; 1 for a currency outside :data:`PRICES`."""
    return PRICES.get(ccy, Decimal(1))


def usd(amounts: Iterable[tuple[str, Decimal]]) -> Decimal:
    """The USD value of ``(ccy, amount)`` pairs."""
    return sum((amt * price(ccy) for ccy, amt in amounts), Decimal(0))


@attrs.frozen
class OrderSeed:
    """An order a new account starts with: collateral and loans, as amount strings.

    ``OrderSeed({"BTC": "0.5"}, {"USDT": "1000"})`` is 1000 USDT borrowed against
    0.5 BTC. A seed without loans is an order whose collateral is all redeemable.
    """

    collateral: Mapping[str, str]
    loans: Mapping[str, str] = attrs.field(factory=dict)
    e_mode: bool = False


class LoanOrder:
    """One loan order: what it owes, the collateral it locks, and its LTVs."""

    __slots__ = ("collateral", "e_mode", "loans", "ord_id", "started_ms")

    def __init__(self, ord_id: str, started_ms: int, *, e_mode: bool = False) -> None:
        self.ord_id = ord_id
        #: When the order was opened; the earliest open order is the default one.
        self.started_ms = started_ms
        self.e_mode = e_mode
        self.loans: dict[str, Decimal] = {}
        self.collateral: dict[str, Decimal] = {}

    def __repr__(self) -> str:
        return f"LoanOrder({self.ord_id}, loans={self.loans}, collateral={self.collateral})"

    def collateral_usd(self) -> Decimal:
        return usd(self.collateral.items())

    def loan_usd(self) -> Decimal:
        return usd(self.loans.items())

    def owes(self) -> bool:
        """Whether anything is still borrowed on this order."""
        return any(amt > 0 for amt in self.loans.values())

    def ltv(self) -> Decimal:
        loan, collateral = self.loan_usd(), self.collateral_usd()
        if loan == 0:
            return Decimal(0)
        return (loan / collateral).quantize(Decimal("0.0001")) if collateral else Decimal(1)

    def knows(self, ccy: str) -> bool:
        """Whether ``ccy`` can be collateral here."""
        return ccy in self.collateral or ccy in PRICES

    def max_redeem(self, ccy: str) -> Decimal:
        held = self.collateral.get(ccy, Decimal(0))
        loan = self.loan_usd()
        if loan == 0:
            return held
        spare_usd = self.collateral_usd() - loan / INITIAL_LTV
        return max(Decimal(0), min(held, floor8(spare_usd / price(ccy))))

    def headroom_usd(self, extra: Iterable[tuple[str, Decimal]] = ()) -> Decimal:
        """How many more USD this order may borrow with ``extra`` collateral added."""
        return (self.collateral_usd() + usd(extra)) * INITIAL_LTV - self.loan_usd()

    def max_loan(
        self, ccy: str, extra: Iterable[tuple[str, Decimal]], quota_left: Decimal
    ) -> dict[str, str]:
        amount = max(Decimal(0), min(quota_left, floor8(self.headroom_usd(extra) / price(ccy))))
        return {"borrowCcy": ccy, "maxLoan": plain(amount),
                "notionalUsd": plain((amount * price(ccy)).quantize(_CENT, ROUND_DOWN)),
                "remainingQuota": plain(max(Decimal(0), quota_left))}

    def loan_info(self) -> dict[str, Any]:
        loan_usd, collateral_usd = self.loan_usd(), self.collateral_usd()
        warning = {"instId": "", "liqPx": ""}
        held = {c: a for c, a in self.collateral.items() if a > 0}
        owed = {c: a for c, a in self.loans.items() if a > 0}
        # OKX fills riskWarningData only for one collateral and one borrowed currency.
        if len(held) == 1 and len(owed) == 1:
            [(ccy, amt)] = held.items()
            [(loan_ccy, loan)] = owed.items()
            # The price of ccy in loan_ccy at which loan / collateral reaches LIQ_LTV.
            liq_px = loan / (LIQ_LTV * amt)
            warning = {"instId": f"{ccy}-{loan_ccy}", "liqPx": plain(floor8(liq_px))}
        return {
            "ordId": self.ord_id,
            "loanNotionalUsd": plain(loan_usd.quantize(_CENT)),
            "loanData": [{"ccy": c, "amt": plain(a)} for c, a in owed.items()],
            "collateralNotionalUsd": plain(collateral_usd.quantize(_CENT)),
            "collateralData": [{"ccy": c, "amt": plain(a)} for c, a in held.items()],
            "riskWarningData": warning,
            "curLTV": plain(self.ltv()),
            "marginCallLTV": plain(MARGIN_CALL_LTV),
            "liqLTV": plain(LIQ_LTV),
        }

    def assets(self, ccy: str | None) -> list[dict[str, str]]:
        return [
            {"ccy": c, "amt": plain(a), "notionalUsd": plain((a * price(c)).quantize(_CENT))}
            for c, a in self.collateral.items()
            if a > 0 and (ccy is None or c == ccy)
        ]
