"""Each typed method is its endpoint's data plus one line: the two cannot drift apart."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from okx_async import OkxClient
from okx_async import _endpoints as endpoints
from okx_async._endpoints import TYPED, Endpoint
from okx_async._pipeline import Pipeline

#: Every public method that sends one request, with its endpoint.
METHODS: dict[str, Endpoint[Any]] = {
    "borrow_currencies": endpoints.BORROW_CURRENCIES,
    "collateral_assets": endpoints.COLLATERAL_ASSETS,
    "max_loan": endpoints.MAX_LOAN,
    "max_collateral_redeem_amount": endpoints.MAX_COLLATERAL_REDEEM_AMOUNT,
    "adjust_collateral": endpoints.ADJUST_COLLATERAL,
    "loan_info": endpoints.LOAN_INFO,
    "loan_history": endpoints.LOAN_HISTORY,
    "interest_accrued": endpoints.INTEREST_ACCRUED,
    "borrow": endpoints.BORROW,
    "repay": endpoints.REPAY,
}
#: Endpoints the client uses on its own, with no method of their own.
INTERNAL: list[Endpoint[Any]] = [endpoints.ACCOUNT_CONFIG, endpoints.PUBLIC_TIME]


def _route(endpoint: Endpoint[Any]) -> tuple[str, str]:
    return endpoint.method, endpoint.path


def test_every_typed_endpoint_has_a_method() -> None:
    assert set(TYPED) == {_route(e) for e in [*METHODS.values(), *INTERNAL]}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_methods_parameters_are_its_endpoints(name: str) -> None:
    endpoint = METHODS[name]
    signature = inspect.signature(getattr(OkxClient, name))
    params = {n: p for n, p in signature.parameters.items() if n != "self"}
    assert set(params) == set(endpoint.params), name
    for param_name, param in params.items():
        required = param.default is inspect.Parameter.empty
        assert required is endpoint.params[param_name].required, (name, param_name)


class _Recorder(Pipeline):
    """Keeps what a method hands to the pipeline instead of sending it."""

    def __init__(self) -> None:  # no client, no network: only the hand-over is looked at
        self.calls: list[tuple[Endpoint[Any], dict[str, Any]]] = []

    async def call(self, endpoint: Endpoint[Any], wire: Any) -> Any:
        self.calls.append((endpoint, dict(wire)))
        raise _Stop


class _Stop(Exception):
    pass


def _argument(name: str) -> object:
    """A valid, distinctive value for each parameter name the family uses."""
    values: dict[str, object] = {
        "ccy": "BTC", "borrow_ccy": "USDT", "ord_id": "123", "type": "add",
        "collateral_ccy": "ETH", "collateral_amt": "0.5", "after": "1", "before": "2",
        "limit": 7, "sup_collateral": {"SOL": "3"}, "amt": "10", "collateral": {"BTC": "1"},
        "e_mode": True, "cl_ord_id": "key1",
    }
    return values[name]


@pytest.mark.parametrize("name", sorted(METHODS))
async def test_a_method_passes_every_argument_under_its_own_name(name: str) -> None:
    client = OkxClient.__new__(OkxClient)
    recorder = client._pipeline = _Recorder()
    method: Callable[..., Awaitable[Any]] = getattr(client, name)
    params = METHODS[name].params
    kwargs = {n: _argument(n) for n in params if n != "type" or name == "adjust_collateral"}
    if name == "loan_history":
        kwargs["type"] = "borrowed"
    if name == "borrow":
        del kwargs["ord_id"]  # e_mode is chosen when an order opens, not with ord_id
    with pytest.raises(_Stop):
        await method(**kwargs)
    (endpoint, wire), = recorder.calls
    assert endpoint is METHODS[name]
    assert set(wire) == {params[n].into or params[n].wire for n in kwargs}
