"""The client end to end, over real loopback HTTP against the bundled simulator."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import aiohttp
import pytest
from schedule import ENDPOINT, assert_schedule, least_time

from okx_async import (
    Credentials,
    MaxCollateralRedeemAmount,
    MemoryLimiter,
    OkxAPIError,
    OkxAuthError,
    OkxBatchError,
    OkxClient,
    OkxParameterError,
    OkxRateLimitError,
    OkxResponseError,
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
)
from okx_async.simulator._demo import DEFAULT_AMOUNTS
from okx_async.simulator.pytest_plugin import SimulatorFactory

CCYS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "USDT", "USDC", "LTC", "DOT"]
FAST = {ENDPOINT: RateLimit(5, 0.2)}


def expected(ccy: str) -> MaxCollateralRedeemAmount:
    return MaxCollateralRedeemAmount(ccy, Decimal(DEFAULT_AMOUNTS[ccy]))


async def test_one_currency(okx_simulator_factory: SimulatorFactory) -> None:
    sim = await okx_simulator_factory()
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID) as okx:
        result = await okx.max_collateral_redeem_amount("USDT")
    assert result == MaxCollateralRedeemAmount("USDT", Decimal("1"))
    assert isinstance(result.max_redeem_amt, Decimal)
    assert [a.ccy for a in sim.arrivals] == ["USDT"]


async def test_three_clients_of_one_user_share_the_budget_at_full_speed(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(seed=1)
    clients = [
        OkxClient(creds, base_url=sim.base_url, user_id=DEMO_UID)
        for creds in (DEMO_CREDENTIALS, DEMO_CREDENTIALS_2, DEMO_CREDENTIALS)
    ]
    started = time.monotonic()
    outcomes = await asyncio.gather(*(c.max_collateral_redeem_amounts(CCYS) for c in clients))
    elapsed = time.monotonic() - started
    for c in clients:
        await c.aclose()

    for outcome in outcomes:
        assert list(outcome) == CCYS
        assert outcome == {ccy: expected(ccy) for ccy in CCYS}
    assert_schedule(sim.arrivals)
    least = least_time(30)
    assert least <= elapsed <= least * 1.10


async def test_two_keys_of_one_user_without_user_id_resolve_it_once_each(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(seed=2)
    async with (
        OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url) as a,
        OkxClient(DEMO_CREDENTIALS_2, base_url=sim.base_url) as b,
    ):
        started = time.monotonic()
        outcomes = await asyncio.gather(
            a.max_collateral_redeem_amounts(CCYS), b.max_collateral_redeem_amounts(CCYS),
            a.max_collateral_redeem_amount("USDT"), b.max_collateral_redeem_amount("USDT"),
        )
        elapsed = time.monotonic() - started
        assert a.user_id == b.user_id == DEMO_UID

    assert outcomes[0] == outcomes[1] == {ccy: expected(ccy) for ccy in CCYS}
    configs = [x for x in sim.arrivals if x.endpoint == "/api/v5/account/config"]
    assert sorted(x.api_key for x in configs) == sorted(
        [DEMO_CREDENTIALS.api_key, DEMO_CREDENTIALS_2.api_key]
    )
    assert_schedule(sim.arrivals)
    least = least_time(22)
    assert least <= elapsed <= least * 1.10


async def test_random_network_latency_causes_no_rejection(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    # Arrival order and timing differ from send order; anchoring slots at the answer
    # keeps every window within the rule anyway.
    many = [f"C{i:03d}" for i in range(40)]
    sim = await okx_simulator_factory(
        seed=3, limit=5, window=0.5, request_latency=(0.0, 0.08), response_latency=(0.0, 0.05),
        amounts=dict.fromkeys(many, "1"),
    )
    rules = {ENDPOINT: RateLimit(5, 0.5)}
    clients = [
        OkxClient(creds, base_url=sim.base_url, user_id=DEMO_UID, rate_limits=rules,
                  retry=RetryPolicy.disabled())
        for creds in (DEMO_CREDENTIALS, DEMO_CREDENTIALS_2)
    ]
    await asyncio.gather(*(c.max_collateral_redeem_amounts(many) for c in clients))
    for c in clients:
        await c.aclose()
    assert_schedule(sim.arrivals, window=0.5, rtt=0.08 + 0.05)


async def test_clients_of_different_users_do_not_wait_for_each_other(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory()
    async with (
        OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url) as a,
        OkxClient(OTHER_USER_CREDENTIALS, base_url=sim.base_url) as b,
    ):
        started = time.monotonic()
        await asyncio.gather(
            a.max_collateral_redeem_amounts(CCYS[:5]), b.max_collateral_redeem_amounts(CCYS[:5])
        )
        assert time.monotonic() - started < 1.0
    assert not sim.rejections()


async def test_another_program_on_the_same_user_costs_retries_not_failures(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    # Two clients with separate limiters stand for two programs that cannot see each
    # other: OKX rejects some requests, and the client retries them transparently.
    sim = await okx_simulator_factory(limit=5, window=0.2, rate_limit_style="legacy-int")
    clients = [
        OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                  limiter=MemoryLimiter(), rate_limits=FAST)
        for _ in range(2)
    ]
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
        assert (await okx.max_collateral_redeem_amount("USDT")).ccy == "USDT"
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
    okx_simulator_factory: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await okx_simulator_factory(response_latency=(0.5, 0.5))
    okx = OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                    retry=RetryPolicy.disabled())
    pending = asyncio.ensure_future(okx.max_collateral_redeem_amount("USDT"))
    await asyncio.sleep(0.1)
    async with asyncio.timeout(2):
        await okx.aclose()
        with pytest.raises(Exception):  # noqa: B017 - closing aborts it one way or another
            await pending
    assert "Unclosed" not in caplog.text


async def test_server_error_codes_become_typed_errors(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(busy_rate=1.0)
    async with OkxClient(DEMO_CREDENTIALS, base_url=sim.base_url, user_id=DEMO_UID,
                         retry=RetryPolicy.disabled()) as okx:
        with pytest.raises(OkxAPIError) as caught:
            await okx.max_collateral_redeem_amount("USDT")
    assert caught.value.code == "50013"


def test_regional_presets() -> None:
    assert Region.GLOBAL.value == "https://www.okx.com"
    assert Region.EEA.value == "https://eea.okx.com"
    assert Region.US.value == "https://us.okx.com"
    client = OkxClient(DEMO_CREDENTIALS, base_url=Region.EEA)
    assert "eea.okx.com" in repr(client)


def test_repr_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = OkxClient(DEMO_CREDENTIALS)
    for text in (repr(client), str(client), repr(DEMO_CREDENTIALS), str(DEMO_CREDENTIALS)):
        assert DEMO_CREDENTIALS.secret_key not in text
        assert DEMO_CREDENTIALS.passphrase not in text
