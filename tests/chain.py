"""Every exception reachable from one that okx-async raised, and a check for secrets in them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import aiohttp

from okx_async import OkxBatchError


def signature_recorder(signatures: list[str]) -> aiohttp.TraceConfig:
    """A trace config for the caller's session that keeps each request's signature, so a
    test can look for it in the exceptions afterwards."""

    async def record(
        session: aiohttp.ClientSession, context: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        signatures.append(params.headers.get("OK-ACCESS-SIGN", ""))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(record)
    return trace


def links(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything chained to it: causes, contexts, batch and group members."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        if isinstance(e, OkxBatchError):
            todo += [*e.errors.values(), *e.callback_errors.values()]
        if isinstance(e, BaseExceptionGroup):
            todo += list(e.exceptions)


def assert_no_secret(errors: Iterable[BaseException], secrets: Iterable[str]) -> int:
    """Assert no secret is in the repr, str, args or notes of any link; return the links seen."""
    secrets = [s for s in secrets if s]
    count = 0
    for error in errors:
        for link in links(error):
            count += 1
            texts = [repr(link), str(link), repr(link.args), *getattr(link, "__notes__", [])]
            texts += [repr(v) for v in vars(link).values()] if hasattr(link, "__dict__") else []
            for secret in secrets:
                leaks = [t for t in texts if secret in t]
                assert not leaks, f"{type(link).__name__} carries a secret: {leaks[0][:200]}"
    return count
