"""The Flexible Loan writes as typed methods of :class:`~okx_async.OkxClient`.

``borrow`` and ``repay`` carry an idempotency key (``clOrdId``), so the client can
resend them safely while OKX remembers it; ``adjust_collateral`` has none and is
never sent twice once it may have reached OKX (docs/borrow-and-repay.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Literal

from ._endpoints import ADJUST_COLLATERAL, BORROW, REPAY
from ._family import TypedCalls
from ._models import Borrowed, CurrencyAmount, Repaid

Amount = Decimal | int | str
#: Collateral: ``{"BTC": Decimal("0.5")}``, or ``(ccy, amount)`` pairs.
Collateral = Mapping[str, Amount] | Iterable[tuple[str, Amount] | CurrencyAmount]


class LoanWrites(TypedCalls):
    """The writes of ``/api/v5/finance/flexible-loan/`` (Trade permission)."""

    async def borrow(
        self,
        ccy: str,
        amt: Amount,
        *,
        collateral: Collateral | None = None,
        ord_id: str | None = None,
        e_mode: bool = False,
        cl_ord_id: str | None = None,
    ) -> Borrowed:
        """Borrow ``amt`` of ``ccy``: open an order, or add to order ``ord_id``.

        Opening takes ``collateral``, 1 to 10 currencies of the funding account; adding
        takes it optionally (more collateral with the loan). ``e_mode`` is chosen when
        an order opens, never with ``ord_id``. Amounts are ``Decimal``, ``int`` or
        numeric ``str``, never ``float``. Limited to 2 requests per 2 s per user.

        Sent exactly once, as far as OKX can tell: the request carries ``cl_ord_id``
        (generated if not given), and after a lost answer it is resent with the same
        key while OKX remembers it; OKX recognises the resend. Past that, or at the
        call's deadline, :class:`~okx_async.OkxUnknownOutcomeError` carries the key to
        reconcile with. Example::

            opened = await okx.borrow("USDT", Decimal("500"), collateral={"BTC": "0.02"})
            print(opened.ord_id)
        """
        return await self._call(
            BORROW, ccy=ccy, amt=amt, collateral=collateral, ord_id=ord_id, e_mode=e_mode,
            cl_ord_id=cl_ord_id,
        )

    async def repay(
        self, ord_id: str, ccy: str, amt: Amount, *, cl_ord_id: str | None = None
    ) -> Repaid:
        """Repay ``amt`` of order ``ord_id``'s loan in ``ccy``, its borrowed currency.

        Repaying the whole outstanding amount closes the order. Sent exactly once as
        :meth:`borrow` is; limited to 2 requests per 2 s per user.
        """
        return await self._call(REPAY, ord_id=ord_id, ccy=ccy, amt=amt, cl_ord_id=cl_ord_id)

    async def adjust_collateral(
        self,
        type: Literal["add", "reduce"],
        collateral_ccy: str,
        collateral_amt: Amount,
        *,
        ord_id: str | None = None,
    ) -> None:
        """Add or release collateral of one order (the earliest without ``ord_id``).

        **Not idempotent**: OKX gives it no key. It is sent again only when it
        provably did not execute (no connection, 50011, 50102); after a timeout, a
        dropped connection, a 5xx or an answer that is not OKX's it raises
        :class:`~okx_async.OkxUnknownOutcomeError`: check :meth:`loan_history` before
        trying again (docs/errors.md). With no order to act on it raises
        :class:`~okx_async.OkxNoOrderError`. ``collateral_amt`` is a ``Decimal``,
        ``int`` or numeric ``str``; never a float.
        """
        await self._call(
            ADJUST_COLLATERAL, type=type, collateral_ccy=collateral_ccy,
            collateral_amt=collateral_amt, ord_id=ord_id,
        )
