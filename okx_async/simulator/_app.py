"""``Simulator``: the OKX look-alike, served over loopback HTTP or in-process.

The OKX logic is in ``_core.py``; this module adds the two ways in (``_http.py``,
``_inprocess.py``), the clients wired to them, and :func:`run_virtual`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, TypeVar, Unpack

from .. import Credentials, MemoryLimiter, OkxClient, Timeouts
from .._uid import UIDS
from ._core import SimulatorCore
from ._demo import DEMO_CREDENTIALS, DEMO_CREDENTIALS_2, DEMO_KEYS
from ._http import HttpFront
from ._inprocess import InProcessServer, InProcessTransport
from ._options import SimulatorOptions
from ._virtual import VirtualTimeLoop, run

T = TypeVar("T")

#: Options of ``OkxClient`` that :meth:`Simulator.client` sets itself.
_WIRED: Final = ("base_url", "transport", "session")
#: Numbers the in-process hosts, so no two simulators share a client's uid cache.
_in_process_hosts = itertools.count(1)


class Simulator(SimulatorCore):
    """A local OKX look-alike for tests, demos and benchmarks: over HTTP or in-process.

    Over loopback HTTP, for what only real sockets show::

        async with Simulator(limit=5, window=0.2) as sim:
            client = OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url)
            ...
            assert not sim.rejections()

    In-process, with no socket: ``sim.client()`` is an ``OkxClient`` wired to it
    through the client's transport seam. On a virtual-time loop
    (:func:`run_virtual`) the real rule runs in no time::

        async def scenario(sim: Simulator) -> None:
            async with sim.client() as okx:
                await okx.max_collateral_redeem_amounts(["BTC", "ETH", "USDT"])

        run_virtual(scenario)

    Endpoints: the ten Flexible Loan endpoints under ``/api/v5/finance/flexible-loan/``
    (all but emode-info, whose fields OKX does not publish) and
    ``GET /api/v5/account/config``, private and limited per user ID and path; and
    ``GET /api/v5/public/time`` (public, 10 per 2 s per IP).

    Limits: ``window`` seconds stands for OKX's 2 s. Each private path allows ``limit``
    requests per window, except borrow and repay, which allow OKX's 2 whatever
    ``limit`` is. ``rules`` sets any path's ``(requests, seconds)`` exactly, by path or
    by a Flexible Loan endpoint's name: ``rules={"repay": (2, 0.2)}``.
    ``rate_limit=False`` lifts every limit, the public one included.

    Accounts: each user has loan orders (see ``_account.py`` for the model and its LTV
    arithmetic). ``orders`` seeds them (``[]`` for none, ``[OrderSeed(...), ...]`` for
    several); without it the default amounts make the two demo orders, and your own
    ``amounts`` (currency to amount) one order owing ``loans`` (nothing by default). A
    callable ``amounts`` answers max-collateral-redeem-amount alone, outside the
    account. ``accounts[uid]`` is a user's live state: ``.orders``, ``.closed``,
    ``.history`` and ``.applied[("borrow" | "repay", clOrdId)]``, how many times a
    keyed write executed (exactly once, however often it was sent).

    borrow and repay keep each ``clOrdId`` ``cl_ord_id_retention`` seconds (OKX: 60)
    from the first request, per user and path: a duplicate of a completed request gets
    51016, of one still in flight 51784.

    Faults (see ``_faults.py``): ``faults`` scripts them per endpoint, one entry per
    counted request, so a test can make each fire exactly once (``Fault`` is exported
    beside ``Simulator``)::

        Simulator(faults={"borrow": ["drop"],                 # the first borrow's answer lost
                          "repay": [None, Fault(hold=1.5)],   # the second repay held 1.5 s
                          "adjust-collateral": ["garbled"]})  # executed, answered 200 non-JSON

    The ``*_rate`` options draw faults at random, after any script, only on
    ``fault_endpoints`` if given. A dropped connection, an HTML 502 and a garbled 200
    come after the request executed (the answer is lost on the way back); 50001 and
    50013 come before, and change nothing. ``pending_faults()`` lists the scripted
    faults not yet used. Latency (``request_latency`` before the server counts a
    request, ``response_latency`` after) and holds are time on the event loop's
    clock: virtual time on a virtual loop.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, **options: Unpack[SimulatorOptions]
    ) -> None:
        super().__init__(**options)
        self._http = HttpFront(self.handle, host, port)
        self._in_process = InProcessServer(self.handle)
        self._in_process_url = f"http://okx-simulator-{next(_in_process_hosts)}.invalid"
        self._limiter_of_clients: MemoryLimiter | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Simulator:
        """Bind the socket and start serving over HTTP; returns ``self``.

        Loopback HTTP needs a real event loop: on a :class:`VirtualTimeLoop` every wait
        for the network would time out at once, so this refuses to start there.
        """
        if isinstance(asyncio.get_running_loop(), VirtualTimeLoop):
            raise RuntimeError(
                "a Simulator serves loopback HTTP on a real event loop only; on virtual "
                "time use it in-process: sim.client() or sim.transport()"
            )
        await self._http.start()
        # Another simulator may have served this URL before, with other users: clients
        # of this process must not count by the uids they learnt from it.
        UIDS.forget(self.base_url)
        self._in_process.reopen()
        self._clock.origin()  # fixed windows are aligned to the start
        return self

    async def close(self) -> None:
        """Stop serving, over HTTP and in-process, and close every connection.

        In-process requests still in progress end as if the connection dropped; the
        in-process transports refuse further requests. Safe to call twice.
        """
        await self._http.close()
        await self._in_process.close()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the in-process way in -------------------------------------------------------

    def transport(self, timeouts: Timeouts | None = None) -> InProcessTransport:
        """A client ``Transport`` to this simulator in-process, with no socket.

        Pass the same ``timeouts`` to the ``OkxClient``: ``timeouts.total`` bounds each
        request here as it bounds one over HTTP, and tells the limiter how late a
        request may still arrive. :meth:`client` does all of that.
        """
        return self._in_process.transport(timeouts if timeouts is not None else Timeouts())

    def client(
        self, credentials: Credentials = DEMO_CREDENTIALS, **options: Any
    ) -> OkxClient:
        """An ``OkxClient`` wired to this simulator in-process; ``options`` go to the client.

        Usage::

            async with sim.client(DEMO_CREDENTIALS_2, retry=RetryPolicy(max_attempts=1)) as okx:
                info = await okx.loan_info()

        Its clients share one :class:`~okx_async.MemoryLimiter` (the one budget per user
        and endpoint a process keeps), unless given a ``limiter``. It works on any
        event loop; under :func:`run_virtual` on virtual time.
        """
        wired = [name for name in _WIRED if name in options]
        if wired:
            raise TypeError(
                f"Simulator.client() sets {', '.join(wired)} itself; to reach the simulator "
                "over HTTP, build OkxClient(credentials, base_url=sim.base_url) yourself"
            )
        timeouts = options.pop("timeouts", None) or Timeouts()
        if "limiter" not in options:
            if self._limiter_of_clients is None:
                self._limiter_of_clients = MemoryLimiter()
            options["limiter"] = self._limiter_of_clients
        return OkxClient(
            credentials, base_url=self._in_process_url, transport=self.transport(timeouts),
            timeouts=timeouts, **options,
        )

    # -- inspection --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the HTTP front, with the real port once started."""
        return self._http.base_url

    def __repr__(self) -> str:
        state = "running" if self._http.running else "stopped"
        return (
            f"Simulator({self.base_url}, {state}, limit={self._limit}/{self._window}s "
            f"{self._algorithm}, arrivals={len(self.arrivals)})"
        )


def run_virtual(
    scenario: Callable[[Simulator], Awaitable[T]], /, **options: Unpack[SimulatorOptions]
) -> T:
    """Run ``await scenario(sim)`` on a fresh virtual-time loop and return its result.

    ``sim`` is a :class:`Simulator` made with ``options`` and used in-process
    (``sim.client()``); it is closed when the scenario ends. The loop's clock jumps
    to the next timer whenever nothing is ready, so the real rule (5 requests per
    2 s) costs no real time and every timer fires exactly when it was set for.
    A scenario that waits for something no timer will bring raises
    :class:`~okx_async.simulator.Deadlock` instead of hanging.

    Usage::

        async def scenario(sim: Simulator) -> int:
            async with sim.client() as okx:
                await asyncio.gather(*(okx.loan_info() for _ in range(60)))
            return len(sim.rejections())

        assert run_virtual(scenario) == 0  # 22 virtual seconds, milliseconds of real time
    """
    sim = Simulator(**options)

    async def main() -> T:
        try:
            return await scenario(sim)
        finally:
            await sim.close()

    return run(main())


async def serve(host: str, port: int, **options: Any) -> None:
    """Run a simulator until cancelled, printing its URL and the fake demo credentials."""
    async with Simulator(host=host, port=port, **options) as sim:
        print(f"OKX simulator listening on {sim.base_url}", flush=True)
        if options.get("keys", DEMO_KEYS) is DEMO_KEYS:
            print("Demo credentials (FAKE, public test values; they only work here):")
            for credentials, perm in ((DEMO_CREDENTIALS, "read only"),
                                      (DEMO_CREDENTIALS_2, "read and trade")):
                print(
                    f"  api key {credentials.api_key}  secret {credentials.secret_key}  "
                    f"passphrase {credentials.passphrase}  ({perm})"
                )
        else:
            print("API keys: " + ", ".join(sorted(sim._keys)))
        print("Press Ctrl+C to stop.", flush=True)
        await asyncio.Event().wait()
