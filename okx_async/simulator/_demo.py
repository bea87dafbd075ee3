"""Simulator keys, the public fake demo credentials, and the default amounts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import attrs

from .._credentials import Credentials
from ._orders import OrderSeed


@attrs.frozen
class SimKey:
    """What the simulator knows about one API key: secrets, user, environment, permissions.

    ``demo=True`` requires the header ``x-simulated-trading: 1``, ``demo=False`` forbids
    it and ``None`` accepts both. ``perm`` is OKX's comma-separated list; without
    ``trade`` a Trade endpoint (adjust-collateral, borrow, repay) answers ``50120``::

        >>> SimKey("secret", "pass", uid="42", demo=True)
        SimKey(uid='42', demo=True, perm='read_only')
    """

    secret_key: str = attrs.field(repr=False)
    passphrase: str = attrs.field(repr=False)
    uid: str
    demo: bool | None = None
    perm: str = "read_only"


#: The user that owns both demo keys.
DEMO_UID = "1000001"
_OTHER_UID = "1000002"

# These are public, fake test values. They are not OKX keys, and they only work
# against this simulator.
DEMO_CREDENTIALS = Credentials("demo-key-1", "DEMO-SECRET-1-FAKE", "demo-passphrase-1")
DEMO_CREDENTIALS_2 = Credentials("demo-key-2", "DEMO-SECRET-2-FAKE", "demo-passphrase-2")
OTHER_USER_CREDENTIALS = Credentials("other-key-1", "OTHER-SECRET-1-FAKE", "other-passphrase-1")


def _sim_key(credentials: Credentials, uid: str, perm: str = "read_only") -> SimKey:
    """The SimKey matching ``credentials``, owned by ``uid``."""
    return SimKey(credentials.secret_key, credentials.passphrase, uid, perm=perm)


#: Two keys of the user ``DEMO_UID`` and one key of another user. ``DEMO_CREDENTIALS``
#: is read-only; ``DEMO_CREDENTIALS_2`` may also trade (adjust collateral), as
#: ``OTHER_USER_CREDENTIALS`` may.
DEMO_KEYS: Mapping[str, SimKey] = MappingProxyType(
    {
        DEMO_CREDENTIALS.api_key: _sim_key(DEMO_CREDENTIALS, DEMO_UID),
        DEMO_CREDENTIALS_2.api_key: _sim_key(DEMO_CREDENTIALS_2, DEMO_UID, "read_only,trade"),
        OTHER_USER_CREDENTIALS.api_key: _sim_key(
            OTHER_USER_CREDENTIALS, _OTHER_UID, "read_only,trade"
        ),
    }
)
#: The demo key that may trade, for adjust-collateral, borrow and repay.
TRADE_CREDENTIALS = DEMO_CREDENTIALS_2

#: ``maxRedeemAmt`` per currency, as strings exactly as OKX sends them. ``SHIB`` has more
#: decimal places than a float keeps and ``LUNC`` is zero, so a client that parses
#: amounts into floats or treats "0" as missing shows up.
DEFAULT_AMOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "USDT": "1",
        "USDC": "250.5",
        "BTC": "0.5",
        "ETH": "3.2",
        "SOL": "42.75",
        "XRP": "1500",
        "DOGE": "98765.4321",
        "ADA": "3210.5",
        "TRX": "10000",
        "TON": "120.25",
        "DOT": "88.8",
        "LTC": "7.125",
        "BCH": "2.5",
        "LINK": "64.3",
        "AVAX": "33.33",
        "MATIC": "900",
        "POL": "905.5",
        "ATOM": "55.1",
        "UNI": "77.7",
        "XLM": "4200",
        "ETC": "19.9",
        "FIL": "150",
        "APT": "45.6",
        "ARB": "1234.5",
        "OP": "432.1",
        "NEAR": "210",
        "SUI": "333.3",
        "PEPE": "123456789",
        "OKB": "12.5",
        "DAI": "500",
        "SHIB": "12345.678901234567890123",
        "LUNC": "0",
    }
)

#: The collateral of the demo account's first order, which borrowed 1000 USDT; the
#: rest of :data:`DEFAULT_AMOUNTS` backs the second order, which borrowed 500 USDC.
#: (An order cannot hold its own loan currency, so USDC is here and USDT there.)
_FIRST_ORDER = (
    "USDC", "BTC", "ETH", "XRP", "DOGE", "ADA", "TRX", "TON", "DOT", "LTC", "BCH", "LINK",
    "AVAX", "MATIC", "POL", "ATOM", "SHIB", "LUNC",
)
#: The demo account: two orders, both far from their LTV limits, so each currency's
#: max-redeem answer (on its own order) is its whole amount in :data:`DEFAULT_AMOUNTS`.
DEMO_ORDERS: tuple[OrderSeed, ...] = (
    OrderSeed({c: DEFAULT_AMOUNTS[c] for c in _FIRST_ORDER}, {"USDT": "1000"}),
    OrderSeed(
        {c: a for c, a in DEFAULT_AMOUNTS.items() if c not in _FIRST_ORDER}, {"USDC": "500"}
    ),
)


def initial_orders(
    amounts: Mapping[str, str] | Callable[[str], str | None],
    loans: Mapping[str, str] | None,
    orders: Sequence[OrderSeed] | None,
) -> tuple[OrderSeed, ...]:
    """The orders every user of a simulator starts with, from its options.

    ``orders`` if given (``[]`` for no order at all); else the two demo orders for the
    default amounts and loans; else one order holding ``amounts`` and owing ``loans``
    (nothing by default, so all of it is redeemable); none for a callable ``amounts``.
    """
    if orders is not None:
        return tuple(orders)
    if amounts is DEFAULT_AMOUNTS and loans is None:
        return DEMO_ORDERS
    if not isinstance(amounts, Mapping) or not (amounts or loans):
        return ()
    return (OrderSeed(amounts, loans or {}),)
