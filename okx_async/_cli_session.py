"""Where a command sends its requests, with which keys and limiter: one open session.

Checked in this order, each before anything that depends on it: the keys (from the
environment, unless ``--simulator``), then Redis (``--redis-url``), then the target
(the bundled simulator starts only now), then the client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import attrs
from rich.console import Console

from ._cli_exit import Refused
from ._cli_log import RetryNotice
from ._cli_output import line
from ._client import OkxClient, Region
from ._credentials import Credentials
from ._limiter import Limiter
from ._retry import RetryPolicy

#: Seconds to wait for Redis to answer the check before any request.
_REDIS_TIMEOUT = 1.0


@attrs.frozen
class Session:
    """A ready client, where it points, and the two consoles a command prints on."""

    client: OkxClient
    base_url: str
    #: For a write's confirmation: "OKX at https://www.okx.com (live trading)".
    target: str
    out: Console
    err: Console


def credentials_for(args: argparse.Namespace) -> Credentials | None:
    """The keys from the environment; ``None`` with ``--simulator``, which has its own.

    Raises :class:`~okx_async.OkxConfigError` naming every missing variable.
    """
    return None if args.simulator else Credentials.from_env()


def target_url(args: argparse.Namespace) -> str:
    """The base URL requests go to; ``""`` for the simulator, whose port is not known yet."""
    if args.simulator:
        return ""
    return str(args.base_url or Region[(args.region or "global").upper()].value)


@contextlib.asynccontextmanager
async def open_session(
    args: argparse.Namespace, credentials: Credentials | None, *, trade: bool = False
) -> AsyncIterator[Session]:
    """Open the Redis limiter (checked), the target and the client; close them on exit.

    ``trade``: the command writes, so with ``--simulator`` it uses the simulator's key
    that may trade.
    """
    err = Console(stderr=True)
    async with contextlib.AsyncExitStack() as stack:
        limiter = await _limiter(args, stack)
        # At -v the client's own log says it is retrying; otherwise one line says so.
        notice = RetryNotice() if args.verbose + args.verbose_here == 0 else None
        retry = RetryPolicy(on_retry=notice) if args.retries is None else RetryPolicy(
            max_attempts=args.retries + 1, on_retry=notice
        )
        options = {"demo": args.demo, "user_id": args.user_id, "retry": retry}
        if credentials is None:
            client = await _simulator(stack, err, limiter, trade=trade, **options)
            base_url = client.base_url
            target = f"the bundled OKX simulator at {base_url} (simulated, not OKX)"
        else:
            base_url = target_url(args)
            trading = "demo trading" if args.demo else "live trading"
            target = f"OKX at {base_url} ({trading})"
            client = OkxClient(credentials, base_url=base_url, limiter=limiter, **options)
        await stack.enter_async_context(client)
        yield Session(client, base_url, target, Console(), err)


async def _simulator(
    stack: contextlib.AsyncExitStack, err: Console, limiter: Limiter | None, *, trade: bool,
    **options: Any,
) -> OkxClient:
    """A client of the bundled simulator: in-process on virtual time, or over loopback.

    With Redis (which keeps real time) the simulator serves loopback HTTP in real time;
    otherwise the command runs on a virtual clock and the simulator in-process.
    """
    from .simulator import DEMO_CREDENTIALS, TRADE_CREDENTIALS, Simulator, VirtualTimeLoop

    # The first demo key is read-only, as a monitoring key should be.
    keys = TRADE_CREDENTIALS if trade else DEMO_CREDENTIALS
    sim = Simulator()
    if isinstance(asyncio.get_running_loop(), VirtualTimeLoop):
        stack.push_async_callback(sim.close)
        client = sim.client(keys, **options)
        sentences = [
            "Using the bundled OKX simulator in-process, with its demo keys.",
            "It keeps OKX's rate limits on a virtual clock: no time spent waiting.",
        ]
    else:
        await stack.enter_async_context(sim)
        client = OkxClient(keys, base_url=sim.base_url, limiter=limiter, **options)
        sentences = [f"Using the bundled OKX simulator at {sim.base_url} with its demo keys."]
    # One sentence per line, so an 80-column terminal never breaks one in two.
    for sentence in (*sentences, "The amounts are simulated, not from OKX."):
        line(err, sentence, "dim")
    return client


async def _limiter(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Limiter | None:
    """The Redis limiter of ``--redis-url``, once Redis answered (or memory may stand in)."""
    if not args.redis_url:
        return None
    try:
        from . import RedisLimiter
    except ImportError as exc:
        raise Refused(str(exc)) from None
    fallback = args.redis_fallback or "raise"
    limiter = RedisLimiter.from_url(args.redis_url, fallback=fallback)
    stack.push_async_callback(limiter.aclose)
    if fallback == "raise":
        await _check_redis(args.redis_url)
    return limiter


async def _check_redis(url: str) -> None:
    """Refuse before any request if Redis does not answer, rather than once per currency."""
    import redis.asyncio as aioredis
    from redis.exceptions import AuthenticationError, RedisError

    client = aioredis.Redis.from_url(
        url, socket_timeout=_REDIS_TIMEOUT, socket_connect_timeout=_REDIS_TIMEOUT
    )
    settings = client.connection_pool.connection_kwargs
    where = settings.get("path") or (
        f"{settings.get('host', 'localhost')}:{settings.get('port', 6379)}"
    )
    password = settings.get("password")
    fallback = "or pass --redis-fallback memory to limit this process alone"
    try:
        async with asyncio.timeout(2 * _REDIS_TIMEOUT):
            await client.ping()
    except AuthenticationError:
        if password:
            raise Refused(
                f"Redis at {where} refused the user name or password in --redis-url; "
                f"nothing was sent. Check them, {fallback}"
            ) from None
        raise Refused(
            f"Redis at {where} needs a password; nothing was sent. Put it in the URL "
            f"(redis://:PASSWORD@{where}/0), {fallback}"
        ) from None
    except (RedisError, OSError, TimeoutError) as exc:
        detail = str(exc) or type(exc).__name__
        if password:
            detail = detail.replace(str(password), "***")
        raise Refused(
            f"cannot use Redis at {where} ({type(exc).__name__}: {detail}); nothing was "
            f"sent. Check it, {fallback}"
        ) from None
    finally:
        await client.aclose()
