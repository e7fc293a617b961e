"""Speed of the HTTP API over a real ``coinbt serve`` (uvicorn) on 127.0.0.1.

Run ``.venv/bin/python benchmarks/bench_api.py`` (``--quick`` for 20 pairs and a 5 s load
run; ``--help`` for options). It imports the real Binance hourly files of ``--data-dir``
into a fresh DuckDB file (or uses ``--db``, already imported), starts the server in a
subprocess with the in-process cache, and times over HTTP with one keep-alive client,
median of ``--repeats`` requests (minimum in brackets):

- the dashboard of every pair;
- one pair-year of hourly candles, backtested uncached (each request asks for parameters
  never asked before) and cached (the same request again), the equity curve downsampled to
  500 points with every trade; and "lean" (200 points, no trades: the HTTP floor);
- a batch over every imported hourly pair for one year (2021: 174 of the 194 sample pairs
  have candles in it): cold (cache purged before each, so every pair is read from the
  store and run) and warm (every pair from the cache);
- the seed's batch of 5 daily pairs, cold and warm;

then a load run: 50 concurrent clients mixing dashboard and (mostly cached) run requests
for ``--seconds``, reporting requests per second, p50, p99 and errors.

Targets (issue 5) and the seed's figures are printed beside each result.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from coinbt.services import market
from coinbt.store import open_store

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_DATA = SHARED / "data" / "real" / "binance_spot" / "1h"
YEAR = ("2021-01-01", "2021-12-31")  # the year most of the sample pairs cover (174 of 194)
TARGETS = {
    "dashboard, all pairs": (0.005, 0.043),
    "run one pair-year 1h, uncached": (0.020, None),
    "run one pair-year 1h, cached": (0.002, None),
    "run one pair-year 1h, cached, lean": (0.002, None),
    "batch all 1h pairs one year, cold": (1.0, None),
    "batch all 1h pairs one year, warm": (0.100, None),
    "seed batch 5 daily pairs, cold": (None, 2.3),
    "seed batch 5 daily pairs, warm": (None, 2.3),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_db(data_dir: Path, path: Path, limit: int | None) -> int:
    """Import the hourly files into a DuckDB file; the number of pairs."""
    files = sorted(data_dir.glob("*.csv"))
    if limit is not None:  # the one-pair figures ask for BTCUSDT: keep it among the few
        files = sorted({*files[: limit - 1], *data_dir.glob("BTCUSDT-*.csv")})
    store = open_store(f"duckdb:///{path}")
    try:
        began = time.perf_counter()
        summary = market.import_files(store, files)
        print(f"imported {summary.pairs} pairs, {summary.candles:,} candles in "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        return summary.pairs
    finally:
        store.close()


def covering(pairs: list[Any]) -> list[str]:
    """Symbols of the pairs whose hourly candles cover :data:`YEAR` (the load run and the
    seed batch ask only for those, so every answer is a 200)."""
    lo, hi = (calendar.timegm(time.strptime(d, "%Y-%m-%d")) * 1000 for d in YEAR)
    return [
        p.symbol
        for p in pairs
        for s in p.series
        if s.interval.value == "1h" and s.first_time <= lo and s.last_time >= hi
    ]


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COINBT_DATABASE_URL": f"duckdb:///{db}", "COINBT_CACHE_URL": "memory://"}
    env.pop("COINBT_API_KEY", None)
    command = [sys.executable, "-m", "coinbt.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not start")


def timed(
    call: Callable[[int], httpx.Response], repeats: int, before: Callable[[], Any] | None = None
) -> tuple[float, float]:
    """Median and minimum seconds of ``repeats`` calls (after one warm-up call); ``before``
    runs untimed ahead of each call."""
    call(-1)
    runs = []
    for i in range(repeats):
        if before is not None:
            before()
        began = time.perf_counter()
        response = call(i)
        runs.append(time.perf_counter() - began)
        response.raise_for_status()
    return statistics.median(runs), min(runs)


def requests(symbols: list[str]) -> dict[str, tuple[str, str, Any, bool]]:
    """Name -> (method, path, body or a function of the repeat number, purge the cache
    before each)."""
    run = {"crypto_id": "BTCUSDT", "strategy_id": "sma_cross", "interval": "1h",
           "start_date": YEAR[0], "end_date": YEAR[1], "max_points": 500}  # fmt: skip
    lean = {**run, "max_points": 200, "include_trades": False}
    batch = {"strategy_id": "sma_cross", "crypto_ids": "all", "interval": "1h",
             "start_date": YEAR[0], "end_date": YEAR[1]}  # fmt: skip
    seed = {"strategy_id": 1, "crypto_ids": symbols[:5], "interval": "1d",
            "parameters": {"initial_investment": 10000, "transaction_fee": 0.001},
            "start_date": YEAR[0], "end_date": YEAR[1], "use_parallel": True}  # fmt: skip

    def fresh(i: int) -> dict[str, Any]:  # parameters never asked before: a cache miss
        return {**run, "parameters": {"slow": 100 + i}}

    runs, batches = "/api/crypto/backtest/run", "/api/crypto/backtest/batch"
    return {
        "dashboard, all pairs": ("GET", "/api/crypto/dashboard", None, False),
        "run one pair-year 1h, uncached": ("POST", runs, fresh, False),
        "run one pair-year 1h, cached": ("POST", runs, run, False),
        "run one pair-year 1h, cached, lean": ("POST", runs, lean, False),
        "batch all 1h pairs one year, cold": ("POST", batches, batch, True),
        "batch all 1h pairs one year, warm": ("POST", batches, batch, False),
        "seed batch 5 daily pairs, cold": ("POST", batches, seed, True),
        "seed batch 5 daily pairs, warm": ("POST", batches, seed, False),
    }


def sequential(
    client: httpx.Client, repeats: int, symbols: list[str]
) -> dict[str, tuple[float, float]]:
    """Every figure of :func:`requests`, one client, one request at a time."""

    def purge() -> None:
        client.post("/api/cache/purge").raise_for_status()

    figures = {}
    for name, (method, path, body, cold) in requests(symbols).items():

        def call(i: int, method: str = method, path: str = path, body: Any = body) -> Any:
            return client.request(method, path, json=body(i) if callable(body) else body)

        figures[name] = timed(call, repeats, purge if cold else None)
    return figures


async def load(base: str, seconds: float, clients: int, symbols: list[str]) -> dict[str, float]:
    """``clients`` concurrent clients alternating dashboard and run requests."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one(client: httpx.AsyncClient, rng: random.Random) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            began = time.perf_counter()
            try:
                if rng.random() < 0.5:
                    response = await client.get("/api/crypto/dashboard")
                else:
                    body = {"crypto_id": rng.choice(symbols[:20]), "strategy_id": "sma_cross",
                            "interval": "1h", "start_date": YEAR[0], "end_date": YEAR[1],
                            "max_points": 200}  # fmt: skip
                    response = await client.post("/api/crypto/backtest/run", json=body)
                ok = response.status_code == 200
            except httpx.TransportError as exc:
                print(f"transport error: {exc!r}")
                ok = False
            latencies.append(time.perf_counter() - began)
            errors += not ok

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(one(client, random.Random(i)) for i in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
    }


def report(
    figures: dict[str, tuple[float, float]], loaded: dict[str, float], clients: int, seconds: float
) -> None:
    print(f"\n{'HTTP, median (min)':<38} {'time':>20} {'target':>9} {'vs seed':>10}")
    for name, (median, low) in figures.items():
        target, seed = TARGETS[name]
        ok = "" if target is None else ("ok" if median <= target else "MISSED")
        goal = "" if target is None else f"{target * 1000:g} ms {ok}"
        ratio = "" if seed is None else f"{seed / median:,.0f}x"
        print(f"{name:<38} {median * 1000:9.2f} ms ({low * 1000:6.2f}) {goal:>12} {ratio:>8}")
    print(f"\nload: {clients} clients, {seconds:g} s, dashboard + run: {loaded['requests']:.0f} "
          f"requests, {loaded['rps']:.0f} req/s, p50 {loaded['p50'] * 1000:.1f} ms, "
          f"p99 {loaded['p99'] * 1000:.1f} ms, errors {loaded['errors']:.0f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--db", type=Path, help="an already imported DuckDB file to use")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="20 pairs, 3 repeats, 5 s load")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds = 3, 5.0
    with tempfile.TemporaryDirectory(prefix="coinbt-bench-api-") as tmp:
        db = args.db or Path(tmp) / "api.db"
        if args.db is None:
            build_db(args.data_dir, db, 20 if args.quick else None)
        store = open_store(f"duckdb:///{db}", read_only=True)
        pairs = store.pairs()
        store.close()
        symbols = covering(pairs)
        port = free_port()
        proc = start_server(db, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                figures = sequential(client, args.repeats, symbols)
                _, path, body, _ = requests(symbols)["batch all 1h pairs one year, warm"]
                summary = client.post(path, json=body).json()["summary"]
            base = f"http://127.0.0.1:{port}"
            loaded = asyncio.run(load(base, args.seconds, args.clients, symbols))
        finally:
            proc.terminate()
            proc.wait(15)
    print(f"\n{len(pairs)} pairs, {len(symbols)} covering {YEAR[0][:4]}; server: coinbt serve "
          "(uvicorn, one process), DuckDB, memory cache")  # fmt: skip
    print(f"the batch of every pair: {summary['successful_backtests']} pairs ran, "
          f"{summary['failed_backtests']} have no candles in {YEAR[0][:4]}")  # fmt: skip
    report(figures, loaded, args.clients, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
