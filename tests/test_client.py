"""The client end to end against the bundled simulator.

Schedules, budgets and deadlines run in-process on virtual time at OKX's real rule
(5 requests per 2 s), where they are exact. What only real sockets show stays on
loopback HTTP: signing on the wire, the caller's own aiohttp session and its
settings, and what a closed client leaves behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from canned import Canned, through
from chain import assert_no_secret
from one_order import ONE_ORDER, one_order
from schedule import COOL, ENDPOINT, RULE, assert_schedule, full_speed

from okx_async import (
    Credentials,
    LimitKey,
    MaxCollateralRedeemAmount,
    MemoryLimiter,
    OkxAPIError,
    OkxAuthError,
    OkxBatchError,
    OkxClient,
    OkxClientClosedError,
    OkxParameterError,
    OkxRateLimitError,
    OkxResponseError,
    OkxServerBusyError,
    OkxTimeoutError,
    OkxTransportError,
    RateLimit,
    Region,
    RetryPolicy,
)
from okx_async.simulator import (
    DEMO_CREDENTIALS,
    DEMO_CREDENTIALS_2,
    DEMO_UID,
    OTHER_USER_CREDENTIALS,
    SimKey,
    Simulator,
    run_virtual,
)
from okx_async.simulator._demo import DEFAULT_AMOUNTS
from okx_async.simulator.pytest_plugin import SimulatorFactory

CCYS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "USDT", "USDC", "LTC", "DOT"]
FAST = {ENDPOINT: RateLimit(5, 0.2)}
CONFIG = "/api/v5/account/config"
MANY = [f"C{i:03d}" for i in range(40)]
#: On virtual time, at the real rule; the users hold one order (see tests/one_order.py).
virtual = pytest.mark.okx_virtual(orders=ONE_ORDER)


@pytest.fixture
def okx_simulator_factory(okx_simulator_factory: SimulatorFactory) -> SimulatorFactory:
    """The plugin's factory, with users holding one order (see tests/one_order.py)."""
    return one_order(okx_simulator_factory)


def process_client(sim: Simulator, credentials: Credentials, **options: Any) -> OkxClient:
    """A client built as a program builds one, with no limiter: it gets the process's own.

    Its requests go to ``sim`` in-process, whatever the host in ``base_url``.
    """
    return OkxClient(credentials, base_url="https://www.okx.com", transport=sim.transport(),
                     user_id=DEMO_UID, **options)


def now() -> float:
    return asyncio.get_running_loop().time()


def expected(ccy: str) -> MaxCollateralRedeemAmount:
    return MaxCollateralRedeemAmount(ccy, Decimal(DEFAULT_AMOUNTS[ccy]))


async def test_one_currency(okx_simulator_factory: SimulatorFactory) -> None:
    sim = await okx_simulator_factory()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID) as okx:
        result = await okx.max_collateral_redeem_amount("USDT")
    assert result == MaxCollateralRedeemAmount("USDT", Decimal("1"))
    assert isinstance(result.max_redeem_amt, Decimal)
    assert [a.ccy for a in sim.arrivals] == ["USDT"]


@virtual
async def test_three_clients_of_one_user_share_the_budget_at_full_speed(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    clients = [process_client(sim, creds)
               for creds in (DEMO_CREDENTIALS, DEMO_CREDENTIALS_2, DEMO_CREDENTIALS)]
    outcomes = await asyncio.gather(*(c.max_collateral_redeem_amounts(CCYS) for c in clients))
    for c in clients:
        await c.aclose()

    for outcome in outcomes:
        assert list(outcome) == CCYS
        assert outcome == {ccy: expected(ccy) for ccy in CCYS}
    # One budget for the three: a burst of five per window, each as soon as it may go.
    assert [a.t for a in sim.arrivals] == full_speed(30)
    assert_schedule(sim.arrivals)


@virtual
async def test_two_keys_of_one_user_without_user_id_resolve_it_once_each(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(DEMO_CREDENTIALS) as a, sim.client(DEMO_CREDENTIALS_2) as b:
        outcomes = await asyncio.gather(
            a.max_collateral_redeem_amounts(CCYS), b.max_collateral_redeem_amounts(CCYS),
            a.max_collateral_redeem_amount("USDT"), b.max_collateral_redeem_amount("USDT"),
        )
        assert a.user_id == b.user_id == DEMO_UID

    assert outcomes[0] == outcomes[1] == {ccy: expected(ccy) for ccy in CCYS}
    configs = [x for x in sim.arrivals if x.endpoint == CONFIG]
    assert sorted(x.api_key for x in configs) == sorted(
        [DEMO_CREDENTIALS.api_key, DEMO_CREDENTIALS_2.api_key]
    )
    assert [x.t for x in configs] == [0.0, 0.0]
    # Once the user is known, both keys spend one budget.
    assert [x.t for x in sim.arrivals if x.endpoint == ENDPOINT] == full_speed(22)


#: Each leg 70 to 90 ms: a host 150 ms away whose jitter stays within a third of the
#: path's fixed part, the bound the limiter's round-trip credit is designed for
#: (docs/limiter.md, assumption A).
LEG = (0.07, 0.09)


@pytest.mark.parametrize("seed", range(4))
def test_random_network_latency_causes_no_rejection(seed: int) -> None:
    # Arrival order and timing differ from send order; the slots' anchoring keeps
    # every window within the rule anyway, and wastes no more than a round trip.
    async def scenario(sim: Simulator) -> None:
        clients = [sim.client(creds, user_id=DEMO_UID, retry=RetryPolicy.disabled())
                   for creds in (DEMO_CREDENTIALS, DEMO_CREDENTIALS_2)]
        await asyncio.gather(*(c.max_collateral_redeem_amounts(MANY) for c in clients))
        for c in clients:
            await c.aclose()
        assert len(assert_schedule(sim.arrivals, latency=(LEG[1], LEG[1]))) == 80

    run_virtual(scenario, seed=seed, request_latency=LEG, response_latency=LEG,
                amounts=dict.fromkeys(MANY, "1"))


@virtual
async def test_clients_of_different_users_do_not_wait_for_each_other(
    okx_virtual_simulator: Simulator,
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(DEMO_CREDENTIALS) as a, sim.client(OTHER_USER_CREDENTIALS) as b:
        await asyncio.gather(
            a.max_collateral_redeem_amounts(CCYS[:5]), b.max_collateral_redeem_amounts(CCYS[:5])
        )
    assert len(sim.arrivals) == 12  # a lookup and five each, all at once
    assert {a.t for a in sim.arrivals} == {0.0}
    assert not sim.rejections()


@pytest.mark.okx_virtual(orders=ONE_ORDER, rate_limit_style="legacy-int")
async def test_another_program_on_the_same_user_costs_retries_not_failures(
    okx_virtual_simulator: Simulator,
) -> None:
    # Two clients with limiters of their own stand for two programs that cannot see
    # each other: OKX rejects some requests, and the client retries them transparently.
    sim = okx_virtual_simulator
    clients = [sim.client(DEMO_CREDENTIALS, user_id=DEMO_UID, limiter=MemoryLimiter())
               for _ in range(2)]
    outcomes = await asyncio.gather(*(c.max_collateral_redeem_amounts(CCYS) for c in clients))
    for c in clients:
        await c.aclose()
    assert sim.rejections(), "the test needs OKX to have said 50011 at least once"
    assert outcomes[0] == outcomes[1] == {ccy: expected(ccy) for ccy in CCYS}


async def test_rate_limit_error_once_retries_are_used_up(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(limit=1, window=60.0)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         limiter=MemoryLimiter()) as other:
        await other.max_collateral_redeem_amount("BTC")
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxRateLimitError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50011"
    assert caught.value.http_status == 429
    assert caught.value.attempts == 1


async def test_one_bad_currency_keeps_the_other_results(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(limit=5, window=0.2)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         rate_limits=FAST) as okx:
        with pytest.raises(OkxBatchError) as caught:
            await okx.max_collateral_redeem_amounts(["BTC", "NOPE", "ETH", "BTC", "SOL"])
    batch = caught.value
    assert list(batch.results) == ["BTC", "ETH", "SOL"]
    assert batch.results["ETH"] == expected("ETH")
    assert list(batch.errors) == ["NOPE"]
    error = batch.errors["NOPE"]
    assert isinstance(error, OkxParameterError)
    assert (error.code, error.http_status) == ("51000", 400)
    assert [a.ccy for a in sim.arrivals].count("BTC") == 1  # duplicates queried once


@pytest.mark.parametrize(
    ("ccy", "error"),
    [(None, TypeError), (42, TypeError), (b"USDT", TypeError), ("", ValueError),
     (" USDT", ValueError), ("US DT", ValueError), ("USDT\n", ValueError),
     ("USDT&ccy=BTC", ValueError), ("../x", ValueError), ("X" * 33, ValueError)],
)
async def test_bad_ccy_is_refused_before_any_request(
    okx_simulator_factory: SimulatorFactory, ccy: object, error: type[Exception]
) -> None:
    sim = await okx_simulator_factory()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url) as okx:
        with pytest.raises(error):
            await okx.max_collateral_redeem_amount(ccy)  # type: ignore[arg-type]
        with pytest.raises(error):
            await okx.max_collateral_redeem_amounts(["BTC", ccy])  # type: ignore[list-item]
    assert sim.arrivals == []


async def test_a_single_string_is_not_taken_for_a_list_of_letters() -> None:
    async with OkxClient(DEMO_CREDENTIALS, base_url="http://127.0.0.1:9") as okx:
        with pytest.raises(TypeError):
            await okx.max_collateral_redeem_amounts("USDT")


async def test_html_502_is_a_response_error(okx_simulator_factory: SimulatorFactory) -> None:
    sim = await okx_simulator_factory(html_error_rate=1.0)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxResponseError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.http_status == 502
    assert "not JSON" in str(caught.value)


async def test_html_502_is_retried_then_reported_with_the_attempts(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(html_error_rate=1.0, limit=5, window=0.2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=policy, rate_limits=FAST) as okx:
        with pytest.raises(OkxResponseError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.attempts == 3
    assert len(sim.arrivals) == 3


async def test_wrong_secret_is_an_auth_error_and_not_retried(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory()
    wrong = Credentials(DEMO_CREDENTIALS.api_key, "not-the-secret", DEMO_CREDENTIALS.passphrase)
    async with OkxClient(wrong, base_url=sim.base_url, user_id=DEMO_UID) as okx:
        with pytest.raises(OkxAuthError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50113"
    assert caught.value.http_status == 401
    assert caught.value.attempts == 1
    assert "not-the-secret" not in str(caught.value)


async def test_wrong_passphrase_while_resolving_the_user_id(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory()
    wrong = Credentials(DEMO_CREDENTIALS.api_key, DEMO_CREDENTIALS.secret_key, "nope-pass")
    async with OkxClient(wrong, base_url=sim.base_url) as okx:
        with pytest.raises(OkxAuthError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50105"
    assert okx.user_id is None


async def test_concurrent_first_calls_resolve_the_user_id_once(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url) as okx:
        await asyncio.gather(*(okx.max_collateral_redeem_amount(c) for c in CCYS[:4]))
        assert okx.user_id == DEMO_UID
    assert [a.endpoint for a in sim.arrivals].count("/api/v5/account/config") == 1


async def test_demo_flag_sends_the_simulated_trading_header(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    creds = DEMO_CREDENTIALS
    keys = {creds.api_key: SimKey(creds.secret_key, creds.passphrase, DEMO_UID, demo=True)}
    sim = await okx_simulator_factory(keys=keys)
    async with OkxClient(creds, base_url=sim.base_url, user_id=DEMO_UID, demo=True) as okx:
        assert await okx.max_collateral_redeem_amount("USDT") == expected("USDT")
    async with OkxClient(creds, base_url=sim.base_url, user_id=DEMO_UID) as live:
        with pytest.raises(OkxAuthError) as caught:
            await live.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50101"


async def test_an_external_session_is_used_and_left_open(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory()
    async with aiohttp.ClientSession() as session:
        async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                             session=session) as okx:
            await okx.max_collateral_redeem_amount("USDT")
        assert not session.closed
        async with session.get(sim.base_url + "/api/v5/public/time") as response:
            assert response.status == 200


async def test_leaving_the_client_with_requests_in_flight_does_not_hang(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    executed = asyncio.Event()

    def amount(ccy: str) -> str:
        executed.set()
        return "1"

    sim = await okx_simulator_factory(response_latency=(0.2, 0.2), amounts=amount)
    okx = OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                    retry=RetryPolicy.disabled())
    pending = asyncio.ensure_future(okx.max_collateral_redeem_amount("USDT"))
    await executed.wait()  # the server has it; its answer is on the way back
    with nothing_left_open():
        async with asyncio.timeout(2):
            await okx.aclose()
            with pytest.raises(Exception):  # noqa: B017 - closing aborts it one way or another
                await pending
        del okx, pending


@contextlib.contextmanager
def nothing_left_open() -> Iterator[None]:
    """Assert no aiohttp session or connection freed inside the block was left open.

    aiohttp warns of one (a ResourceWarning) only when it is freed: at once when its
    last reference goes, or at the garbage collection that ends the block.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    left_open = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert left_open == []


async def test_server_error_codes_become_typed_errors(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(busy_rate=1.0)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxAPIError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50013"


@pytest.mark.parametrize(
    ("region", "host"),
    [(Region.GLOBAL, "www.okx.com"), (Region.EEA, "eea.okx.com"), (Region.US, "us.okx.com")],
)
def test_a_region_as_base_url_sends_to_its_host(region: Region, host: str) -> None:
    # OKX's documented REST hosts, one per region.
    transport = Canned(200, b'{"code":"0","msg":"","data":[{"ccy":"USDT","maxRedeemAmt":"1"}]}')
    through(transport, lambda okx: okx.max_collateral_redeem_amount("USDT"), base_url=region)
    [(method, url, _body)] = transport.sent
    assert (method, url) == ("GET", f"https://{host}{ENDPOINT}?ccy=USDT")
    assert host in repr(OkxClient(DEMO_CREDENTIALS, base_url=region))


def test_repr_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = OkxClient(DEMO_CREDENTIALS)
    for text in (repr(client), str(client), repr(DEMO_CREDENTIALS), str(DEMO_CREDENTIALS)):
        assert DEMO_CREDENTIALS.secret_key not in text
        assert DEMO_CREDENTIALS.passphrase not in text


# A caller's own session, close, on_result, the uid lookup, the deadline -----------------


async def test_a_callers_session_defaults_change_nothing(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    """A session's raise_for_status, trust_env, headers and base_url change no answer.

    With raise_for_status=True, aiohttp would raise on the 429 and the 400 itself; the
    client still reads OKX's code, so a 51000 is a parameter error and is not retried.
    """
    sim = await okx_simulator_factory(limit=1, window=60.0)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         limiter=MemoryLimiter()) as other:  # another program takes the slot
        await other.max_collateral_redeem_amount("BTC")
    limiter = MemoryLimiter()
    session = aiohttp.ClientSession(
        raise_for_status=True, trust_env=True,
        headers={"X-Caller": "1", "Authorization": "Basic Y2FsbGVyOnB3"},
        base_url="http://127.0.0.1:9/",
    )
    errors: list[BaseException] = []
    async with session, OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                                  session=session, limiter=limiter,
                                  retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxRateLimitError) as throttled:
            await okx.max_collateral_redeem_amount("USDT")
        errors.append(throttled.value)
        budget = limiter.budget(LimitKey(DEMO_UID, ENDPOINT))
        assert budget is not None
        assert budget.pace > 0  # the limiter saw the 50011: paced ...
        assert budget.paused_until > asyncio.get_running_loop().time()  # ... and paused
    sim2 = await okx_simulator_factory()
    async with aiohttp.ClientSession(raise_for_status=True) as session2, OkxClient(
        DEMO_CREDENTIALS, base_url=sim2.base_url, user_id=DEMO_UID, session=session2
    ) as okx2:
        with pytest.raises(OkxParameterError) as bad:
            await okx2.max_collateral_redeem_amount("NOPE")
        errors.append(bad.value)
    assert bad.value.attempts == 1
    assert len(sim2.arrivals) == 1  # not retried
    assert_no_secret(errors, [DEMO_CREDENTIALS.passphrase, DEMO_CREDENTIALS.secret_key])


async def test_a_callers_session_middlewares_do_not_run_and_nothing_is_resent(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    """A session's middlewares (here one that resends) never see the client's requests."""
    sim = await okx_simulator_factory(drop_rate=1.0)
    sends: list[str] = []

    async def resend(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        for _ in range(3):  # a careless retry middleware
            try:
                sends.append(request.url.path)
                return await handler(request)
            except aiohttp.ClientError:
                continue
        return await handler(request)

    async with aiohttp.ClientSession(middlewares=(resend,)) as session, OkxClient(
        DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID, session=session,
        retry=RetryPolicy.disabled(),
    ) as okx:
        with pytest.raises(OkxTransportError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
        async with session.get(sim.base_url + "/api/v5/public/time") as response:
            assert response.status == 200  # the session's own requests still use them
    assert sends == ["/api/v5/public/time"]
    assert len(sim.arrivals) == 1  # nothing went out behind the limiter's back
    assert_no_secret([caught.value], [DEMO_CREDENTIALS.passphrase])


@pytest.mark.okx_virtual(response_latency=(0.2, 0.2), amounts=dict.fromkeys(MANY, "1"))
async def test_closing_a_client_ends_its_queued_calls_at_once_and_delays_no_other(
    okx_virtual_simulator: Simulator,
) -> None:
    """Closing ends a client's queued calls at once, and they take no more of the user's slots."""
    sim = okx_virtual_simulator
    a = sim.client(DEMO_CREDENTIALS, user_id=DEMO_UID)
    b = sim.client(DEMO_CREDENTIALS_2, user_id=DEMO_UID)
    fan_out = asyncio.ensure_future(a.max_collateral_redeem_amounts(MANY))
    await asyncio.sleep(0.05)  # five in flight, the other workers queued
    await a.aclose()
    with pytest.raises(OkxBatchError) as caught:
        await fan_out
    assert now() == 0.05
    assert all(isinstance(e, OkxClientClosedError) for e in caught.value.errors.values())
    assert len(caught.value.errors) == len(MANY)
    await b.max_collateral_redeem_amount("C000")
    await b.aclose()
    # b waits only for the five slots a really used to cool: a window after the close.
    assert [(x.t, x.api_key) for x in sim.arrivals] == [
        *[(0.0, DEMO_CREDENTIALS.api_key)] * 5,
        (0.05 + COOL, DEMO_CREDENTIALS_2.api_key),
    ]
    with pytest.raises(OkxClientClosedError):
        await a.max_collateral_redeem_amount("C000")


@virtual
async def test_an_exception_in_on_result_loses_no_result(
    okx_virtual_simulator: Simulator,
) -> None:
    """A callback that raises loses no result, and ends no other currency's request."""
    seen: list[str] = []

    def on_result(ccy: str, outcome: object) -> None:
        seen.append(ccy)
        if ccy == "ETH":
            raise ValueError("the caller's bug")

    async with okx_virtual_simulator.client(user_id=DEMO_UID) as okx:
        with pytest.raises(OkxBatchError) as caught:
            await okx.max_collateral_redeem_amounts(CCYS[:6], on_result=on_result)
    batch = caught.value
    assert sorted(seen) == sorted(CCYS[:6])
    assert batch.results == {ccy: expected(ccy) for ccy in CCYS[:6]}
    assert batch.errors == {}
    assert list(batch.callback_errors) == ["ETH"]
    assert isinstance(batch.callback_errors["ETH"], ValueError)
    assert "on_result raised" in str(batch)


SIX_KEYS = [Credentials(f"six-key-{i}", f"SIX-SECRET-{i}", f"six-pass-{i}") for i in range(6)]


@pytest.mark.okx_virtual(
    orders=ONE_ORDER, keys={c.api_key: SimKey(c.secret_key, c.passphrase, DEMO_UID)
                            for c in SIX_KEYS},
)
async def test_six_keys_of_one_user_look_up_the_uid_within_the_limit_and_quietly(
    okx_virtual_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The uid lookups of one host share one budget: the user is not known before them."""
    sim = okx_virtual_simulator
    clients = [sim.client(c) for c in SIX_KEYS]
    results = await asyncio.gather(*(c.max_collateral_redeem_amount("USDT") for c in clients))
    for c in clients:
        await c.aclose()
    assert results == [expected("USDT")] * 6
    assert all(c.user_id == DEMO_UID for c in clients)
    assert not sim.rejections()
    # Five lookups at once, the sixth a window later.
    assert [a.t for a in sim.arrivals if a.endpoint == CONFIG] == full_speed(6)
    assert "although" not in caplog.text


async def test_one_uid_lookup_per_api_key_per_process(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory()
    for _ in range(3):
        async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url) as okx:
            await okx.max_collateral_redeem_amount("USDT")
            assert okx.user_id == DEMO_UID
    assert [a.endpoint for a in sim.arrivals].count(CONFIG) == 1


@pytest.mark.okx_virtual(orders=ONE_ORDER, response_latency=(0.35, 0.35))
async def test_the_deadline_covers_the_uid_lookup(okx_virtual_simulator: Simulator) -> None:
    """The uid lookup is part of the call: one deadline covers both."""
    sim = okx_virtual_simulator
    async with sim.client(retry=RetryPolicy(deadline=0.6)) as okx:
        with pytest.raises(OkxTimeoutError):  # 0.35 s for the lookup, 0.35 s for the call
            await okx.max_collateral_redeem_amount("USDT")
        assert now() == 0.6
    assert [(a.t, a.endpoint) for a in sim.arrivals] == [(0.0, CONFIG), (0.35, ENDPOINT)]


async def test_a_failed_clock_measurement_keeps_the_original_50102(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    """When the clock cannot be measured, the caller still sees OKX's 50102."""
    sim = await okx_simulator_factory(clock_skew=120.0)
    async with aiohttp.ClientSession() as plain:
        for _ in range(10):  # use up the public endpoint's 10 per 2 s from this IP
            async with plain.get(sim.base_url + "/api/v5/public/time") as response:
                await response.read()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxAuthError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50102"
    assert any("clock" in note for note in caught.value.__notes__)


async def test_the_50102_retry_is_outside_the_attempts_budget(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    """The resend after measuring the clock does not use up one of max_attempts."""
    sim = await okx_simulator_factory(clock_skew=120.0, server_error_rate=1.0, limit=5,
                                      window=0.2)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         rate_limits=FAST,
                         retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as okx:
        with pytest.raises(OkxServerBusyError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert [a.code for a in sim.arrivals] == ["50001", "50001"]
    assert caught.value.attempts == 3  # requests sent: the 50102 and two within the budget
    assert isinstance(caught.value.__cause__, OkxServerBusyError)
    assert isinstance(caught.value.__cause__.__cause__, OkxAuthError)


@virtual
async def test_a_50011_on_the_uid_lookup_is_retried_quietly(
    okx_virtual_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = okx_virtual_simulator
    async with sim.client(DEMO_CREDENTIALS_2, user_id=DEMO_UID,
                          limiter=MemoryLimiter()) as other:  # another program on the user
        for _ in range(5):
            await other.request("GET", CONFIG)
    async with sim.client(DEMO_CREDENTIALS) as okx:
        result = await okx.max_collateral_redeem_amount("USDT")
    assert result == expected("USDT")
    # Refused at once, and asked again a window after the 50011, when the other
    # program's five have left OKX's window.
    assert [(a.t, a.code) for a in sim.arrivals[5:]] == [
        (0.0, "50011"), (RULE.window, "0"), (RULE.window, "0")
    ]
    assert sim.arrivals[7].endpoint == ENDPOINT
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
