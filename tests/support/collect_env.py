"""What the collection tests share: the stand-in exchange, a store on each backend, the
exchange settings and the oracle comparisons.

The stand-in's clock stands at 2024-06-01 12:30 UTC, inside the 12:00 hourly candle, which is
still open. Its universe: four trading USDT pairs (the second with a 5-hour outage 30 days
before now, the third listed halfway through), ETHBTC (another quote) and OLDUSDT (listed,
not trading). Pages are cut at 200 candles so that every pair spans several.

Store backends (the ``store_url`` and ``store`` fixtures, parametrised): a DuckDB file in the
test's temporary directory, and a PostgreSQL database created for the test on
``COINBT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
named ``coinbt_test_collect_<uuid hex>`` and dropped ``WITH (FORCE)`` after it. When
PostgreSQL cannot be reached the tests FAIL: they never skip. A test module takes the
fixtures by assigning them (``store = collect_env.store``); this is not a conftest.py,
because the unit tests import the top-level one by name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql as pgsql

from coinbt.collector.exchange_types import ExchangeConfig
from coinbt.store import SqlStore, open_store
from support.fake_binance import HOUR_MS, FakeBinance, make_pairs

NOW = 1_717_245_000_000  # 2024-06-01 12:30 UTC
OPEN_CANDLE = NOW - 30 * 60_000  # the 12:00 candle: still open at NOW
DAYS = 35  # about 1,000 hourly candles per pair (6 pages), the outage 30 days back
PAGE = 200
TRADING = ("BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT")  # the active USDT pairs
OUTAGE_PAIR = "ETHUSDT"
COLUMNS = ("time", "open", "high", "low", "close", "volume")
POSTGRES_URL = os.environ.get(
    "COINBT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DB_PREFIX = "coinbt_test_collect_"


# -- the stand-in exchange -----------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeBinance]:
    """A fresh stand-in per test (its clock and faults are the test's to change)."""
    with FakeBinance(make_pairs(4, now_ms=NOW, days=DAYS), now_ms=NOW) as fake:
        yield fake


def exchange(server: FakeBinance, **overrides: Any) -> ExchangeConfig:
    """Settings for the stand-in: no rate limiter, short pages, quick retries."""
    settings: dict[str, Any] = {
        "base_url": server.url,
        "rate_limit": False,
        "page_limit": PAGE,
        "concurrency": 3,
        "timeout_s": 0.4,
        "max_retries": 8,
        "backoff_base_s": 0.01,
        "seed": 5,
    }
    return ExchangeConfig(**(settings | overrides))


def advance(server: FakeBinance, hours: int) -> None:
    """Move the stand-in's clock on."""
    assert server.now_ms is not None
    server.now_ms += hours * HOUR_MS


# -- store backends --------------------------------------------------------------------------


def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required by the collection tests and is not reachable at "
            f"{POSTGRES_URL}: {exc}\nStart it (trust auth for user postgres on 127.0.0.1:5432) "
            "or point COINBT_TEST_POSTGRES_URL at one; these tests never skip.",
            pytrace=False,
        )


def _database_url(name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    password = f":{info['password']}" if info.get("password") else ""
    user, host = info.get("user", "postgres"), info.get("host", "127.0.0.1")
    return f"postgresql://{user}{password}@{host}:{info.get('port', 5432)}/{name}"


def postgres_database() -> Iterator[str]:
    """A new, empty database on the test server (its URL), dropped afterwards."""
    name = f"{DB_PREFIX}{uuid.uuid4().hex}"
    with _admin() as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        yield _database_url(name)
    finally:
        with _admin() as conn:
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store on each backend."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path}/t.db"
    else:
        yield from postgres_database()


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An open, migrated, empty store on each backend."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


# -- comparisons with the oracle --------------------------------------------------------


def assert_exact(store: SqlStore, server: FakeBinance, symbols: tuple[str, ...] = TRADING) -> None:
    """The store holds exactly the stand-in's closed candles of each pair, every column
    (so nothing lost, nothing doubled, nothing still open), and no other pair."""
    assert {p.symbol for p in store.pairs()} >= set(symbols)
    for symbol in symbols:
        want = server.candles(symbol, "1h", 0)
        got = store.read(symbol, "1h")
        for name in COLUMNS:
            np.testing.assert_array_equal(getattr(got, name), want[name], err_msg=symbol + name)


def assert_prefix(store: SqlStore, server: FakeBinance, symbol: str) -> int:
    """The pair's stored candles are the oracle's first ones, exactly; how many there are."""
    if not any(p.symbol == symbol and p.series for p in store.pairs()):
        return 0
    got = store.read(symbol, "1h")
    want = server.candles(symbol, "1h", 0)[: len(got)]
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(got, name), want[name], err_msg=symbol + name)
    return len(got)


def stored_total(store: SqlStore) -> int:
    """Hourly candles stored over every pair."""
    return sum(s.candles for p in store.pairs() for s in p.series if s.interval.value == "1h")


def served_total(server: FakeBinance, symbols: tuple[str, ...] = TRADING) -> int:
    """Closed hourly candles the stand-in serves for the pairs."""
    return sum(len(server.candles(s, "1h", 0)) for s in symbols)


def klines_requests(server: FakeBinance) -> list[dict[str, str]]:
    """The query of every klines request the stand-in saw, in order."""
    return [query for path, query in server.log if path.endswith("/klines")]
