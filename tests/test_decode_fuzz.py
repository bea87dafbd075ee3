"""Property tests of the decoder: any answer gives a valid model or an OkxError, nothing else."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from canned import through_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okx_async import MaxCollateralRedeemAmount, OkxAPIError, OkxError

# A fixed budget and a fixed seed: CI runs the same examples every time.
BUDGET = settings(
    max_examples=400, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
amount_texts = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{0,40})?([eE][+-]?[0-9]{1,12})?", fullmatch=True),
    st.text(max_size=12),
)
codes = st.one_of(st.just("0"), st.just(0), st.sampled_from(["50011", "50013", "51000"]),
                  st.integers(), st.text(max_size=6), json_values)
items = st.fixed_dictionaries(
    {},
    optional={
        "ccy": st.one_of(st.text(max_size=8), json_values),
        "maxRedeemAmt": st.one_of(amount_texts, json_values),
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": codes,
        "msg": st.one_of(st.text(max_size=10), json_values),
        "data": st.one_of(st.lists(items, max_size=3), json_values),
    },
)
statuses = st.sampled_from([200, 400, 401, 429, 500, 502, 503])


def redeem(status: int, body: bytes) -> MaxCollateralRedeemAmount | None:
    """What ``max_collateral_redeem_amount`` returns or raises when OKX answers this."""
    return through_client(status, body, lambda okx: okx.max_collateral_redeem_amount("BTC"))


def check(status: int, body: bytes) -> None:
    try:
        result = redeem(status, body)
    except OkxError as exc:
        if isinstance(exc, OkxAPIError):
            assert isinstance(exc.code, str)
            assert exc.code != "0"
        return
    if result is None:  # an empty 'data': the account has no loan order
        return
    assert isinstance(result.ccy, str)
    assert isinstance(result.max_redeem_amt, Decimal)
    assert result.max_redeem_amt.is_finite()


@BUDGET
@given(statuses, st.binary(max_size=200))
def test_arbitrary_bytes(status: int, body: bytes) -> None:
    check(status, body)


@BUDGET
@given(statuses, json_values)
def test_json_of_any_shape(status: int, value: Any) -> None:
    check(status, json.dumps(value).encode())


@BUDGET
@given(statuses, envelopes)
def test_envelopes_with_missing_keys_and_odd_values(status: int, envelope: Any) -> None:
    check(status, json.dumps(envelope).encode())


@BUDGET
@given(amount_texts)
def test_amounts_are_kept_exactly_or_refused(amount: str) -> None:
    body = json.dumps({"code": "0", "msg": "", "data": [{"ccy": "BTC", "maxRedeemAmt": amount}]})
    try:
        result = redeem(200, body.encode())
    except OkxError:
        return
    assert result is not None
    assert result.max_redeem_amt == Decimal(amount)
    assert str(result.max_redeem_amt) == str(Decimal(amount))


def test_huge_integer_code_is_an_error_not_a_crash() -> None:
    check(200, b'{"code": ' + b"9" * 5000 + b', "data": []}')
    check(200, b"[" * 100_000)
