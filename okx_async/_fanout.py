"""One call over many items with a few workers, keeping every result and every failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from ._errors import OkxBatchError

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


async def fan_out(
    call: Callable[[K], Awaitable[T]],
    items: Sequence[K],
    on_result: Callable[[K, T | Exception], None] | None,
    workers: int,
) -> dict[K, T]:
    """Run ``call`` over ``items``; the results in the items' order, or :class:`OkxBatchError`.

    A fixed pool of ``workers``, not a task per item, keeps memory flat for huge
    fan-outs. The caller sizes it to what the limiter can let through at once (see
    :func:`width`): a worker more would only wait in the limiter's queue. The calling
    task is one of the workers. One item's failure, or an exception from
    ``on_result``, stops nothing and loses nothing.
    """
    results: dict[K, T] = {}
    errors: dict[K, Exception] = {}
    callback_errors: dict[K, Exception] = {}
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            outcome: T | Exception
            try:
                outcome = results[item] = await call(item)
            except Exception as exc:  # one item's failure must not sink the rest
                outcome = errors[item] = exc
            if on_result is not None:
                try:
                    on_result(item, outcome)
                except Exception as exc:  # the caller's bug must not lose the results
                    callback_errors[item] = exc

    helpers = min(len(items), workers) - 1
    if helpers > 0:
        async with asyncio.TaskGroup() as group:
            for _ in range(helpers):
                group.create_task(worker())
            await worker()
    else:
        await worker()
    ordered = {item: results[item] for item in items if item in results}
    if errors or callback_errors:
        raise OkxBatchError(
            ordered, {item: errors[item] for item in items if item in errors},
            callback_errors={i: callback_errors[i] for i in items if i in callback_errors},
        )
    return ordered


def width(concurrency: int, requests: int) -> int:
    """Workers for a fan-out on one budget: the rule's burst and one more, at most.

    A budget never has more than ``requests`` requests in flight or cooling. One
    worker more keeps a request waiting in the limiter's line while the burst is in
    flight, so a batch holds its place in a line it shares (another client of the
    user, another process through Redis); any more would each hold a task, its
    coroutines and a queued waiter, and send nothing sooner.
    """
    return max(1, min(concurrency, requests + 1))
