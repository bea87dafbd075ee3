"""The OKX simulator: auth, answers, rate-limit algorithms, faults, and its fixtures."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import attrs
import pytest
from yarl import URL

from okx_async._credentials import Credentials
from okx_async._signing import Signer, okx_timestamp
from okx_async.simulator import (
    DEMO_CREDENTIALS,
    DEMO_CREDENTIALS_2,
    DEMO_KEYS,
    DEMO_UID,
    OTHER_USER_CREDENTIALS,
    SimKey,
    Simulator,
    serve,
)
from okx_async.simulator._algorithms import (
    FixedWindow,
    RateLimitAlgorithm,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
    make_algorithm,
    max_in_any_window,
)
from okx_async.simulator.pytest_plugin import SimulatorFactory

REDEEM = "/api/v5/finance/flexible-loan/max-collateral-redeem-amount"
CONFIG = "/api/v5/account/config"
TIME = "/api/v5/public/time"


@attrs.frozen
class Reply:
    """What came back: status, content type and the decoded JSON (None if not JSON)."""

    status: int
    content_type: str
    text: str
    body: Any


async def signed_get(
    session: aiohttp.ClientSession,
    sim: Simulator,
    path_and_query: str,
    credentials: Credentials = DEMO_CREDENTIALS,
    *,
    timestamp: str | None = None,
    signed_path: str | None = None,
    demo: bool = False,
    omit: Iterable[str] = (),
) -> Reply:
    """GET ``path_and_query`` signed the OKX v5 way, optionally sabotaged."""
    timestamp = okx_timestamp() if timestamp is None else timestamp
    signature = Signer(credentials.secret_key).sign(
        timestamp, "GET", signed_path or path_and_query
    )
    headers = {
        "OK-ACCESS-KEY": credentials.api_key,
        "OK-ACCESS-SIGN": signature,
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": credentials.passphrase,
    }
    if demo:
        headers["x-simulated-trading"] = "1"
    for name in omit:
        del headers[name]
    return await plain_get(session, sim, path_and_query, headers)


async def plain_get(
    session: aiohttp.ClientSession,
    sim: Simulator,
    path_and_query: str,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """GET without signing, keeping the query bytes exactly as given."""
    url = URL(sim.base_url + path_and_query, encoded=True)
    async with session.get(url, headers=headers) as response:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" else None
        return Reply(response.status, response.content_type, text, body)


def redeem(ccy: str = "USDT") -> str:
    """The path and query of max-collateral-redeem-amount for ``ccy``."""
    return f"{REDEEM}?ccy={ccy}"


# -- answers --------------------------------------------------------------------------


async def test_redeem_success(okx_simulator: Simulator, session: aiohttp.ClientSession) -> None:
    reply = await signed_get(session, okx_simulator, redeem("USDC"))
    assert reply.status == 200
    assert reply.body == {
        "code": "0", "msg": "", "data": [{"ccy": "USDC", "maxRedeemAmt": "250.5"}]
    }
    [arrival] = okx_simulator.arrivals
    assert (arrival.uid, arrival.endpoint, arrival.ccy) == (DEMO_UID, REDEEM, "USDC")
    assert (arrival.api_key, arrival.status, arrival.code) == ("demo-key-1", 200, "0")
    assert okx_simulator.base_url.startswith("http://127.0.0.1:")


async def test_default_amounts_travel_as_exact_strings(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    many = await signed_get(session, okx_simulator, redeem("SHIB"))
    zero = await signed_get(session, okx_simulator, redeem("LUNC"))
    assert '"maxRedeemAmt":"12345.678901234567890123"' in many.text
    assert zero.body["data"] == [{"ccy": "LUNC", "maxRedeemAmt": "0"}]


async def test_amounts_may_be_a_callable(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(amounts=lambda ccy: "7" if ccy == "ABC" else None)
    assert (await signed_get(session, sim, redeem("ABC"))).body["data"][0]["maxRedeemAmt"] == "7"
    assert (await signed_get(session, sim, redeem("USDT"))).body["code"] == "51000"


@pytest.mark.parametrize("query", ["?ccy=NOPE", "?ccy=", "", "?other=1"])
async def test_bad_ccy_is_51000(
    okx_simulator: Simulator, session: aiohttp.ClientSession, query: str
) -> None:
    reply = await signed_get(session, okx_simulator, REDEEM + query)
    assert reply.status == 400
    assert reply.body == {"code": "51000", "msg": "Parameter ccy error", "data": []}
    assert okx_simulator.arrivals[-1].code == "51000"


async def test_account_config_reports_the_keys_user(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    mine = await signed_get(session, okx_simulator, CONFIG)
    other = await signed_get(session, okx_simulator, CONFIG, OTHER_USER_CREDENTIALS)
    assert mine.status == 200
    assert mine.body["code"] == "0"
    assert mine.body["data"][0]["uid"] == DEMO_UID
    assert mine.body["data"][0]["mainUid"] == DEMO_UID
    assert mine.body["data"][0]["acctLv"] == "2"
    assert mine.body["data"][0]["perm"] == "read_only"
    assert other.body["data"][0]["uid"] not in ("", DEMO_UID)
    assert okx_simulator.arrivals[0].ccy is None


async def test_unknown_path_is_a_json_404(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    reply = await signed_get(session, okx_simulator, "/api/v5/account/balance")
    assert reply.status == 404
    assert reply.body["code"] == "50000"
    assert okx_simulator.arrivals == []


# -- authentication -------------------------------------------------------------------

WRONG_SECRET = attrs.evolve(DEMO_CREDENTIALS, secret_key="not-the-secret")
WRONG_PASSPHRASE = attrs.evolve(DEMO_CREDENTIALS, passphrase="not-the-passphrase")
UNKNOWN_KEY = attrs.evolve(DEMO_CREDENTIALS, api_key="no-such-key")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"credentials": WRONG_SECRET}, "50113"),
        ({"signed_path": REDEEM}, "50113"),  # the query is part of what is signed
        ({"credentials": WRONG_PASSPHRASE}, "50105"),
        ({"credentials": UNKNOWN_KEY}, "50111"),
        ({"clock_offset": -31.0}, "50102"),
        ({"clock_offset": +31.0}, "50102"),
        ({"timestamp": "2020-12-08T09:08:57Z"}, "50112"),
        ({"timestamp": str(int(time.time()))}, "50112"),
        ({"omit": ["OK-ACCESS-KEY"]}, "50103"),
        ({"omit": ["OK-ACCESS-PASSPHRASE"]}, "50104"),
        ({"omit": ["OK-ACCESS-SIGN"]}, "50106"),
        ({"omit": ["OK-ACCESS-TIMESTAMP"]}, "50107"),
    ],
)
async def test_auth_failures_are_401_and_cost_nothing(
    okx_simulator_factory: SimulatorFactory,
    session: aiohttp.ClientSession,
    kwargs: dict[str, Any],
    code: str,
) -> None:
    sim = await okx_simulator_factory(limit=1, window=60)
    if "clock_offset" in kwargs:  # computed now: a collection-time timestamp would go stale
        kwargs = {"timestamp": okx_timestamp(time.time() + kwargs["clock_offset"])}
    reply = await signed_get(session, sim, redeem(), **kwargs)
    assert reply.status == 401
    assert reply.body["code"] == code
    assert reply.body["data"] == []
    assert sim.arrivals == []
    # The refused request consumed no budget: the single allowed request still passes.
    assert (await signed_get(session, sim, redeem())).body["code"] == "0"


@pytest.mark.parametrize(
    ("key_demo", "header", "code"),
    [(True, False, "50101"), (False, True, "50101"), (True, True, "0"), (None, True, "0")],
)
async def test_demo_environment_must_match(
    okx_simulator_factory: SimulatorFactory,
    session: aiohttp.ClientSession,
    key_demo: bool | None,
    header: bool,
    code: str,
) -> None:
    c = DEMO_CREDENTIALS
    keys = {c.api_key: SimKey(c.secret_key, c.passphrase, uid=DEMO_UID, demo=key_demo)}
    sim = await okx_simulator_factory(keys=keys)
    reply = await signed_get(session, sim, redeem(), demo=header)
    assert reply.body["code"] == code


async def test_no_secret_reaches_logs_or_answers(
    okx_simulator: Simulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="okx_async")
    replies = [
        await signed_get(session, okx_simulator, redeem(), WRONG_PASSPHRASE),
        await signed_get(session, okx_simulator, redeem(), WRONG_SECRET),
        await signed_get(session, okx_simulator, redeem()),
    ]
    assert "refused" in caplog.text
    for secret in (DEMO_CREDENTIALS.secret_key, DEMO_CREDENTIALS.passphrase, "not-the-"):
        assert secret not in caplog.text
        assert all(secret not in r.text for r in replies)
    assert DEMO_CREDENTIALS.secret_key not in repr(DEMO_KEYS)


# -- rate limiting through HTTP -------------------------------------------------------


async def test_sliding_log_rejects_the_sixth_and_recovers_after_the_window(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    window = 0.3
    sim = await okx_simulator_factory(limit=5, window=window)
    replies = await asyncio.gather(*(signed_get(session, sim, redeem()) for _ in range(6)))
    assert sorted(r.status for r in replies) == [200] * 5 + [429]
    [throttled] = [r for r in replies if r.status == 429]
    assert throttled.body == {"msg": "Too Many Requests", "code": "50011"}  # no "data" key
    [rejection] = sim.rejections()
    assert (rejection.uid, rejection.endpoint, rejection.status) == (DEMO_UID, REDEEM, 429)
    assert sim.rejections(uid="someone-else") == []
    assert sim.rejections(endpoint=CONFIG) == []

    # Still refused just before the first accepted request leaves the window...
    first = sim.arrivals[0].t
    assert (await signed_get(session, sim, redeem())).status == 429
    # ...and accepted once it has; the two rejections took no budget.
    await asyncio.sleep(max(0.0, first + window - time.monotonic()) + 0.01)
    again = await asyncio.gather(*(signed_get(session, sim, redeem()) for _ in range(5)))
    assert {r.status for r in again} == {200}
    accepted = [a.t for a in sim.arrivals if a.code == "0"]
    assert max_in_any_window(accepted, window) == 5
    assert [a.t for a in sim.arrivals] == sorted(a.t for a in sim.arrivals)


async def test_keys_of_one_user_share_a_budget_per_endpoint(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(limit=5, window=60)
    for credentials in [DEMO_CREDENTIALS] * 3 + [DEMO_CREDENTIALS_2] * 2:
        assert (await signed_get(session, sim, redeem(), credentials)).status == 200
    assert (await signed_get(session, sim, redeem(), DEMO_CREDENTIALS)).status == 429
    assert (await signed_get(session, sim, redeem(), DEMO_CREDENTIALS_2)).status == 429
    # Another user, and the same user on another endpoint, have budgets of their own.
    assert (await signed_get(session, sim, redeem(), OTHER_USER_CREDENTIALS)).status == 200
    assert (await signed_get(session, sim, CONFIG, DEMO_CREDENTIALS)).status == 200
    assert len(sim.rejections(uid=DEMO_UID, endpoint=REDEEM)) == 2
    assert [a.api_key for a in sim.rejections()] == ["demo-key-1", "demo-key-2"]


@pytest.mark.parametrize(
    "algorithm", ["sliding-log", "fixed-window", "token-bucket", "sliding-window-counter"]
)
async def test_every_algorithm_limits_a_burst(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession, algorithm: str
) -> None:
    sim = await okx_simulator_factory(limit=3, window=60, algorithm=algorithm)
    replies = await asyncio.gather(*(signed_get(session, sim, redeem()) for _ in range(5)))
    assert sorted(r.status for r in replies) == [200, 200, 200, 429, 429]


@pytest.mark.parametrize(
    ("style", "status", "body"),
    [
        ("legacy-200", 200, {"code": "50011", "msg": "Requests too frequent.", "data": []}),
        ("legacy-int", 200, {"code": 50011, "msg": "Requests too frequent.", "data": []}),
    ],
)
async def test_legacy_rate_limit_styles(
    okx_simulator_factory: SimulatorFactory,
    session: aiohttp.ClientSession,
    style: str,
    status: int,
    body: dict[str, Any],
) -> None:
    sim = await okx_simulator_factory(limit=1, window=60, rate_limit_style=style)
    await signed_get(session, sim, redeem())
    reply = await signed_get(session, sim, redeem())
    assert (reply.status, reply.body) == (status, body)
    assert [a.code for a in sim.rejections()] == ["50011"]


async def test_rate_limit_false_lifts_every_limit(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(limit=1, window=60, rate_limit=False)
    replies = await asyncio.gather(*(signed_get(session, sim, redeem()) for _ in range(20)))
    times = await asyncio.gather(*(plain_get(session, sim, TIME) for _ in range(12)))
    assert {r.status for r in replies} == {200}
    assert {r.status for r in times} == {200}
    assert len(sim.arrivals) == 20
    assert sim.rejections() == []


async def test_public_time_is_limited_per_ip_at_10_per_2s(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(limit=1, window=60)  # not the public rule
    replies = [await plain_get(session, sim, TIME) for _ in range(11)]
    assert [r.status for r in replies] == [200] * 10 + [429]
    assert replies[-1].body["code"] == "50011"
    assert sim.arrivals == []  # public requests are not authenticated arrivals


# -- faults, latency, clock -----------------------------------------------------------


async def test_html_error(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(html_error_rate=1.0, limit=2, window=60)
    replies = [await signed_get(session, sim, redeem()) for _ in range(3)]
    assert [r.status for r in replies[:2]] == [502, 502]
    assert replies[0].content_type == "text/html"
    assert "<html>" in replies[0].text
    # A faulted request arrived, so it took budget: the third is throttled.
    assert replies[2].status == 429
    assert [(a.status, a.code) for a in sim.arrivals] == [(502, ""), (502, ""), (429, "50011")]


@pytest.mark.parametrize(
    ("option", "status", "body"),
    [
        (
            "server_error_rate",
            503,
            {"code": "50001", "msg": "Service temporarily unavailable", "data": []},
        ),
        (
            "busy_rate",
            429,
            {"code": "50013", "msg": "Systems are busy. Please try again later.", "data": []},
        ),
    ],
)
async def test_json_faults(
    okx_simulator_factory: SimulatorFactory,
    session: aiohttp.ClientSession,
    option: str,
    status: int,
    body: dict[str, Any],
) -> None:
    sim = await okx_simulator_factory(**{option: 1.0})
    reply = await signed_get(session, sim, redeem())
    assert (reply.status, reply.body) == (status, body)
    assert sim.arrivals[0].code == body["code"]
    assert sim.rejections() == []  # busy is 429 too, but it is not a 50011
    # Faults hit only authenticated, counted requests.
    assert (await signed_get(session, sim, redeem(), WRONG_SECRET)).status == 401
    assert (await plain_get(session, sim, TIME)).status == 200


async def test_drop_closes_the_connection_without_an_answer(
    okx_simulator_factory: SimulatorFactory,
) -> None:
    sim = await okx_simulator_factory(drop_rate=1.0)
    path = redeem()
    timestamp = okx_timestamp()
    c = DEMO_CREDENTIALS
    request = (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nOK-ACCESS-KEY: {c.api_key}\r\n"
        f"OK-ACCESS-SIGN: {Signer(c.secret_key).sign(timestamp, 'GET', path)}\r\n"
        f"OK-ACCESS-TIMESTAMP: {timestamp}\r\nOK-ACCESS-PASSPHRASE: {c.passphrase}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", int(sim.base_url.rsplit(":")[-1]))
    try:
        writer.write(request.encode())
        assert await asyncio.wait_for(reader.read(), 2.0) == b""  # EOF, not a byte of answer
    finally:
        writer.close()
    assert [(a.status, a.code) for a in sim.arrivals] == [(0, "")]


async def test_aiohttp_retries_a_dropped_get_once(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    # Not a simulator feature but a fact for clients built on aiohttp: ClientSession
    # silently resends an idempotent request once after a disconnect, so one dropped
    # call spends two units of the user's budget.
    sim = await okx_simulator_factory(drop_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await signed_get(session, sim, redeem())
    assert [(a.status, a.code) for a in sim.arrivals] == [(0, ""), (0, "")]


async def test_seeded_faults_are_reproducible(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    async def statuses() -> list[int]:
        sim = await okx_simulator_factory(seed=7, server_error_rate=0.5, rate_limit=False)
        return [(await signed_get(session, sim, redeem())).status for _ in range(30)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert set(first) == {200, 503}


async def test_latency_on_the_way_in_and_out(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(request_latency=(0.05, 0.05), response_latency=(0.1, 0.1))
    sent = time.monotonic()
    await signed_get(session, sim, redeem())
    received = time.monotonic()
    counted = sim.arrivals[0].t
    assert counted - sent >= 0.05
    assert received - counted >= 0.1


async def test_clock_skew_shifts_time_and_the_timestamp_check(
    okx_simulator_factory: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    sim = await okx_simulator_factory(clock_skew=100.0)
    server_ms = int((await plain_get(session, sim, TIME)).body["data"][0]["ts"])
    assert abs(server_ms / 1000 - (time.time() + 100.0)) < 1.0
    assert (await signed_get(session, sim, redeem())).body["code"] == "50102"
    skewed = okx_timestamp(time.time() + 100.0)
    assert (await signed_get(session, sim, redeem(), timestamp=skewed)).body["code"] == "0"


async def test_public_time_without_skew(
    okx_simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    reply = await plain_get(session, okx_simulator, TIME)
    assert reply.body["code"] == "0"
    assert isinstance(reply.body["data"][0]["ts"], str)
    assert abs(int(reply.body["data"][0]["ts"]) / 1000 - time.time()) < 1.0


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="busy_rate"):
        Simulator(busy_rate=1.5)
    with pytest.raises(ValueError, match="algorithm"):
        Simulator(algorithm="leaky")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="request_latency"):
        Simulator(request_latency=(0.2, 0.1))
    with pytest.raises(ValueError, match="limit"):
        Simulator(limit=0)


async def test_serve_prints_url_and_fake_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(serve("127.0.0.1", 0))
    try:
        for _ in range(200):
            await asyncio.sleep(0.005)
            out = capsys.readouterr().out
            if out:
                break
        match = re.search(r"http://127\.0\.0\.1:\d+", out)
        assert match is not None
        assert "demo-key-1" in out
        assert "FAKE" in out
        async with aiohttp.ClientSession() as s, s.get(match.group() + TIME) as response:
            assert response.status == 200
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# -- algorithm arithmetic with explicit times ------------------------------------------


def accept_all(algorithm: RateLimitAlgorithm, times: Iterable[float]) -> list[float]:
    """Offer each time in turn; return the accepted ones."""
    return [t for t in times if algorithm.try_acquire(t)]


def test_sliding_log_window_is_half_open() -> None:
    log = SlidingLog(5, 2.0)
    assert accept_all(log, [0.0] * 6) == [0.0] * 5
    assert accept_all(log, [1.0, 1.999]) == []  # refusals take no budget...
    assert accept_all(log, [2.0] * 6) == [2.0] * 5  # ...and t - W itself is outside
    assert not log.idle(3.9)
    assert log.idle(4.0)


def test_sliding_log_accepts_exact_pacing_at_w_over_n() -> None:
    times = [i * 0.5 for i in range(40)]
    assert accept_all(SlidingLog(4, 2.0), times) == times


def test_fixed_window_lets_two_limits_through_across_a_boundary() -> None:
    fixed = FixedWindow(5, 2.0, origin=10.0)
    accepted = accept_all(fixed, [11.9] * 6 + [12.0] * 6)
    assert accepted == [11.9] * 5 + [12.0] * 5
    assert max_in_any_window(accepted, 2.0) == 10
    assert not fixed.idle(13.9)
    assert fixed.idle(14.0)


def test_token_bucket_starts_full_and_refills_at_n_over_w() -> None:
    bucket = TokenBucket(5, 2.0)  # 2.5 tokens per second
    assert accept_all(bucket, [100.0] * 6) == [100.0] * 5
    assert accept_all(bucket, [100.39]) == []
    assert accept_all(bucket, [100.4, 100.4]) == [100.4]
    assert accept_all(bucket, [101.2, 101.2, 101.2]) == [101.2, 101.2]
    # A long pause refills to capacity, never beyond.
    assert len(accept_all(bucket, [200.0] * 10)) == 5
    assert bucket.idle(202.0)
    # Steady pacing at exactly W/N is sustainable.
    paced = [300.0 + i * 0.4 for i in range(50)]
    assert accept_all(TokenBucket(5, 2.0), paced) == paced


def test_sliding_window_counter_rejects_burst_then_wait() -> None:
    counter = SlidingWindowCounter(5, 2.0, origin=0.0)
    assert len(accept_all(counter, [0.0] * 5)) == 5
    # One window later the sliding log would take a full burst again; the counter still
    # weighs the previous window at 97.5 % and lets one request through.
    burst = [2.05] * 5
    assert accept_all(counter, burst) == [2.05]
    assert len(accept_all(SlidingLog(5, 2.0), [0.0] * 5 + burst)) == 10
    assert counter.estimate(2.05) == pytest.approx(5 * 0.975 + 1)


@pytest.mark.parametrize("start", [0.0, 0.13, 1.99, 2.0])
def test_sliding_window_counter_accepts_even_pacing_with_a_margin(start: float) -> None:
    paced = [start + i * (2.0 + 0.01) / 5 for i in range(100)]
    assert accept_all(SlidingWindowCounter(5, 2.0, origin=0.0), paced) == paced


def test_sliding_window_counter_is_only_an_approximation() -> None:
    # A late burst is forgotten linearly, so a true 2 s window can see more than N.
    accepted = accept_all(SlidingWindowCounter(5, 2.0, origin=0.0), [1.99] * 5 + [2.4])
    assert max_in_any_window(accepted, 2.0) == 6


def test_make_algorithm() -> None:
    assert isinstance(make_algorithm("token-bucket", 5, 2.0), TokenBucket)
    assert isinstance(make_algorithm("fixed-window", 5, 2.0, origin=1.0), FixedWindow)
    with pytest.raises(ValueError, match="unknown"):
        make_algorithm("leaky", 5, 2.0)  # type: ignore[arg-type]


# -- max_in_any_window ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "window", "expected"),
    [
        ([], 2.0, 0),
        ([5.0], 2.0, 1),
        ([0.0, 2.0], 2.0, 1),  # half-open: t - W is outside
        ([0.0, 1.999], 2.0, 2),
        ([3.0, 0.0, 1.0, 2.5, 2.0], 2.0, 3),  # order does not matter
        ([1.0] * 7, 0.001, 7),
    ],
)
def test_max_in_any_window(times: list[float], window: float, expected: int) -> None:
    assert max_in_any_window(times, window) == expected


def test_max_in_any_window_matches_the_sliding_log() -> None:
    times = [i * 0.07 for i in range(200)]
    accepted = accept_all(SlidingLog(5, 2.0), times)
    assert max_in_any_window(accepted, 2.0) == 5
    assert max_in_any_window([*accepted, accepted[-1] + 0.001], 2.0) == 6
