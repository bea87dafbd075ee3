"""OKX's ``clOrdId`` memory for borrow and repay, as pure bookkeeping with time passed in.

A key is (user ID, endpoint path, ``clOrdId``). The first request with a key claims
it; the key is kept ``retention`` seconds from that first request, whatever happens
after. Within them a duplicate of a completed request is told ``51016`` and a
duplicate of one still in flight ``51784``; after them the key is free again and a
request with it executes anew. A refused request releases its claim, so the caller
may send it again, corrected, with the same key.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from typing import Final

import attrs

#: OKX keeps a clOrdId this many seconds.
RETENTION: Final = 60.0

Key = tuple[str, str, str]


class Seen(enum.Enum):
    """What a duplicate meets: the first request still running, or done."""

    IN_FLIGHT = "51784"
    COMPLETED = "51016"


@attrs.define(eq=False)
class Claim:
    """The first request's hold on a key, from ``since`` on."""

    key: Key
    since: float
    done: bool = False


class ClOrdIdStore:
    """The keys seen in the last ``retention`` seconds, and whether their request is done.

    Usage (``now`` is any monotonic clock, in seconds)::

        store = ClOrdIdStore()
        claim = store.claim(("uid", "/borrow", "k1"), now=0.0)   # a Claim: go ahead
        store.claim(("uid", "/borrow", "k1"), now=1.0)           # Seen.IN_FLIGHT
        store.complete(claim)
        store.claim(("uid", "/borrow", "k1"), now=2.0)           # Seen.COMPLETED
        store.claim(("uid", "/borrow", "k1"), now=60.0)          # a new Claim
    """

    __slots__ = ("_claims", "retention")

    def __init__(self, retention: float = RETENTION) -> None:
        if retention <= 0:
            raise ValueError(f"retention must be positive, got {retention!r}")
        self.retention = retention
        # Oldest claim first, so expiry trims from the front.
        self._claims: OrderedDict[Key, Claim] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claims)

    def __repr__(self) -> str:
        return f"ClOrdIdStore(retention={self.retention}, keys={len(self._claims)})"

    def claim(self, key: Key, now: float) -> Claim | Seen:
        """Claim ``key`` for a first request, or say what the earlier one is doing."""
        self._expire(now)
        held = self._claims.get(key)
        if held is not None and now - held.since < self.retention:
            return Seen.COMPLETED if held.done else Seen.IN_FLIGHT
        self._claims.pop(key, None)
        claim = self._claims[key] = Claim(key, now)
        return claim

    def complete(self, claim: Claim) -> None:
        """The claimed request executed: duplicates now get ``51016``."""
        claim.done = True

    def release(self, claim: Claim) -> None:
        """The claimed request was refused: forget the key (if it is still this claim's)."""
        if self._claims.get(claim.key) is claim:
            del self._claims[claim.key]

    def _expire(self, now: float) -> None:
        while self._claims:
            oldest = next(iter(self._claims.values()))
            if now - oldest.since < self.retention:
                break
            self._claims.popitem(last=False)
