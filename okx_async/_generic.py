"""Any OKX v5 endpoint as data, built from a method, a path and parameters at call time.

:meth:`~okx_async.OkxClient.request` turns its arguments into an
:class:`~okx_async._endpoints.Endpoint` here, checking everything before anything
is sent; the endpoint then takes the same path as a typed call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ._endpoints import TYPED, Endpoint
from ._params import plain_amount
from ._request import Kind
from ._window import RateLimit

#: Where OKX states each endpoint's limit, for the message that asks for ``rule=``.
LIMITS_DOC = "https://www.okx.com/docs-v5/en/"
#: OKX's public REST endpoints: unsigned, limited per IP.
PUBLIC_PREFIXES = ("/api/v5/public/", "/api/v5/market/", "/api/v5/system/")
#: The idempotency key OKX's writes carry, where they carry one.
KEY_PARAM = "clOrdId"
_PATH = re.compile(r"/api/v5/[A-Za-z0-9/_-]+")

Data = list[dict[str, Any]]


def prepare(
    method: str, path: str, params: Mapping[str, object] | None, *, rule: RateLimit | None,
    write: bool | None, rate_limits: Mapping[str, RateLimit],
) -> tuple[Endpoint[Data], dict[str, Any]]:
    """The endpoint and the wire parameters of one ``request()`` call.

    Raises ``TypeError``/``ValueError`` before anything is sent.
    """
    found = _endpoint(method, path, rule=rule, write=write, rate_limits=rate_limits)
    sent = wire(found.method, params)
    if found.kind is Kind.UNKEYED_WRITE and KEY_PARAM in sent:
        # A POST carrying clOrdId is a keyed write: resent only while OKX remembers it.
        found = Endpoint(
            found.method, found.path, found.rule, _as_dicts, private=found.private,
            per_user=found.per_user, kind=Kind.KEYED_WRITE, key_param=KEY_PARAM,
            confirmed=_confirmed,
        )
    return found, sent


def _endpoint(
    method: str, path: str, *, rule: RateLimit | None, write: bool | None,
    rate_limits: Mapping[str, RateLimit],
) -> Endpoint[Data]:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    method = method.upper()
    if method not in ("GET", "POST"):
        raise ValueError(f"method must be GET or POST (OKX v5 REST uses no other), got {method!r}")
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not _PATH.fullmatch(path):
        raise ValueError(
            f"path must be an OKX v5 path such as '/api/v5/account/balance', without host or "
            f"query (pass the query as params), got {path!r:.80}"
        )
    if rule is not None and not isinstance(rule, RateLimit):
        raise TypeError(f"rule must be an okx_async.RateLimit, not {type(rule).__name__}")
    if write is not None and not isinstance(write, bool):
        raise TypeError("write must be True, False or None")
    known = TYPED.get((method, path))
    if known is not None:
        return _known(known, rule, write, rate_limits)
    rule = rate_limits.get(path, rule)
    if rule is None:
        raise ValueError(
            f"okx-async does not know the rate limit of {method} {path}: pass rule=RateLimit(n, "
            f"seconds) as OKX states it under 'Rate Limit' on the endpoint's page ({LIMITS_DOC})"
        )
    public = path.startswith(PUBLIC_PREFIXES)
    kind = Kind.READ if method == "GET" or write is False else Kind.UNKEYED_WRITE
    return Endpoint(
        method, path, rule, _as_dicts, private=not public, per_user=not public, kind=kind,
    )


def _known(
    known: Endpoint[Any], rule: RateLimit | None, write: bool | None,
    rate_limits: Mapping[str, RateLimit],
) -> Endpoint[Data]:
    """A typed endpoint's path: its rule, budget and kind apply, whatever is passed."""
    applied = rate_limits.get(known.path, known.rule)
    if rule is not None and rule != applied:
        raise ValueError(
            f"{known.method} {known.path} is limited to {applied.requests} per "
            f"{applied.window:g} s, which the client applies; to change it, pass "
            f"OkxClient(rate_limits={{{known.path!r}: rule}})"
        )
    if write is not None and write != (known.kind is not Kind.READ):
        what = "a read" if known.kind is Kind.READ else "a write"
        raise ValueError(f"{known.method} {known.path} is {what} on OKX's pages")
    return Endpoint(
        known.method, known.path, known.rule, _as_dicts, private=known.private,
        per_user=known.per_user, kind=known.kind, key_param=known.key_param,
        confirmed=_confirmed if known.key_param else None,
    )


def wire(method: str, params: Mapping[str, object] | None) -> dict[str, Any]:
    """``params`` as they go out: a GET's as query text, a POST's as JSON values.

    ``None`` values are left out. A ``float`` is refused anywhere: it cannot hold most
    amounts exactly. A ``Decimal`` goes as plain decimal text (never ``1E+2``).
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, not {type(params).__name__}")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"parameter names must be str, got {name!r:.40}")
        if value is None:
            continue
        out[name] = (
            _query_value(name, value) if method.upper() == "GET" else _json_value(name, value)
        )
    return out


def _query_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal, float)):
        return str(_scalar(name, value))
    raise TypeError(
        f"GET parameter {name} must be a str, int, Decimal or bool, not {type(value).__name__}"
    )


def _json_value(name: str, value: object) -> Any:
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (int, Decimal, float)):
        return _scalar(name, value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_json_value(f"{name}[{i}]", v) for i, v in enumerate(value)]
    raise TypeError(f"parameter {name} cannot go in JSON: {type(value).__name__}")


def _scalar(name: str, value: object) -> str | int:
    if isinstance(value, float):
        raise TypeError(
            f"parameter {name} is a float, which cannot hold most amounts exactly: "
            "pass a Decimal or a str"
        )
    if isinstance(value, Decimal):
        return plain_amount(value, name)
    assert isinstance(value, int)
    return value


def _as_dicts(data: Sequence[Mapping[str, Any]]) -> Data:
    return [dict(item) for item in data]


def _confirmed(sent: Mapping[str, Any]) -> Data:
    """OKX's first answer was lost; what was sent, marked as confirmed by the duplicate."""
    return [{**sent, "confirmedByDuplicate": True}]
