"""The real ExchangeClient (real ccxt, real HTTP) against the stand-in Binance on loopback.

The server's clock stands at 2024-06-01 12:30 UTC, inside the 12:00 hourly candle, which is
therefore still open and must never come back as final. Sleeps go through a recorder, so
backoff and Retry-After waits are asserted on what the client asked for, not wall time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import ccxt.async_support as ccxt
import numpy as np
import pytest

from coinbt.collector.exchange import (
    ExchangeClient,
    ExchangeConfig,
    backoff_delay,
    retry_delay,
    translate_error,
)
from coinbt.domain.bars import Bars
from coinbt.errors import (
    ConfigurationError,
    ExchangeBannedError,
    ExchangeDataError,
    ExchangeError,
    ExchangeUnavailableError,
    InputError,
    NotFoundError,
    RateLimitedError,
)
from support.fake_binance import HOUR_MS, KLINES, FakeBinance, Fault, make_pairs

T = TypeVar("T")
NOW = 1_717_245_000_000  # 2024-06-01 12:30 UTC
OPEN_CANDLE = NOW - 30 * 60_000
DAYS = 90  # ETHUSDT then has 2,300+ hourly candles (3 pages) and a 5-hour outage
BASE = 0.01  # backoff base in these tests: the first retry waits 0.005..0.01 s


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBinance]:
    with FakeBinance(make_pairs(5, now_ms=NOW, days=DAYS), now_ms=NOW) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh(server: FakeBinance) -> None:
    server.settle()
    server.clear_faults()
    server.counts.clear()
    server.now_ms = NOW


class Sleeps(list[float]):
    """Records every wait the client asks for and yields instead of sleeping."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


def run(
    server: FakeBinance, use: Callable[[ExchangeClient], Awaitable[T]], **options: Any
) -> tuple[T, Sleeps]:
    """``use(client)`` with a fresh client on the stand-in; its result and the sleeps."""
    sleeps = options.pop("sleep", Sleeps())
    clock = options.pop("clock", None)
    settings = {"base_url": server.url, "rate_limit": False, "seed": 7, "backoff_base_s": BASE}
    config = ExchangeConfig(**(settings | options))

    async def main() -> T:
        async with ExchangeClient(config, clock=clock, sleep=sleeps) as client:
            return await use(client)

    return asyncio.run(main()), sleeps


def collect(symbol: str, start: int, end: int | None = None) -> Callable[[ExchangeClient], Any]:
    async def use(client: ExchangeClient) -> list[Bars]:
        return [bars async for bars in client.fetch_range(symbol, "1h", start, end)]

    return use


def assert_served(
    server: FakeBinance, pages: list[Bars], symbol: str, start: int, end: int | None = None
) -> None:
    """The pages hold exactly the server's closed candles of the range, in order."""
    want = server.candles(symbol, "1h", start, end)
    for page in pages:
        page.validate()
    for name in ("time", "open", "high", "low", "close", "volume"):
        got = np.concatenate([getattr(p, name) for p in pages]) if pages else np.empty(0)
        np.testing.assert_array_equal(got, want[name], err_msg=name)


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("exchange_id", ["binance", "kraken", "okx", "bybit"])
def test_every_api_url_is_rewritten_to_the_override(exchange_id: str) -> None:
    base = "http://127.0.0.1:9/prefix"
    client = ExchangeClient(ExchangeConfig(exchange_id=exchange_id, base_url=base))

    def urls(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from urls(value)
        else:
            yield node

    found = list(urls(client.api_urls))
    assert found and all(url == base or url.startswith(base + "/") for url in found), found
    asyncio.run(client.close())


def test_binance_endpoints_keep_their_paths() -> None:
    client = ExchangeClient(ExchangeConfig(base_url="http://stand-in:8080/"))
    assert client.api_urls["public"] == "http://stand-in:8080/api/v3"
    assert client.api_urls["sapi"] == "http://stand-in:8080/sapi/v1"
    assert client.api_urls["fapiPublic"] == "http://stand-in:8080/fapi/v1"
    asyncio.run(client.close())


@pytest.mark.parametrize(
    "options",
    [{"exchange_id": "no-such-exchange"}, {"base_url": "ftp://x"}, {"base_url": "localhost"},
     {"concurrency": 0}, {"timeout_s": 0}, {"backoff_base_s": 60.0}],
)  # fmt: skip
def test_bad_settings_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ExchangeClient(ExchangeConfig(**options))


# -- markets ---------------------------------------------------------------------------


def test_markets_are_the_active_spot_pairs_of_the_quote(server: FakeBinance) -> None:
    async def use(client: ExchangeClient) -> Any:
        return await client.markets(), await client.markets("BTC"), await client.markets()

    (usdt, btc, again), _ = run(server, use)
    assert [m.symbol for m in usdt] == ["BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    first = usdt[1]
    assert (first.base, first.quote, first.exchange_symbol, first.active) == (
        "BTC",
        "USDT",
        "BTC/USDT",
        True,
    )
    assert [m.symbol for m in btc] == ["ETHBTC"]
    assert again == usdt
    assert server.counts["/api/v3/exchangeInfo"] == 1  # loaded once, spot only
    assert set(server.counts) <= {"/api/v3/exchangeInfo"}


def test_markets_by_name_include_inactive_pairs_and_refuse_unknown_ones(
    server: FakeBinance,
) -> None:
    async def use(client: ExchangeClient) -> Any:
        found = await client.markets(symbols=["btc/usdt", "OLDUSDT"])
        with pytest.raises(NotFoundError, match="NOPEUSDT"):
            await client.markets(symbols=["BTCUSDT", "NOPEUSDT"])
        return found

    found, _ = run(server, use)
    assert [(m.symbol, m.active) for m in found] == [("BTCUSDT", True), ("OLDUSDT", False)]


# -- candles ---------------------------------------------------------------------------


def test_fetch_range_returns_exactly_the_served_candles(server: FakeBinance) -> None:
    pages, sleeps = run(server, collect("ETHUSDT", 0))
    assert_served(server, pages, "ETHUSDT", 0)
    rows = sum(len(p) for p in pages)
    assert rows > 2000 and [len(p) for p in pages][:2] == [1000, 1000]
    assert server.counts[KLINES] == len(pages) and not sleeps
    times = np.concatenate([p.time for p in pages])
    assert times[-1] == OPEN_CANDLE - HOUR_MS  # the open 12:00 candle is left out
    assert np.count_nonzero(np.diff(times) > HOUR_MS) == 1  # across the outage


def test_a_range_with_an_end_stops_there(server: FakeBinance) -> None:
    start, end = NOW - 40 * 24 * HOUR_MS, NOW - 2 * 24 * HOUR_MS
    pages, _ = run(server, collect("BTCUSDT", start, end))
    assert_served(server, pages, "BTCUSDT", start, end)
    assert pages[-1].time[-1] <= end


def test_a_late_listed_pair_starts_at_its_listing(server: FakeBinance) -> None:
    async def use(client: ExchangeClient) -> Any:
        first = await client.first_candle_time("SOLUSDT", "1h")
        return first, [b async for b in client.fetch_range("SOLUSDT", "1h", 0)]

    (first, pages), _ = run(server, use)
    assert first == server.series("SOLUSDT", "1h").first_open == pages[0].time[0]
    assert_served(server, pages, "SOLUSDT", 0)


def test_the_open_candle_is_split_off_by_the_servers_clock(server: FakeBinance) -> None:
    async def use(client: ExchangeClient) -> Any:
        return await client.fetch_page("BTCUSDT", "1h", NOW - 3 * HOUR_MS)

    page, _ = run(server, use)
    assert page.bars.time.tolist() == [OPEN_CANDLE - 2 * HOUR_MS, OPEN_CANDLE - HOUR_MS]
    assert page.open_bar is not None and page.open_bar.time.tolist() == [OPEN_CANDLE]
    assert page.next_start_ms is None and page.rows == 3
    assert server.counts["/api/v3/time"] == 1


def test_an_injected_clock_decides_which_candles_are_closed(server: FakeBinance) -> None:
    pages, _ = run(server, collect("BTCUSDT", NOW - 5 * HOUR_MS), clock=lambda: NOW - HOUR_MS)
    assert pages[-1].time[-1] == OPEN_CANDLE - 2 * HOUR_MS
    assert server.counts["/api/v3/time"] == 0


def test_ccxts_unified_ohlcv_path_gives_the_same_candles(server: FakeBinance) -> None:
    start = NOW - 50 * 24 * HOUR_MS
    pages, _ = run(server, collect("BTCUSDT", start), raw_klines=False)
    assert_served(server, pages, "BTCUSDT", start)


def test_fetch_many_pairs_concurrently(server: FakeBinance) -> None:
    start = NOW - 60 * 24 * HOUR_MS

    async def use(client: ExchangeClient) -> dict[str, list[Bars]]:
        pairs = [m.symbol for m in await client.markets()]
        got: dict[str, list[Bars]] = {s: [] for s in pairs}
        async for bars in client.fetch_many(dict.fromkeys(pairs, start), "1h"):
            got[bars.symbol].append(bars)
        return got

    got, _ = run(server, use, concurrency=3)
    for symbol, pages in got.items():
        assert_served(server, pages, symbol, start)


def test_the_rate_limiter_can_stay_on(server: FakeBinance) -> None:
    pages, _ = run(server, collect("BTCUSDT", NOW - 30 * 24 * HOUR_MS), rate_limit=True)
    assert sum(len(p) for p in pages) == 30 * 24 - 1


@pytest.mark.parametrize(
    "args", [(-1, None, None), (10, 5, None), (0, None, 0), (0, None, 1001)], ids=repr
)
def test_invalid_requests_are_input_errors(server: FakeBinance, args: tuple[Any, ...]) -> None:
    async def use(client: ExchangeClient) -> None:
        await client.fetch_page("BTCUSDT", "1h", *args)

    with pytest.raises(InputError):
        run(server, use)


# -- faults ----------------------------------------------------------------------------

FAULTS = {
    "500": Fault("status", 500),
    "502": Fault("status", 502),
    "503": Fault("status", 503),
    "timeout": Fault("delay", delay_s=1.0),
    "dropped mid-reply": Fault("drop"),
    "truncated json": Fault("truncate"),
    "malformed rows": Fault("malformed"),
    "not json": Fault("body", body="<html>maintenance</html>"),
    "out of order": Fault("out_of_order"),
    "duplicate": Fault("duplicate"),
    "429 without retry-after": Fault("status", 429),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_temporary_fault_is_retried_and_never_leaks_into_candles(
    server: FakeBinance, fault: Fault
) -> None:
    start = NOW - 60 * 24 * HOUR_MS
    server.inject(Fault("delay", delay_s=0), fault)  # the first page passes, the second fails once
    pages, sleeps = run(server, collect("ETHUSDT", start), timeout_s=0.3)
    assert_served(server, pages, "ETHUSDT", start)
    assert server.counts[KLINES] == len(pages) + 1
    assert len(sleeps) == 1 and BASE / 2 <= sleeps[0] <= BASE


def test_a_connection_reset_is_survived(server: FakeBinance) -> None:
    start = NOW - 10 * 24 * HOUR_MS
    server.inject(Fault("reset"))
    pages, _ = run(server, collect("BTCUSDT", start))
    assert_served(server, pages, "BTCUSDT", start)
    assert server.counts[KLINES] == len(pages) + 1  # aiohttp itself may have resent it


def test_every_third_request_failing_is_survived(server: FakeBinance) -> None:
    server.fail_every(3, Fault("status", 503))
    pages, sleeps = run(server, collect("ETHUSDT", 0))
    assert_served(server, pages, "ETHUSDT", 0)
    assert len(sleeps) == server.counts[KLINES] - len(pages) >= 1


def test_429_retry_after_is_honoured(server: FakeBinance) -> None:
    server.inject(Fault("status", 429, retry_after=7))
    pages, sleeps = run(server, collect("BTCUSDT", NOW - 24 * HOUR_MS))
    assert sleeps == [7.0]
    assert server.counts[KLINES] == 2 and len(pages[0]) == 23


def test_429_holds_back_every_request_once(server: FakeBinance) -> None:
    server.inject(Fault("status", 429, retry_after=5), Fault("status", 429, retry_after=5))

    async def slow(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0.2)  # long enough for the other 429 to arrive meanwhile

    async def use(client: ExchangeClient) -> Any:
        pair = (client.fetch_page(s, "1h", NOW - 5 * HOUR_MS) for s in ("BTCUSDT", "ETHUSDT"))
        return await asyncio.gather(*pair)

    sleeps: list[float] = []
    pages, _ = run(server, use, sleep=slow)
    assert sleeps == [5.0] and all(len(p.bars) == 4 for p in pages)
    assert server.counts[KLINES] == 4


def test_418_stops_at_once_with_a_clear_message(server: FakeBinance) -> None:
    server.inject(Fault("status", 418, retry_after=120))

    async def use(client: ExchangeClient) -> ExchangeBannedError:
        with pytest.raises(ExchangeBannedError) as first:
            await client.fetch_page("BTCUSDT", "1h", 0)
        with pytest.raises(ExchangeBannedError):  # the client stays stopped
            await client.fetch_page("ETHUSDT", "1h", 0)
        return first.value

    error, sleeps = run(server, use)
    assert "banned this IP (HTTP 418" in error.message and "Retry-After 120 s" in error.message
    assert "wait until the ban lifts" in error.hint and "lower concurrency" in error.hint
    assert not error.temporary and not sleeps and server.counts[KLINES] == 1


def test_418_stops_fetch_many(server: FakeBinance) -> None:
    server.fail_every(4, Fault("status", 418))

    async def use(client: ExchangeClient) -> None:
        async for _ in client.fetch_many(dict.fromkeys(["BTCUSDT", "ETHUSDT", "XRPUSDT"], 0), "1h"):
            pass

    with pytest.raises(ExchangeBannedError):
        run(server, use, concurrency=2)


def test_retries_exhausted_raise_unavailable(server: FakeBinance) -> None:
    server.fail_every(1, Fault("status", 503))
    with pytest.raises(ExchangeUnavailableError, match="gave up after 4 attempts") as caught:
        run(server, collect("BTCUSDT", 0), max_retries=3)
    assert "HTTP 503" in caught.value.message and "try again later" in caught.value.hint
    assert server.counts[KLINES] == 4


def test_malformed_replies_exhausted_raise_a_data_error(server: FakeBinance) -> None:
    server.fail_every(1, Fault("out_of_order"))
    with pytest.raises(ExchangeDataError, match=r"gave up after 3 attempts.*out of order"):
        run(server, collect("BTCUSDT", 0), max_retries=2)


def test_an_unknown_symbol_is_permanent(server: FakeBinance) -> None:
    with pytest.raises(ExchangeError) as caught:
        run(server, collect("NOPEUSDT", 0))
    assert not caught.value.temporary and "Invalid symbol" in caught.value.message
    assert server.counts[KLINES] == 1


# -- the retry policy and the error translation ----------------------------------------


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    config = ExchangeConfig(backoff_base_s=1.0, backoff_cap_s=8.0)
    rng = random.Random(3)
    for attempt, ceiling in enumerate([1, 2, 4, 8, 8, 8]):
        delay = backoff_delay(attempt, config, rng)
        assert ceiling / 2 <= delay <= ceiling
    again = [backoff_delay(2, config, random.Random(3)) for _ in range(2)]
    assert again[0] == again[1]  # seeded: reproducible


def test_retry_delay_by_error() -> None:
    config = ExchangeConfig(max_retries=2)
    rng = random.Random(0)
    assert retry_delay(RateLimitedError("429", retry_after=9), 0, config, rng) == 9
    assert retry_delay(ExchangeBannedError("418"), 0, config, rng) is None
    assert retry_delay(ExchangeError("refused"), 0, config, rng) is None
    assert retry_delay(ExchangeUnavailableError("503"), 2, config, rng) is None
    assert retry_delay(ExchangeDataError("bad"), 1, config, rng) is not None


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.RequestTimeout("t"), ExchangeUnavailableError),
        (ccxt.ExchangeNotAvailable("n"), ExchangeUnavailableError),
        (ccxt.OperationFailed("overloaded"), ExchangeUnavailableError),
        (ccxt.RateLimitExceeded("r"), RateLimitedError),
        (ccxt.BadResponse("b"), ExchangeDataError),
        (ccxt.BadSymbol("s"), ExchangeError),
        (ccxt.AuthenticationError("a"), ExchangeError),
        (TimeoutError(), ExchangeUnavailableError),
    ],
    ids=lambda x: type(x).__name__,
)
def test_ccxt_errors_translate(raised: BaseException, expected: type[ExchangeError]) -> None:
    error = translate_error(raised, "binance", "klines")
    assert type(error) is expected and error.message.startswith("binance klines")


def test_our_own_bugs_are_not_translated() -> None:
    assert translate_error(TypeError("oops"), "binance", "klines") is None
