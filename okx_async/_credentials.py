"""API credentials that never show their secrets."""

from __future__ import annotations

import os

import attrs

from ._errors import OkxConfigError

_ENV_NAMES = ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE")


@attrs.frozen(repr=False)
class Credentials:
    """An OKX API key with its secret key and passphrase.

    The repr and str show the API key only::

        >>> Credentials("my-key", "s3cret", "pass")
        Credentials(api_key='my-key', secret_key=<hidden>, passphrase=<hidden>)
    """

    api_key: str
    secret_key: str
    passphrase: str

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(Credentials):
            value = getattr(self, field.name)
            # Only the name may go in the message: the value could be a secret.
            if not isinstance(value, str):
                raise TypeError(f"Credentials.{field.name} must be a str")
            if not value:
                raise OkxConfigError(f"Credentials.{field.name} is empty")

    def __repr__(self) -> str:
        return (
            f"Credentials(api_key={self.api_key!r}, secret_key=<hidden>, passphrase=<hidden>)"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls) -> Credentials:
        """Read ``OKX_API_KEY``, ``OKX_SECRET_KEY`` and ``OKX_PASSPHRASE``.

        Raises :class:`OkxConfigError` naming every variable that is missing or empty.
        """
        values = {name: os.environ.get(name, "") for name in _ENV_NAMES}
        missing = [name for name, value in values.items() if not value]
        if missing:
            given = [name for name in _ENV_NAMES if name not in missing]
            message = "missing OKX credentials: set " + _and(missing)
            if given:
                message += f" ({_and(given)} {'is' if len(given) == 1 else 'are'} set; "
                message += "all three are needed)"
            raise OkxConfigError(message)
        return cls(*values.values())


def _and(names: list[str]) -> str:
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
