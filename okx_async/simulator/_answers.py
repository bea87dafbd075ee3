"""Canned OKX answers: the JSON envelope, auth failures, throttling and faults."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import attrs
from aiohttp import web


@attrs.frozen
class Answer:
    """A canned HTTP answer plus the OKX code it carries, for the arrival log."""

    status: int
    code: str
    body: bytes
    content_type: str = "application/json"

    def response(self) -> web.Response:
        """A fresh response object (aiohttp responses are single-use)."""
        return web.Response(status=self.status, body=self.body, content_type=self.content_type)


def okx(status: int, code: str, msg: str, data: list[dict[str, Any]] | None = None) -> Answer:
    """An OKX-shaped JSON answer ``{"code", "msg", "data"}``."""
    payload = {"code": code, "msg": msg, "data": [] if data is None else data}
    return Answer(status, code, json.dumps(payload, separators=(",", ":")).encode())


def ok(data: list[dict[str, Any]]) -> Answer:
    """A successful answer carrying ``data``."""
    return okx(200, "0", "", data)


def bad_param(name: str) -> Answer:
    """OKX's answer to a parameter it refuses."""
    return okx(400, "51000", f"Parameter {name} error")


NOT_FOUND = okx(404, "50000", "Not found")
BAD_CCY = bad_param("ccy")
# OKX's code for a body that is not JSON; the simulator also answers it for a POST
# without ``Content-Type: application/json``.
BAD_JSON = okx(400, "50002", "Json data format error")
NO_PERMISSION = okx(200, "50120", "This API key doesn't have permission to use this function")
# OKX's error table: 51063 is "OrdId does not exist", the answer adjust-collateral's
# page gives with no order; the simulator also answers it for an ordId the user lacks.
NO_ORDER = okx(200, "51063", "OrdId does not exist")
# The clOrdId store's two answers. 51784 is named only on the borrow and repay pages;
# its message and HTTP status are the simulator's.
DUPLICATE = okx(200, "51016", "Client order ID already exists.")
IN_FLIGHT = okx(200, "51784", "A request with this clOrdId is still being processed.")


def not_together(first: str, second: str) -> Answer:
    """OKX's answer to two parameters that may not be sent together."""
    return okx(200, "50024", f"Parameter {first} and {second} can not exist at the same time.")


#: Collateral in the currency being borrowed.
LOAN_CCY_AS_COLLATERAL = okx(
    200, "51750", "The collateral cannot contain assets in the currency of the loan"
)


def not_lent(ccy: str) -> Answer:
    """A borrow currency Flexible Loan does not lend."""
    return okx(200, "51751", f"The currency {ccy} does not support borrowing")


def not_collateral(ccy: str) -> Answer:
    """A currency Flexible Loan does not take as collateral."""
    return okx(200, "51752", f"The currency {ccy} does not support collateralization")


# Approximate where OKX's own table is vague: 50106 for an empty OK-ACCESS-SIGN and
# 50107 for an empty OK-ACCESS-TIMESTAMP follow the documented 50103-50107 range.
MISSING_KEY = okx(401, "50103", "Request header OK-ACCESS-KEY cannot be empty.")
MISSING_PASSPHRASE = okx(401, "50104", "Request header OK-ACCESS-PASSPHRASE cannot be empty.")
MISSING_SIGN = okx(401, "50106", "Request header OK-ACCESS-SIGN cannot be empty.")
MISSING_TIMESTAMP = okx(401, "50107", "Request header OK-ACCESS-TIMESTAMP cannot be empty.")
UNKNOWN_KEY = okx(401, "50111", "Invalid OK-ACCESS-KEY.")
BAD_TIMESTAMP = okx(401, "50112", "Invalid OK-ACCESS-TIMESTAMP.")
EXPIRED = okx(401, "50102", "Timestamp request expired.")
BAD_PASSPHRASE = okx(401, "50105", "Request header OK-ACCESS-PASSPHRASE incorrect.")
WRONG_ENVIRONMENT = okx(401, "50101", "APIKey does not match current environment.")
BAD_SIGN = okx(401, "50113", "Invalid Sign.")

THROTTLED: Final[Mapping[str, Answer]] = {
    # Today's answer has no "data" key at all, which trips clients that index it.
    "modern": Answer(429, "50011", b'{"msg":"Too Many Requests","code":"50011"}'),
    "legacy-200": okx(200, "50011", "Requests too frequent."),
    "legacy-int": Answer(200, "50011", b'{"code":50011,"msg":"Requests too frequent.","data":[]}'),
}

HTML_502 = Answer(
    502,
    "",
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    content_type="text/html",
)
# Executed, then answered 200 with a cut-off body: not JSON, no OKX code to read.
GARBLED = Answer(200, "", b'{"code":"0","msg":"","data":[{"ordId":"')
SERVER_ERROR = okx(503, "50001", "Service temporarily unavailable")
BUSY = okx(429, "50013", "Systems are busy. Please try again later.")
DROP = Answer(0, "", b"")
