"""The exchange client: the only module that imports ccxt.

:class:`ExchangeClient` lists an exchange's spot pairs and pages through their candles
(Binance spot by default, any ccxt exchange id by configuration). Every fault is translated
here, in :func:`translate_error`, into coinbt's own errors: temporary ones (5xx, timeouts,
dropped connections, 429, unusable replies) are retried with jittered exponential backoff,
a 429's Retry-After is honoured by holding back every request; permanent ones, above all a
418 IP ban, stop at once and say why.

Binance's klines are read through ccxt's raw endpoint method (still ccxt's session, rate
limiter and error handling) and parsed by :mod:`coinbt.collector.paging` with numpy, because
ccxt's per-row ``parse_ohlcv`` would dominate the cost of a page.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
import ccxt.async_support as ccxt

from coinbt.collector.exchange_types import ExchangeConfig, Market
from coinbt.collector.paging import Page, PageRequest, build_page
from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
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

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], int]

_BANNED_HINT = (
    "stop now and wait until the ban lifts before any new run; then collect with a lower "
    "concurrency and the rate limit on (ignored 429 answers are what leads to a ban)"
)
_DONE = object()


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """ccxt's ``urls['api']`` (a URL or nested dicts of them) with every URL moved onto
    ``base_url``, keeping its path, so that no request can reach the real host."""
    if isinstance(urls, dict):
        return {key: rewrite_api_urls(value, base_url) for key, value in urls.items()}
    if isinstance(urls, str):
        parts = urlsplit(urls)
        query = f"?{parts.query}" if parts.query else ""
        return base_url.rstrip("/") + parts.path + query
    return urls


def translate_error(exc: BaseException, exchange: str, what: str) -> ExchangeError | None:
    """coinbt's error for a fault of ``what`` (a request), or ``None`` for a bug of ours."""
    if isinstance(exc, ExchangeError):
        return exc
    where = f"{exchange} {what}"
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimitedError(f"{where}: rate limited ({_brief(exc)})")
    if isinstance(exc, ccxt.BadResponse):
        return ExchangeDataError(f"{where}: unusable reply ({_brief(exc)})")
    # OperationFailed covers the network errors and "overloaded, try again" answers; ccxt
    # wraps a connection dropped mid-reply in a bare ExchangeError caused by aiohttp
    if isinstance(exc, ccxt.OperationFailed | asyncio.TimeoutError | aiohttp.ClientError) or (
        isinstance(exc, ccxt.ExchangeError) and isinstance(exc.__cause__, aiohttp.ClientError)
    ):
        reason = type(exc.__cause__ or exc).__name__
        return ExchangeUnavailableError(f"{where}: {reason} ({_brief(exc)})")
    if isinstance(exc, ccxt.BaseError):
        return ExchangeError(
            f"{where}: refused ({_brief(exc)})",
            hint="the exchange rejected the request; check the symbol, interval and settings",
        )
    return None


def backoff_delay(attempt: int, config: ExchangeConfig, rng: random.Random) -> float:
    """Seconds before retry ``attempt`` (0-based): equal jitter, half to all of
    ``min(cap, base * 2**attempt)``, so concurrent retries spread out but never hammer."""
    ceiling = min(config.backoff_cap_s, config.backoff_base_s * 2.0**attempt)
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def retry_delay(
    error: ExchangeError, attempt: int, config: ExchangeConfig, rng: random.Random
) -> float | None:
    """Seconds to wait before retrying after ``error`` on ``attempt`` (0-based), or ``None``
    when it must not be retried: a permanent error (a 418 ban) or retries used up."""
    if not error.temporary or attempt >= config.max_retries:
        return None
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return max(error.retry_after, 0.0)
    return backoff_delay(attempt, config, rng)


class ExchangeClient:
    """Spot pairs and validated candle pages of one exchange; use ``async with``.

    ``clock`` returns "now" in UTC ms (for deciding which candle is still open); by default
    the local clock corrected by the exchange's server time. ``sleep`` is awaited for every
    backoff and Retry-After wait.
    """

    def __init__(
        self,
        config: ExchangeConfig | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config or ExchangeConfig()
        self._exchange = _create_exchange(self.config)
        self._id: str = self._exchange.id
        self._raw = self.config.raw_klines and hasattr(self._exchange, "publicGetKlines")
        self._clock, self._sleep = clock, sleep
        self._rng = random.Random(self.config.seed)
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._pause = asyncio.Lock()  # held while the whole client waits out a 429
        self._clock_lock = asyncio.Lock()
        self._offset_ms: int | None = None
        self._banned: ExchangeBannedError | None = None
        self._markets: dict[str, Market] | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._exchange.close()

    @property
    def api_urls(self) -> Any:
        """The REST endpoints the client talks to (ccxt's ``urls['api']``)."""
        return self._exchange.urls["api"]

    async def markets(
        self, quote: str = "USDT", symbols: Iterable[str] | None = None
    ) -> list[Market]:
        """The active spot pairs quoted in ``quote``, by symbol; or exactly ``symbols``
        (``BTCUSDT`` or ``BTC/USDT``, active or not), raising :class:`NotFoundError` for
        any the exchange does not list."""
        table = await self._load_markets()
        if symbols is None:
            chosen = [m for m in table.values() if m.active and m.quote == quote.upper()]
            return sorted(chosen, key=lambda m: m.symbol)
        wanted = [_normalise(s) for s in symbols]
        missing = [s for s in wanted if s not in table]
        if missing:
            raise NotFoundError(
                f"{self._id} lists no spot pair {', '.join(missing)}",
                hint="check the spelling, e.g. BTCUSDT",
                field="symbols",
            )
        return [table[s] for s in wanted]

    async def fetch_page(
        self,
        symbol: str,
        interval: Interval | str,
        start_ms: int,
        end_ms: int | None = None,
        limit: int | None = None,
    ) -> Page:
        """One request for up to ``limit`` candles opening in ``[start_ms, end_ms]``,
        validated (refused replies are refetched); the still-open candle is split off."""
        request = self._request(symbol, interval, start_ms, end_ms, limit)
        await self._sync_clock()
        exchange_symbol = request.symbol if self._raw else await self._exchange_symbol(symbol)

        async def attempt() -> Page:
            raw = await self._klines(request, exchange_symbol)
            return build_page(raw, request, self._now_ms())

        return await self._call(f"klines {request.describe()}", attempt)

    async def fetch_range(
        self, symbol: str, interval: Interval | str, start_ms: int, end_ms: int | None = None
    ) -> AsyncIterator[Bars]:
        """The closed candles opening in ``[start_ms, end_ms]``, one page at a time, oldest
        first, until the range or the data ends; empty pages are skipped."""
        start: int | None = start_ms
        while start is not None:
            page = await self.fetch_page(symbol, interval, start, end_ms)
            if len(page.bars):
                yield page.bars
            start = page.next_start_ms

    async def fetch_many(
        self, starts: Mapping[str, int], interval: Interval | str, end_ms: int | None = None
    ) -> AsyncIterator[Bars]:
        """:meth:`fetch_range` of many pairs (``symbol -> start_ms``), ``concurrency`` at a
        time; each pair's pages come in order, pairs interleave. The first error cancels the
        rest and is raised. Close the iterator (``contextlib.aclosing``) when leaving early."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2 * self.config.concurrency)
        todo = list(starts.items())[::-1]

        async def worker() -> None:
            while todo:
                symbol, start = todo.pop()
                async for bars in self.fetch_range(symbol, interval, start, end_ms):
                    await queue.put(bars)

        async def pump() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(min(self.config.concurrency, len(todo))):
                        group.create_task(worker())
            except BaseExceptionGroup as failed:
                await queue.put(failed.exceptions[0])
            await queue.put(_DONE)

        pumping = asyncio.create_task(pump())
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Bars)
                yield item
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)

    async def first_candle_time(self, symbol: str, interval: Interval | str) -> int | None:
        """Open time of the pair's first candle (its listing), ``None`` if it has none."""
        page = await self.fetch_page(symbol, interval, 0, None, 1)
        shown = page.bars if len(page.bars) else page.open_bar
        return int(shown.time[0]) if shown is not None and len(shown) else None

    async def server_time(self) -> int:
        """The exchange's clock in UTC ms."""

        async def attempt() -> int:
            value = await self._exchange.fetch_time()
            if not isinstance(value, int) or value <= 0:
                raise ExchangeDataError(f"{self._id} server time: unusable value {value!r}")
            return value

        return await self._call("server time", attempt)

    async def _call(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` within the concurrency limit, retried after temporary faults."""
        for tries in itertools.count():
            if self._banned is not None:
                raise ExchangeBannedError(self._banned.message, hint=self._banned.hint)
            if self._pause.locked():  # another request is waiting out a 429: queue behind it
                async with self._pause:
                    pass
            try:
                async with self._slots:
                    return await attempt()
            except Exception as exc:
                error = translate_error(exc, self._id, what)
                if error is None:
                    raise
                delay = self._plan_retry(error, exc, what, tries)
            await self._wait(error, delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _plan_retry(self, error: ExchangeError, exc: Exception, what: str, tries: int) -> float:
        delay = retry_delay(error, tries, self.config, self._rng)
        if delay is not None:
            return delay
        if isinstance(error, ExchangeBannedError):
            self._banned = error
        if not error.temporary:
            raise error from (None if error is exc else exc)
        kind = (
            ExchangeDataError if isinstance(error, ExchangeDataError) else ExchangeUnavailableError
        )
        raise kind(
            f"{self._id} {what}: gave up after {tries + 1} attempts; last error: {error.message}",
            hint="the exchange or the network keeps failing; nothing was kept from the failed "
            "requests; try again later or allow more retries (max_retries)",
        ) from exc

    async def _wait(self, error: ExchangeError, delay: float) -> None:
        if not isinstance(error, RateLimitedError):
            await self._sleep(delay)
        elif self._pause.locked():  # someone already waits out the limit for everyone
            async with self._pause:
                pass
        else:  # a 429 concerns the whole IP: hold every request back, not only this one
            async with self._pause:
                await self._sleep(delay)

    def _request(
        self, symbol: str, interval: Interval | str, start: int, end: int | None, limit: int | None
    ) -> PageRequest:
        size = self.config.page_limit if limit is None else limit
        inverted = start < 0 or (end is not None and end < start)
        if inverted or not 1 <= size <= self.config.page_limit:
            raise InputError(
                f"invalid candle request: start {start}, end {end}, limit {size}",
                hint=f"start >= 0, end >= start, 1 <= limit <= {self.config.page_limit}",
            )
        return PageRequest(_normalise(symbol), Interval.parse(interval), start, end, size)

    async def _klines(self, request: PageRequest, exchange_symbol: str) -> Any:
        if self._raw:
            params: dict[str, Any] = {
                "symbol": exchange_symbol,
                "interval": request.interval.value,
                "startTime": request.start_ms,
                "limit": request.limit,
            }
            if request.end_ms is not None:
                params["endTime"] = request.end_ms
            return await self._exchange.publicGetKlines(params)
        until = {} if request.end_ms is None else {"until": request.end_ms}
        return await self._exchange.fetch_ohlcv(
            exchange_symbol, request.interval.value, request.start_ms, request.limit, until
        )

    async def _load_markets(self) -> dict[str, Market]:
        if self._markets is None:
            loaded = await self._call("markets", self._exchange.load_markets)
            markets = (_market(m) for m in loaded.values() if m.get("spot"))
            self._markets = {m.symbol: m for m in markets}
        return self._markets

    async def _exchange_symbol(self, symbol: str) -> str:
        return (await self.markets(symbols=[symbol]))[0].exchange_symbol

    async def _sync_clock(self) -> None:
        if self._clock is not None or self._offset_ms is not None:
            return
        async with self._clock_lock:
            if self._offset_ms is None:
                has_time = self._exchange.has.get("fetchTime")
                self._offset_ms = await self.server_time() - _wall_ms() if has_time else 0

    def _now_ms(self) -> int:
        if self._clock is not None:
            return self._clock()
        return _wall_ms() + (self._offset_ms or 0)


def _create_exchange(config: ExchangeConfig) -> Any:
    if config.exchange_id not in ccxt.exchanges:
        raise ConfigurationError(
            f"unknown exchange {config.exchange_id!r}",
            hint="COINBT_EXCHANGE must be a ccxt exchange id such as binance, kraken or okx",
        )
    options: dict[str, Any] = {"defaultType": "spot"}
    if config.exchange_id.startswith("binance"):  # spot only: one exchangeInfo request
        options |= {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}
        options |= {"fetchMargins": False}
    settings: dict[str, Any] = {
        "enableRateLimit": config.rate_limit,
        "timeout": int(config.timeout_s * 1000),
        "options": options,
    }
    if config.rate_limit_window_s is not None:
        settings |= {"rateLimiterAlgorithm": "rollingWindow"}
        settings |= {"rollingWindowSize": config.rate_limit_window_s * 1000}
    if config.rate_limit_ms is not None:
        settings["rateLimit"] = config.rate_limit_ms
    exchange = getattr(ccxt, config.exchange_id)(settings)
    if config.base_url is not None:
        exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], config.base_url)
        if config.base_url.startswith("http://"):
            # ccxt waits 250 ms on close for TLS sessions to shut down; plain HTTP has none.
            exchange.timeout_on_exit = 0
    _install_status_hook(exchange)
    return exchange


def _install_status_hook(exchange: Any) -> None:
    """Translate 5xx, 418 and 429 from the HTTP status itself: ccxt reports 418 and 429 as
    the same DDoSProtection and drops the Retry-After header, which coinbt must honour."""
    original = exchange.handle_errors

    def handle_errors(
        code: int, reason: str, url: str, method: str, headers: Any, *rest: Any
    ) -> Any:
        if code >= 500:  # whatever the body says (Binance may send a permanent-looking code)
            raise ExchangeUnavailableError(f"{exchange.id} HTTP {code} {reason} on {method} {url}")
        if code in (418, 429):
            retry_after = _retry_after(headers)
            after = "" if retry_after is None else f"; Retry-After {retry_after:g} s"
            if code == 418:
                message = f"{exchange.id} banned this IP (HTTP 418 on {method} {url}){after}"
                raise ExchangeBannedError(message, hint=_BANNED_HINT)
            raise RateLimitedError(
                f"{exchange.id} rate limit hit (HTTP 429 on {method} {url}){after}",
                retry_after=retry_after,
            )
        return original(code, reason, url, method, headers, *rest)

    exchange.handle_errors = handle_errors


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds (Binance sends seconds; an HTTP date counts as absent)."""
    text = next((str(v) for k, v in (headers or {}).items() if k.lower() == "retry-after"), "")
    try:
        return max(float(text), 0.0)
    except ValueError:
        return None


def _market(raw: Mapping[str, Any]) -> Market:
    return Market(
        symbol=_normalise(str(raw["id"])),
        base=str(raw["base"]),
        quote=str(raw["quote"]),
        active=raw.get("active") is not False,  # ccxt says None when the exchange doesn't
        exchange_symbol=str(raw["symbol"]),
        id=str(raw["id"]),
    )


def _normalise(symbol: str) -> str:
    """``BTCUSDT`` from ``btc/usdt``, ``BTC-USDT`` or ``BTCUSDT``."""
    return re.sub(r"[^A-Z0-9]", "", symbol.upper())


def _brief(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


__all__ = [
    "Clock",
    "ExchangeClient",
    "ExchangeConfig",
    "Market",
    "Sleep",
    "backoff_delay",
    "retry_delay",
    "rewrite_api_urls",
    "translate_error",
]
