"""Signing, credentials and the decoder: the pure code below and above the network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
from decimal import Decimal

import pytest
from canned import through_client

from okx_async import (
    Credentials,
    MaxCollateralRedeemAmount,
    OkxAPIError,
    OkxAuthError,
    OkxConfigError,
    OkxParameterError,
    OkxRateLimitError,
    OkxResponseError,
    OkxServerBusyError,
)
from okx_async._signing import Signer, json_body, okx_timestamp
from okx_async.simulator import _auth as simulator_auth
from okx_async.simulator._auth import expected_signature, timestamp_seconds

PATH = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount?ccy=USDT"


# The inputs are the signing example of OKX's public v5 API docs (secret key, timestamp
# and request); the result was computed outside this project with two independent HMAC
# implementations, not with the code under test.
VECTOR_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
VECTOR_TIMESTAMP = "2020-12-08T09:08:57.715Z"
VECTOR_SIGNATURE = "Wvt0FapRswI+W5bH5k/piyyltF2TlD5tt4YA0O7n5ys="


def test_signature_matches_the_pinned_vector() -> None:
    secret, expected = VECTOR_SECRET, VECTOR_SIGNATURE
    signer = Signer(secret)
    # The keyed state is copied per request, so signing twice gives the same answer.
    assert signer.sign("2020-12-08T09:08:57.715Z", "GET", PATH) == expected
    assert signer.sign("2020-12-08T09:08:57.715Z", "get", PATH) == expected
    assert secret not in repr(signer)


def test_the_simulator_checks_signatures_with_its_own_hmac() -> None:
    # The simulator must not share the client's signer, or auth tests would be circular.
    source = inspect.getsource(simulator_auth)
    assert "okx_async._signing" not in source and "from .." not in source
    assert expected_signature(VECTOR_SECRET, VECTOR_TIMESTAMP, "GET", PATH) == VECTOR_SIGNATURE
    assert timestamp_seconds(VECTOR_TIMESTAMP) == pytest.approx(1607418537.715)
    for malformed in ("2020-12-08T09:08:57Z", "2020-12-08 09:08:57.715Z",
                      "2020-13-08T09:08:57.715Z"):
        assert timestamp_seconds(malformed) is None


# A POST vector. Secret key and timestamp are OKX's documented signing example (above);
# the path and compact body are a max-loan request as OKX's Flexible Loan docs give it. The
# result was computed outside this project with `openssl dgst -sha256 -hmac KEY -binary | base64`
# and is recomputed below with hashlib alone, not with the code under test.
POST_PATH = "/api/v5/finance/flexible-loan/max-loan"
POST_BODY = b'{"borrowCcy":"USDT","supCollateral":[{"ccy":"BTC","amt":"0.5"}]}'
POST_SIGNATURE = "WHSKbINPON1+TdQUTtUAbQ9gdgCno4hZTGKJ59E2ym8="


def test_post_signature_matches_the_pinned_vector() -> None:
    prehash = (VECTOR_TIMESTAMP + "POST" + POST_PATH).encode() + POST_BODY
    digest = hmac.new(VECTOR_SECRET.encode(), prehash, hashlib.sha256).digest()
    assert base64.b64encode(digest).decode() == POST_SIGNATURE

    assert Signer(VECTOR_SECRET).sign(VECTOR_TIMESTAMP, "POST", POST_PATH, POST_BODY) == (
        POST_SIGNATURE
    )
    assert Signer(VECTOR_SECRET).sign(
        VECTOR_TIMESTAMP, "post", POST_PATH, POST_BODY.decode()
    ) == POST_SIGNATURE
    assert expected_signature(
        VECTOR_SECRET, VECTOR_TIMESTAMP, "POST", POST_PATH, POST_BODY
    ) == POST_SIGNATURE


def test_post_bodies_are_compact_json_in_the_given_order() -> None:
    params = {"borrowCcy": "USDT", "supCollateral": [{"ccy": "BTC", "amt": "0.5"}]}
    assert json_body(params) == POST_BODY
    # A space changes the signature: what is signed must be exactly what is sent.
    spaced = json.dumps(params).encode()
    assert spaced != POST_BODY
    assert Signer(VECTOR_SECRET).sign(VECTOR_TIMESTAMP, "POST", POST_PATH, spaced) != (
        POST_SIGNATURE
    )


def test_signature_covers_the_query() -> None:
    ts = "2020-12-08T09:08:57.715Z"
    signer = Signer("k")
    assert signer.sign(ts, "GET", PATH) != signer.sign(ts, "GET", PATH.replace("USDT", "BTC"))


def test_timestamp_format() -> None:
    assert okx_timestamp(1607418537.715) == "2020-12-08T09:08:57.715Z"
    assert okx_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert timestamp_seconds(okx_timestamp(1607418537.715)) == pytest.approx(1607418537.715)


def test_credentials_hide_their_secrets() -> None:
    creds = Credentials("my-key", "s3cret-value", "pass-phrase")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "my-key" in text
        assert "s3cret-value" not in text
        assert "pass-phrase" not in text


def test_credentials_from_env_names_every_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKX_API_KEY", "k")
    monkeypatch.delenv("OKX_SECRET_KEY", raising=False)
    monkeypatch.setenv("OKX_PASSPHRASE", "")
    with pytest.raises(OkxConfigError) as caught:
        Credentials.from_env()
    assert "OKX_SECRET_KEY" in str(caught.value)
    assert "OKX_PASSPHRASE" in str(caught.value)
    monkeypatch.setenv("OKX_SECRET_KEY", "s")
    monkeypatch.setenv("OKX_PASSPHRASE", "p")
    assert Credentials.from_env() == Credentials("k", "s", "p")


def test_credentials_refuse_empty_and_non_strings() -> None:
    with pytest.raises(OkxConfigError):
        Credentials("k", "", "p")
    with pytest.raises(TypeError):
        Credentials("k", b"s", "p")  # type: ignore[arg-type]


def _redeem(status: int, body: bytes) -> MaxCollateralRedeemAmount | None:
    """What ``max_collateral_redeem_amount`` makes of this answer, sent once."""
    return through_client(status, body, lambda okx: okx.max_collateral_redeem_amount("USDT"))


def _answer(status: int, envelope: object) -> MaxCollateralRedeemAmount:
    result = _redeem(status, json.dumps(envelope).encode())
    assert result is not None
    return result


def test_empty_data_is_no_order_not_a_broken_answer() -> None:
    assert _redeem(200, b'{"code": "0", "msg": "", "data": []}') is None


def test_decodes_the_documented_answer() -> None:
    body = {"code": "0", "msg": "", "data": [{"ccy": "USDT", "maxRedeemAmt": "1"}]}
    assert _answer(200, body) == MaxCollateralRedeemAmount("USDT", Decimal("1"))


def test_amounts_keep_every_digit() -> None:
    body = {"code": "0", "data": [{"ccy": "BTC", "maxRedeemAmt": "12345.678901234567890123"}]}
    assert _answer(200, body).max_redeem_amt == Decimal("12345.678901234567890123")


@pytest.mark.parametrize(
    ("status", "envelope", "error", "code"),
    [
        (429, {"msg": "Too Many Requests", "code": "50011"}, OkxRateLimitError, "50011"),
        (200, {"msg": "Requests too frequent.", "code": 50011, "data": []}, OkxRateLimitError,
         "50011"),
        (429, {"code": "50013", "msg": "busy", "data": []}, OkxServerBusyError, "50013"),
        (401, {"code": "50113", "msg": "Invalid Sign", "data": []}, OkxAuthError, "50113"),
        (400, {"code": "51000", "msg": "Parameter ccy error"}, OkxParameterError, "51000"),
        (400, {"code": "59999", "msg": "other"}, OkxAPIError, "59999"),
    ],
)
def test_error_codes_map_to_typed_errors(
    status: int, envelope: object, error: type[OkxAPIError], code: str
) -> None:
    with pytest.raises(error) as caught:
        _answer(status, envelope)
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.http_status) == (code, status)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
        b'{"code": "0", "data": [',
        b"[]",
        b'{"code": "0"}',
        b'{"code": "0", "data": [{}, {}]}',
        b'{"code": "0", "data": [{"ccy": "BTC"}]}',
        b'{"code": "0", "data": [{"ccy": "BTC", "maxRedeemAmt": 1.5}]}',
        b'{"code": "0", "data": [{"ccy": "BTC", "maxRedeemAmt": "abc"}]}',
        b'{"code": "0", "data": [{"ccy": "BTC", "maxRedeemAmt": "NaN"}]}',
        b'{"code": "0", "data": [{"ccy": "BTC", "maxRedeemAmt": "Infinity"}]}',
        b'{"code": null, "data": []}',
        b'{"code": true, "data": []}',
    ],
)
def test_malformed_answers_are_response_errors(body: bytes) -> None:
    with pytest.raises(OkxResponseError):
        _redeem(200, body)
