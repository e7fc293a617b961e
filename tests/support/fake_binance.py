"""A stand-in for Binance's public spot REST API on loopback, for tests and benchmarks.

It speaks the real wire format of what ccxt's ``binance`` class calls to load spot markets
and fetch candles: ``/api/v3/exchangeInfo``, ``/api/v3/klines``, ``/api/v3/time`` and
``/api/v3/ping``. Candles are a deterministic random walk per pair and interval (independent
of coinbt, so it can serve as the tests' oracle), start at each pair's listing, skip its
outages and end with the still-open candle at the server's settable clock. Faults can be
queued for the next requests or applied to every k-th one; requests are counted per path.

In a test: ``with FakeBinance(make_pairs(5, now_ms=NOW)) as server: ... server.url``.
From a shell: ``python -m tests.support.fake_binance --port 8080 --pairs 263 --days 365``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

KLINES = "/api/v3/klines"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
INTERVAL_MS = {
    name: minutes * 60_000
    for name, minutes in {
        "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
        "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
    }.items()
}  # fmt: skip
_MONDAY_MS = 4 * DAY_MS  # Binance's weekly candles open on Mondays; 1970-01-05 was one
_CHUNK = 4096
_NAMES = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "TRX", "LINK", "DOT", "LTC", "AVAX")


@dataclass(frozen=True)
class Pair:
    """One spot pair of the stand-in exchange."""

    base: str
    quote: str = "USDT"
    status: str = "TRADING"  # or BREAK: listed but not trading
    listed_ms: int = 0  # the first candle opens at the first interval boundary from here
    outages: tuple[tuple[int, int], ...] = ()  # [start, end) spans with no candles
    seed: int = 0
    price: float = 100.0  # of the first candle's open

    @property
    def symbol(self) -> str:
        return self.base + self.quote


@dataclass(frozen=True)
class Fault:
    """A fault the server applies to one request instead of (or before) its answer.

    ``kind``: ``status`` (answer ``status`` with ``Retry-After: retry_after`` if set),
    ``delay`` (answer after ``delay_s``), ``drop`` (close the connection halfway through the
    body), ``reset`` (close it before answering), ``truncate`` (a cut-off JSON body),
    ``malformed`` (well-formed JSON, nonsense rows), ``out_of_order`` (two rows swapped),
    ``duplicate`` (a row repeated), ``body`` (``body`` verbatim, status 200).
    """

    kind: str
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    body: str = ""


@dataclass
class _Series:
    """A pair's candles on one interval, grown in chunks so any prefix is deterministic."""

    first_open: int
    ms: int
    seed: tuple[int, int]
    price: float
    cols: np.ndarray = field(default_factory=lambda: np.empty((6, 0)))

    def ensure(self, count: int) -> None:
        while self.cols.shape[1] < count:
            chunk = self._chunk(self.cols.shape[1] // _CHUNK)
            self.cols = np.concatenate([self.cols, chunk], axis=1)

    def _chunk(self, k: int) -> np.ndarray:
        rng = np.random.default_rng([*self.seed, k])
        vol = 0.01 * np.sqrt(self.ms / HOUR_MS)
        close = self.price * np.exp(np.cumsum(rng.normal(0.0, vol, _CHUNK)))
        open_ = np.concatenate([[self.price], close[:-1]])
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2, _CHUNK)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2, _CHUNK)))
        volume = rng.gamma(2.0, 50.0, _CHUNK)
        trades = rng.integers(1, 5000, _CHUNK).astype(np.float64)
        self.price = float(close[-1])
        # 8 decimals as Binance sends them; rounding is monotonic, so OHLC stays consistent
        return np.round(np.stack([open_, high, low, close, volume, trades]), 8)


def make_pairs(count: int, *, now_ms: int, days: int = 365, quote: str = "USDT") -> list[Pair]:
    """``count`` trading pairs quoted in ``quote``, plus ETHBTC and a delisted (BREAK) pair.

    Most were listed a week before ``now - days``; the third was listed halfway through, and
    the second had a 5-hour outage 30 days before ``now``.
    """
    origin = now_ms - (days + 7) * DAY_MS
    outage_at = now_ms - now_ms % HOUR_MS - 30 * DAY_MS
    pairs = []
    for i in range(count):
        base = _NAMES[i] if i < len(_NAMES) else f"C{i:03d}"
        listed = now_ms - days * DAY_MS // 2 if i == 2 else origin
        outages = ((outage_at, outage_at + 5 * HOUR_MS),) if i == 1 else ()
        price = float(10 ** (i % 5)) * (1 + i % 7)
        pairs.append(Pair(base, quote, "TRADING", listed, outages, i, price))
    pairs.append(Pair("ETH", "BTC", "TRADING", origin, (), 9001, 0.05))
    pairs.append(Pair("OLD", quote, "BREAK", origin, (), 9002, 3.0))
    return pairs


class FakeBinance:
    """The stand-in server; ``start()``/``stop()`` or ``with``. ``now_ms=None`` follows the
    wall clock; set ``server.now_ms`` to move the server's clock."""

    def __init__(
        self,
        pairs: list[Pair] | None = None,
        *,
        now_ms: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        self.pairs = {
            p.symbol: p for p in (pairs if pairs is not None else make_pairs(5, now_ms=now))
        }
        self.now_ms = now_ms
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, dict[str, str]]] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._every: dict[str, tuple[int, Fault, int]] = {}  # k, fault, requests seen
        self._series: dict[tuple[str, str], _Series] = {}
        self._lock = threading.RLock()
        self._sock = socket.create_server((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def now(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    # -- faults and counts --------------------------------------------------------------

    def inject(self, *faults: Fault, path: str = KLINES) -> None:
        """Apply ``faults`` to the next requests of ``path``, one each, in order."""
        with self._lock:
            self._faults.setdefault(path, deque()).extend(faults)

    def fail_every(self, k: int, fault: Fault, path: str = KLINES) -> None:
        """Apply ``fault`` to every ``k``-th request of ``path`` (counted from now on)."""
        with self._lock:
            self._every[path] = (k, fault, 0)

    def settle(self, timeout_s: float = 5.0) -> None:
        """Wait until no client connection is open, twice in a row 20 ms apart.

        A test whose client gave up mid-flight (a ban among concurrent requests) leaves a
        request on the wire; the server may count it after the next test cleared the counts.
        """
        deadline, quiet = time.monotonic() + timeout_s, 0
        while quiet < 2 and time.monotonic() < deadline:
            server = self._runner.server if self._runner is not None else None
            quiet = quiet + 1 if server is None or not server.connections else 0
            time.sleep(0.02)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._every.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.counts[path] += 1
            queued = self._faults.get(path)
            if queued:
                return queued.popleft()
            if path in self._every:
                k, fault, seen = self._every[path]
                self._every[path] = (k, fault, seen + 1)
                return fault if (seen + 1) % k == 0 else None
            return None

    # -- candles: the oracle ------------------------------------------------------------

    def series(self, symbol: str, interval: str) -> _Series:
        with self._lock:
            key = (symbol, interval)
            if key not in self._series:
                pair, ms = self.pairs[symbol], INTERVAL_MS[interval]
                anchor = _MONDAY_MS if interval == "1w" else 0
                first = pair.listed_ms + (anchor - pair.listed_ms) % ms
                code = list(INTERVAL_MS).index(interval)
                self._series[key] = _Series(first, ms, (pair.seed, code), pair.price)
            return self._series[key]

    def rows(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> np.ndarray:
        """Candle indices a klines request gets, as Binance picks them (open one included)."""
        s = self.series(symbol, interval)
        last = (self.now() - s.first_open) // s.ms  # the candle open at "now"
        hi = last if end is None else min(last, (end - s.first_open) // s.ms)
        lo = 0 if start is None else max(0, -((s.first_open - start) // s.ms))
        spare = sum((b - a) // s.ms + 1 for a, b in self.pairs[symbol].outages)
        if hi < lo:
            return np.empty(0, dtype=np.int64)
        if start is None:  # Binance answers the newest candles then
            idx = np.arange(max(lo, hi - limit - spare + 1), hi + 1)
            return self._keep(symbol, s, idx)[-limit:]
        idx = np.arange(lo, min(hi, lo + limit + spare - 1) + 1)
        return self._keep(symbol, s, idx)[:limit]

    def _keep(self, symbol: str, s: _Series, idx: np.ndarray) -> np.ndarray:
        t = s.first_open + idx * s.ms
        gone = np.zeros(len(idx), dtype=bool)
        for a, b in self.pairs[symbol].outages:
            gone |= (t >= a) & (t < b)
        return idx[~gone]

    def candles(self, symbol: str, interval: str, start: int, end: int | None = None) -> Any:
        """The closed candles opening in ``[start, end]``: what a client must collect.

        A record array with ``time, open, high, low, close, volume``.
        """
        s = self.series(symbol, interval)
        closed_end = self.now() - s.ms
        idx = self.rows(
            symbol, interval, start, closed_end if end is None else min(end, closed_end), 10**9
        )
        values = self._values(s, idx)
        names = "time,open,high,low,close,volume"
        return np.rec.fromarrays([s.first_open + idx * s.ms, *values[:5]], names=names)

    def _values(self, s: _Series, idx: np.ndarray) -> np.ndarray:
        with self._lock:  # tests read the oracle while the server thread extends the series
            s.ensure(int(idx.max()) + 1 if len(idx) else 0)
            values = s.cols[:, idx].copy()
        now = self.now()
        live = s.first_open + idx * s.ms + s.ms > now
        if live.any():  # the still-open candle so far: part of the way from open to close
            frac = (now - (s.first_open + idx[live] * s.ms)) / s.ms
            o, c = values[0, live], values[3, live]
            part = np.round(o + (c - o) * frac, 8)
            values[1, live], values[2, live] = np.maximum(o, part), np.minimum(o, part)
            values[3, live], values[4, live] = part, np.round(values[4, live] * frac, 8)
            values[5, live] = np.floor(values[5, live] * frac)
        return values

    def klines_body(self, symbol: str, interval: str, idx: np.ndarray) -> str:
        s = self.series(symbol, interval)
        v = self._values(s, idx)
        times = (s.first_open + idx * s.ms).tolist()
        rows = [
            f'[{t},"{o:.8f}","{h:.8f}","{lo:.8f}","{c:.8f}","{vol:.8f}",{t + s.ms - 1},'
            f'"{vol * c:.8f}",{int(n)},"{vol / 2:.8f}","{vol * c / 2:.8f}","0"]'
            for t, o, h, lo, c, vol, n in zip(times, *v.tolist(), strict=True)
        ]
        return "[" + ",".join(rows) + "]"

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        query = dict(request.query)
        with self._lock:
            self.log.append((path, query))
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
            fault = None
        if fault is not None and fault.kind in ("status", "reset"):
            return self._fail(request, fault)
        status, body = self._answer(path, query)
        if fault is not None and status == 200:
            return await self._spoil(request, fault, body)
        return web.Response(status=status, text=body, content_type="application/json")

    def _answer(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        if path == "/api/v3/ping":
            return 200, "{}"
        if path == "/api/v3/time":
            return 200, json.dumps({"serverTime": self.now()})
        if path == "/api/v3/exchangeInfo":
            return 200, json.dumps(self._exchange_info())
        if path == KLINES:
            return self._klines(query)
        return 404, json.dumps({"code": -1, "msg": f"no such endpoint {path}"})

    def _klines(self, q: dict[str, str]) -> tuple[int, str]:
        if q.get("symbol") not in self.pairs:
            return 400, json.dumps({"code": -1121, "msg": "Invalid symbol."})
        if q.get("interval") not in INTERVAL_MS:
            return 400, json.dumps({"code": -1120, "msg": "Invalid interval."})
        try:
            start, end = (int(q[k]) if k in q else None for k in ("startTime", "endTime"))
            limit = int(q.get("limit", 500))
        except ValueError:
            return 400, json.dumps(
                {"code": -1100, "msg": "Illegal characters found in a parameter."}
            )
        if not 1 <= limit <= 1000:
            return 400, json.dumps({"code": -1130, "msg": "Invalid data sent for a parameter."})
        idx = self.rows(q["symbol"], q["interval"], start, end, limit)
        return 200, self.klines_body(q["symbol"], q["interval"], idx)

    def _exchange_info(self) -> dict[str, Any]:
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000000.00000000",
             "tickSize": "0.00000001"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000",
             "maxNotional": "9000000.00000000"},
        ]  # fmt: skip
        symbols = [
            {"symbol": p.symbol, "status": p.status, "baseAsset": p.base, "baseAssetPrecision": 8,
             "quoteAsset": p.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
             "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "ocoAllowed": True,
             "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "filters": filters,
             "permissions": [], "permissionSets": [["SPOT"]]}
            for p in self.pairs.values()
        ]  # fmt: skip
        limits = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            }
        ]
        return {"timezone": "UTC", "serverTime": self.now(), "rateLimits": limits,
                "exchangeFilters": [], "symbols": symbols}  # fmt: skip

    def _fail(self, request: web.Request, fault: Fault) -> web.Response:
        if fault.kind == "reset":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        messages = {429: "Too many requests; current limit is 6000 weight per minute.",
                    418: "Way too many requests; IP banned."}  # fmt: skip
        body = messages.get(fault.status, "Server error")
        if fault.status >= 500:
            return web.Response(status=fault.status, text="<html>error</html>", headers=headers)
        text = json.dumps({"code": -1003, "msg": body})
        return web.Response(
            status=fault.status, text=text, headers=headers, content_type="application/json"
        )

    async def _spoil(self, request: web.Request, fault: Fault, body: str) -> web.StreamResponse:
        if fault.kind == "drop":
            data = body.encode()
            response = web.StreamResponse(headers={"Content-Length": str(len(data))})
            response.content_type = "application/json"
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            if request.transport is not None:
                request.transport.close()
            return response
        text = _spoiled(fault, body)
        return web.Response(status=200, text=text, content_type="application/json")

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeBinance:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the stand-in server did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        runner = self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, self._sock).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spoiled(fault: Fault, body: str) -> str:
    rows = json.loads(body)
    if fault.kind == "truncate":
        return body[: max(1, len(body) // 2)]
    if fault.kind == "body":
        return fault.body
    if fault.kind == "malformed":
        return json.dumps([[row[0], "abc", *row[2:]] for row in rows] or [["abc"]])
    if len(rows) >= 2 and fault.kind == "out_of_order":
        rows[0], rows[1] = rows[1], rows[0]
    elif len(rows) >= 2 and fault.kind == "duplicate":
        rows[1] = rows[0]
    return json.dumps(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a stand-in for Binance's spot REST API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=263, help="trading USDT pairs")
    parser.add_argument("--days", type=int, default=365, help="history before now")
    parser.add_argument("--now", type=int, default=None, help="fixed clock, UTC ms")
    args = parser.parse_args()
    now = args.now if args.now is not None else int(time.time() * 1000)
    pairs = make_pairs(args.pairs, now_ms=now, days=args.days)
    server = FakeBinance(pairs, now_ms=args.now, host=args.host, port=args.port).start()
    print(f"fake binance listening on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
