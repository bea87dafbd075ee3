"""A Flexible Loan account per user: collateral, loans and history, with one LTV model.

The model (simulated numbers, not OKX's):

- Every currency has a fixed USD price (:data:`PRICES`; a currency the caller seeded
  that is not in the table is worth 1 USD).
- ``collateral_usd`` and ``loan_usd`` are the sums of amount * price, and the
  current LTV is ``loan_usd / collateral_usd`` (0 with nothing borrowed).
- Borrowing and redeeming may take the LTV up to :data:`INITIAL_LTV` and no further:
  the redeemable amount of ``ccy`` is
  ``min(amount, (collateral_usd - loan_usd / INITIAL_LTV) / price)``, floored to
  8 decimals and never below 0 (the whole amount, exactly, with nothing borrowed);
  the loan headroom in ``ccy`` is
  ``((collateral_usd + extra_usd) * INITIAL_LTV - loan_usd) / price``, capped by
  the currency's remaining quota.
- A margin call comes at :data:`MARGIN_CALL_LTV`, liquidation at :data:`LIQ_LTV`;
  the liquidation price is the price of the largest collateral at which the LTV
  would reach :data:`LIQ_LTV`, the other prices unchanged.

History entries get increasing ``refId``s and come back newest first, paged with
``after`` (older than) and ``before`` (newer than), as OKX pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

INITIAL_LTV: Final = Decimal("0.7")
MARGIN_CALL_LTV: Final = Decimal("0.85")
LIQ_LTV: Final = Decimal("0.9")
#: Hourly interest rate charged on every loan, as a fraction.
HOURLY_RATE: Final = Decimal("0.00000913")
_STEP: Final = Decimal("0.00000001")
_CENT: Final = Decimal("0.01")
_HOUR_MS: Final = 3_600_000

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

#: What Flexible Loan lends here, and how much of each in all (``remainingQuota``).
QUOTAS: Mapping[str, Decimal] = MappingProxyType({
    "USDT": Decimal("1000000"), "USDC": Decimal("1000000"), "BTC": Decimal("20"),
    "ETH": Decimal("300"),
})

#: The loan every user starts with when the default collateral is used.
DEFAULT_LOANS: Mapping[str, str] = MappingProxyType({"USDT": "1000"})
#: Hours of interest records a new account starts with.
_INTEREST_HOURS: Final = 24


def plain(value: Decimal) -> str:
    """A decimal as OKX writes amounts: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _floor(value: Decimal) -> Decimal:
    return value.quantize(_STEP, rounding=ROUND_DOWN)


@attrs.define
class HistoryEntry:
    """One ``loan-history`` record."""

    ref_id: int
    type: str
    ccy: str
    amt: Decimal
    ts: int

    def to_okx(self) -> dict[str, Any]:
        return {"refId": str(self.ref_id), "type": self.type, "ccy": self.ccy,
                "amt": plain(self.amt), "ts": str(self.ts)}


@attrs.define
class InterestEntry:
    """One ``interest-accrued`` record."""

    ref_id: int
    ccy: str
    loan: Decimal
    interest: Decimal
    rate: Decimal
    ts: int

    def to_okx(self) -> dict[str, Any]:
        return {"refId": str(self.ref_id), "ccy": self.ccy, "loan": plain(self.loan),
                "interest": plain(self.interest), "interestRate": plain(self.rate),
                "ts": str(self.ts)}


class RefIds:
    """Increasing reference ids shared by every account of one simulator."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 2_000_000_000) -> None:
        self._next = start

    def __call__(self) -> int:
        self._next += 1
        return self._next


class LoanAccount:
    """One user's Flexible Loan: collateral, loans, history and interest records."""

    def __init__(
        self,
        collateral: Mapping[str, str],
        loans: Mapping[str, str],
        ref_ids: RefIds,
        now_ms: int,
    ) -> None:
        self._ref_ids = ref_ids
        self.collateral: dict[str, Decimal] = {c: Decimal(a) for c, a in collateral.items()}
        self.loans: dict[str, Decimal] = {c: Decimal(a) for c, a in loans.items()}
        self.history: list[HistoryEntry] = []
        self.interest: list[InterestEntry] = []
        # A past worth paging through: an hour per collateral lock, the loans, then interest.
        events = [("collateral_locked", c, a) for c, a in self.collateral.items() if a > 0]
        events += [("borrowed", c, a) for c, a in self.loans.items() if a > 0]
        start = now_ms - (len(events) + _INTEREST_HOURS) * _HOUR_MS
        for i, (kind, ccy, amt) in enumerate(events):
            self.record(kind, ccy, amt, start + i * _HOUR_MS)
        for hour in range(_INTEREST_HOURS):
            ts = start + (len(events) + hour) * _HOUR_MS
            for ccy, loan in self.loans.items():
                if loan > 0:
                    self.interest.append(InterestEntry(
                        ref_ids(), ccy, loan, _floor(loan * HOURLY_RATE), HOURLY_RATE, ts
                    ))

    # -- the model -------------------------------------------------------------------

    @staticmethod
    def price(ccy: str) -> Decimal:
        return PRICES.get(ccy, Decimal(1))

    def collateral_usd(self) -> Decimal:
        return sum((a * self.price(c) for c, a in self.collateral.items()), Decimal(0))

    def loan_usd(self) -> Decimal:
        return sum((a * self.price(c) for c, a in self.loans.items()), Decimal(0))

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
        return max(Decimal(0), min(held, _floor(spare_usd / self.price(ccy))))

    def max_loan(self, ccy: str, extra: Sequence[tuple[str, Decimal]]) -> dict[str, str]:
        extra_usd = sum((a * self.price(c) for c, a in extra), Decimal(0))
        headroom_usd = (self.collateral_usd() + extra_usd) * INITIAL_LTV - self.loan_usd()
        quota = QUOTAS[ccy] - self.loans.get(ccy, Decimal(0))
        amount = max(Decimal(0), min(quota, _floor(headroom_usd / self.price(ccy))))
        return {"borrowCcy": ccy, "maxLoan": plain(amount),
                "notionalUsd": plain((amount * self.price(ccy)).quantize(_CENT, ROUND_DOWN)),
                "remainingQuota": plain(max(Decimal(0), quota))}

    def loan_info(self) -> dict[str, Any]:
        loan_usd, collateral_usd = self.loan_usd(), self.collateral_usd()
        warning = {"instId": "", "liqPx": ""}
        held = {c: a for c, a in self.collateral.items() if a > 0}
        if loan_usd > 0 and held:
            biggest = max(held, key=lambda c: held[c] * self.price(c))
            others = collateral_usd - held[biggest] * self.price(biggest)
            liq_px = (loan_usd / LIQ_LTV - others) / held[biggest]
            if liq_px > 0:
                warning = {"instId": f"{biggest}-USDT", "liqPx": plain(_floor(liq_px))}
        return {
            "loanNotionalUsd": plain(loan_usd.quantize(_CENT)),
            "loanData": [{"ccy": c, "amt": plain(a)} for c, a in self.loans.items() if a > 0],
            "collateralNotionalUsd": plain(collateral_usd.quantize(_CENT)),
            "collateralData": [{"ccy": c, "amt": plain(a)} for c, a in held.items()],
            "riskWarningData": warning,
            "curLTV": plain(self.ltv()),
            "marginCallLTV": plain(MARGIN_CALL_LTV),
            "liqLTV": plain(LIQ_LTV),
        }

    def assets(self, ccy: str | None) -> list[dict[str, str]]:
        return [
            {"ccy": c, "amt": plain(a), "notionalUsd": plain((a * self.price(c)).quantize(_CENT))}
            for c, a in self.collateral.items()
            if a > 0 and (ccy is None or c == ccy)
        ]

    # -- changes ---------------------------------------------------------------------

    def add(self, ccy: str, amt: Decimal, now_ms: int) -> None:
        self.collateral[ccy] = self.collateral.get(ccy, Decimal(0)) + amt
        self.record("collateral_locked", ccy, amt, now_ms)

    def reduce(self, ccy: str, amt: Decimal, now_ms: int) -> bool:
        """Release collateral if the LTV allows it; False (nothing changed) if not."""
        if amt > self.max_redeem(ccy):
            return False
        self.collateral[ccy] -= amt
        self.record("collateral_released", ccy, amt, now_ms)
        return True

    def record(self, kind: str, ccy: str, amt: Decimal, ts: int) -> None:
        self.history.append(HistoryEntry(self._ref_ids(), kind, ccy, amt, ts))


def page(
    entries: Sequence[Any], after: int | None, before: int | None, limit: int
) -> list[Any]:
    """OKX's paging over records with ascending ``ref_id``: newest first.

    ``after`` keeps records older than it, ``before`` newer than it. With only
    ``before``, the ``limit`` records just newer than it come back.
    """
    chosen = [
        e for e in entries
        if (after is None or e.ref_id < after) and (before is None or e.ref_id > before)
    ]
    chosen = chosen[:limit] if before is not None and after is None else chosen[-limit:]
    return chosen[::-1]
