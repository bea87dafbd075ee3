"""The Flexible Loan reads as typed methods of :class:`~okx_async.OkxClient`.

Each method names its endpoint (``_endpoints.py``: path, rule, parameter checks,
result) and passes its arguments through :meth:`TypedCalls._call` to the pipeline
(``_pipeline.py``). A test checks that every method's parameters are its endpoint's.
The writes are in ``_writes.py``.

An account holds loan orders. Without ``ord_id``, the reads that act on one order
(max-redeem, max-loan, collateral) use the order with the earliest start time, and
those that list (loan-info, history, interest) cover every order. An account with no
order is an ordinary state: the single-item reads return ``None``, the lists ``[]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from ._endpoints import (
    BORROW_CURRENCIES,
    COLLATERAL_ASSETS,
    INTEREST_ACCRUED,
    LOAN_HISTORY,
    LOAN_INFO,
    MAX_COLLATERAL_REDEEM_AMOUNT,
    MAX_LOAN,
    Endpoint,
)
from ._errors import NO_ORDER, OkxNoOrderError
from ._fanout import fan_out, width
from ._models import (
    BorrowCurrency,
    CollateralAsset,
    CurrencyAmount,
    InterestAccrued,
    LoanHistoryEntry,
    LoanOrder,
    MaxCollateralRedeemAmount,
    MaxLoan,
)
from ._params import MAX_PAGE, check_ccy, check_id
from ._pipeline import Pipeline

T = TypeVar("T")

Amount = Decimal | int | str
#: Extra collateral for :meth:`max_loan`: ``{"BTC": Decimal("0.5")}`` or pairs.
SupCollateral = Mapping[str, Amount] | Iterable[tuple[str, Amount] | CurrencyAmount]


class _Paged(Protocol):
    @property
    def ref_id(self) -> str: ...


P = TypeVar("P", bound=_Paged)


class TypedCalls:
    """What a typed method needs: the client's pipeline. Set by ``OkxClient.__init__``."""

    _pipeline: Pipeline
    _fanout_concurrency: int

    def _call(self, endpoint: Endpoint[T], **args: object) -> Coroutine[Any, Any, T]:
        """Check ``args`` against the endpoint (before any request); the call, to await."""
        return self._pipeline.call(endpoint, endpoint.wire(args))

    def _workers(self, endpoint: Endpoint[Any]) -> int:
        """How many requests of a fan-out on ``endpoint`` run at once.

        While the user id is still to be looked up, every worker waits for that one
        lookup and shares its outcome, so the fan-out starts as many as it may.
        """
        if not self._pipeline.knows_user(endpoint):
            return self._fanout_concurrency
        return width(self._fanout_concurrency, self._pipeline.rule(endpoint).requests)


class LoanReads(TypedCalls):
    """The reads of ``/api/v5/finance/flexible-loan/``, as part of ``OkxClient``.

    Amounts come back as ``Decimal`` and timestamps as aware UTC ``datetime``.
    Every argument is checked before any request (``TypeError``/``ValueError``).
    Each endpoint has its own budget per user ID, so a fan-out on one never slows
    another.
    """

    # Reads -------------------------------------------------------------------------

    async def borrow_currencies(self) -> list[BorrowCurrency]:
        """The currencies Flexible Loan lends."""
        return await self._call(BORROW_CURRENCIES)

    async def collateral_assets(
        self, ccy: str | None = None, *, ord_id: str | None = None
    ) -> list[CollateralAsset]:
        """The collateral of one order (the earliest without ``ord_id``); ``[]`` with no order.

        Currency, amount and USD value of each; one currency if ``ccy`` is given.
        """
        return await self._call(COLLATERAL_ASSETS, ccy=ccy, ord_id=ord_id)

    async def max_loan(
        self,
        borrow_ccy: str,
        sup_collateral: SupCollateral | None = None,
        *,
        ord_id: str | None = None,
    ) -> MaxLoan | None:
        """How much more of ``borrow_ccy`` one order could borrow, with optional extra collateral.

        The earliest order without ``ord_id``; ``None`` when the account has no order.
        A POST, but a read (Read permission): it changes nothing and is retried like a GET.

        Example::

            headroom = await okx.max_loan("USDT", {"BTC": Decimal("0.1")})
        """
        return await self._call(
            MAX_LOAN, borrow_ccy=borrow_ccy, sup_collateral=sup_collateral, ord_id=ord_id
        )

    async def max_collateral_redeem_amount(
        self, ccy: str, *, ord_id: str | None = None
    ) -> MaxCollateralRedeemAmount | None:
        """How much of collateral ``ccy`` can be redeemed from one order now.

        The earliest order without ``ord_id``; ``None`` when the account has no order.
        :meth:`max_collateral_redeem_amounts_by_order` asks every order at once.
        """
        return await self._call(MAX_COLLATERAL_REDEEM_AMOUNT, ccy=ccy, ord_id=ord_id)

    async def max_collateral_redeem_amounts(
        self,
        ccys: Iterable[str] | None = None,
        *,
        ord_id: str | None = None,
        on_result: Callable[[str, MaxCollateralRedeemAmount | Exception | None], None]
        | None = None,
    ) -> dict[str, MaxCollateralRedeemAmount | None]:
        """Query many currencies of one order at once; the limiter queues them within the rule.

        The earliest order without ``ord_id``; each value is ``None`` when the account
        has no order. Without ``ccys``, every currency of that order's collateral
        (:meth:`collateral_assets`, one request more). Keys come back in the
        caller's order, each currency queried once. If any fails,
        :class:`~okx_async.OkxBatchError` carries every success in ``.results``
        and every failure in ``.errors``.

        ``on_result(ccy, result_or_error)`` is called as each currency completes. An
        exception it raises stops nothing: the fan-out runs to the end, the result
        stays in the outcome, and the exception is raised then, in
        :class:`~okx_async.OkxBatchError` ``.callback_errors`` (with every result in
        ``.results``).
        """
        endpoint = MAX_COLLATERAL_REDEEM_AMOUNT
        if ccys is None:
            unique = [asset.ccy for asset in await self.collateral_assets(ord_id=ord_id)]
        else:
            if isinstance(ccys, (str, bytes)):
                raise TypeError("ccys must be an iterable of currency codes, not a single string")
            unique = list(dict.fromkeys(check_ccy(ccy) for ccy in ccys))
            if ord_id is not None:
                check_id(ord_id, "ord_id")
        if not unique:
            return {}
        # Every argument is checked once, here, before any request: each item's wire
        # is the first one's with its own currency.
        first = endpoint.wire({"ccy": unique[0], "ord_id": ord_id})
        ccy_name = endpoint.params["ccy"].wire
        call = self._pipeline.call

        def one(ccy: str) -> Coroutine[Any, Any, MaxCollateralRedeemAmount | None]:
            # The pipeline's own coroutine, awaited by the worker: no layer of ours.
            return call(endpoint, {**first, ccy_name: ccy})

        return await fan_out(one, unique, on_result, self._workers(endpoint))

    async def max_collateral_redeem_amounts_by_order(
        self,
        *,
        on_result: Callable[[tuple[str, str], MaxCollateralRedeemAmount | Exception], None]
        | None = None,
    ) -> dict[tuple[str, str], MaxCollateralRedeemAmount]:
        """How much of each collateral currency of every order can be redeemed now.

        Keys are ``(ord_id, ccy)`` for every order :meth:`loan_info` lists (one
        request) and every currency of its collateral, in that order; ``{}`` with no
        order. Failures and ``on_result`` behave as in
        :meth:`max_collateral_redeem_amounts`; an order closed meanwhile fails its
        currencies with :class:`~okx_async.OkxNoOrderError`.
        """
        pairs = [
            (order.ord_id, held.ccy)
            for order in await self.loan_info() for held in order.collateral_data
        ]

        endpoint = MAX_COLLATERAL_REDEEM_AMOUNT

        async def one(pair: tuple[str, str]) -> MaxCollateralRedeemAmount:
            ord_id, ccy = pair
            result = await self._call(endpoint, ccy=ccy, ord_id=ord_id)
            if result is None:
                raise OkxNoOrderError(NO_ORDER, f"order {ord_id} is gone")
            return result

        return await fan_out(one, pairs, on_result, self._workers(endpoint))

    async def loan_info(self, *, ord_id: str | None = None) -> list[LoanOrder]:
        """Every open loan order (just one with ``ord_id``); ``[]`` with none.

        Each with its loan, its collateral, their LTVs and the liquidation price if any.
        """
        return await self._call(LOAN_INFO, ord_id=ord_id)

    # History: single pages and iterators ---------------------------------------------

    async def loan_history(
        self,
        type: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
        *,
        ord_id: str | None = None,
    ) -> list[LoanHistoryEntry]:
        """One page of loan events of every order (one with ``ord_id``), newest first.

        ``type`` filters by event type: one of :data:`~okx_async.HISTORY_TYPES`, or a
        newer one OKX added. ``after``/``before`` are ``ref_id`` cursors: entries older
        / newer than it.
        ``limit`` is 1 to 100 (OKX's default 100). :meth:`iter_loan_history` walks
        every page.
        """
        return await self._call(
            LOAN_HISTORY, type=type, after=after, before=before, limit=limit, ord_id=ord_id
        )

    async def interest_accrued(
        self,
        ccy: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
        *,
        ord_id: str | None = None,
    ) -> list[InterestAccrued]:
        """One page of interest records, newest first; paged like :meth:`loan_history`."""
        return await self._call(
            INTEREST_ACCRUED, ccy=ccy, after=after, before=before, limit=limit, ord_id=ord_id
        )

    def iter_loan_history(
        self,
        type: str | None = None,
        *,
        after: str | None = None,
        before: str | None = None,
        page_size: int = MAX_PAGE,
        ord_id: str | None = None,
    ) -> AsyncIterator[LoanHistoryEntry]:
        """Every loan event older than ``after`` (newest first), page by page.

        Each page is one request through the limiter. Stop early with ``break``;
        cancelling mid-page frees the slot like any cancelled request::

            async for entry in okx.iter_loan_history("collateral_released"):
                print(entry.ts, entry.ccy, entry.amt)
        """
        return self._walk(
            LOAN_HISTORY, page_size, type=type, after=after, before=before, ord_id=ord_id
        )

    def iter_interest_accrued(
        self,
        ccy: str | None = None,
        *,
        after: str | None = None,
        before: str | None = None,
        page_size: int = MAX_PAGE,
        ord_id: str | None = None,
    ) -> AsyncIterator[InterestAccrued]:
        """Every interest record older than ``after`` (newest first), page by page."""
        return self._walk(
            INTEREST_ACCRUED, page_size, ccy=ccy, after=after, before=before, ord_id=ord_id
        )

    async def _walk(
        self, endpoint: Endpoint[list[P]], page_size: int, **args: Any
    ) -> AsyncIterator[P]:
        # Checked at the first step, before its request; a page shorter than asked is the end.
        endpoint.wire({**args, "limit": page_size})
        while True:
            page = await self._call(endpoint, **args, limit=page_size)
            for entry in page:
                yield entry
            if len(page) < page_size:
                return
            args["after"] = page[-1].ref_id
