"""Fixtures and independent references for the MarketStore contract suite.

The suite runs every test body on both backends through the parametrised ``store``
fixture:

- ``duckdb``: a fresh file in the test's temporary directory.
- ``postgresql``: a database this module creates on the server at
  ``COINBT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
  the maintenance database), named ``coinbt_test_<uuid hex>``, once per test module; between
  tests its tables are emptied (the schema and its migration record stay), and at the end it
  is dropped ``WITH (FORCE)``. Only databases created here are ever touched. When the server
  cannot be reached the tests FAIL (CI requires PostgreSQL), they never skip.

This is a plain module, not a ``conftest.py``: the test tree has no ``__init__.py`` files
and unit tests ``from conftest import ...``, which a second conftest would shadow. A test
module takes the fixtures by assigning them (``store = store_fixtures.store``).

The references (:func:`pandas_rollup`, :func:`reference_dashboard`) recompute rollups and
dashboard rows from the candles with pandas / numpy, from DESIGN.md's definitions, never
with :mod:`coinbt.store`.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql as pgsql

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import DASHBOARD_FIELDS, DashboardRow
from coinbt.store import SqlStore, open_store
from conftest import load_real

POSTGRES_URL = os.environ.get(
    "COINBT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("duckdb", "postgresql")
DB_PREFIX = "coinbt_test_"

DAY = 86_400_000
HOUR = 3_600_000
COLUMNS = ("time", "open", "high", "low", "close", "volume")
_EPOCH = pd.Timestamp(0, tz="UTC")


# -- PostgreSQL databases made (and dropped) by the tests ---------------------------------------
def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for the store contract suite and is not reachable at "
            f"{POSTGRES_URL}: {exc}\nStart the server (trust auth for user postgres on "
            "127.0.0.1:5432) or point COINBT_TEST_POSTGRES_URL at one; these tests never skip.",
            pytrace=False,
        )


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server (same credentials and host)."""
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    user = info.get("user", "postgres")
    password = f":{info['password']}" if info.get("password") else ""
    host = info.get("host", "127.0.0.1")
    port = info.get("port", 5432)
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


class PgDatabases:
    """Creates test databases on demand and drops exactly those."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self) -> str:
        name = f"{DB_PREFIX}{uuid.uuid4().hex}"
        with _admin() as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        self.created.append(name)
        return name

    def terminate_connections(self, name: str) -> None:
        """End every session on ``name`` (one of ours) but this one."""
        assert name in self.created, "only databases made by the tests are touched"
        with _admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    def drop_all(self) -> None:
        with _admin() as conn:
            for name in self.created:
                conn.execute(
                    pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        pgsql.Identifier(name)
                    )
                )
        self.created.clear()


def empty_tables(name: str) -> None:
    """Empty every table of test database ``name`` except the migration record."""
    assert name.startswith(DB_PREFIX)
    with psycopg.connect(database_url(name), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET lock_timeout = '10s'")
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'schema_migrations'"
            ).fetchall()
        ]
        if tables:
            conn.execute(
                pgsql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    pgsql.SQL(", ").join(pgsql.Identifier(t) for t in tables)
                )
            )


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """The test databases of this session (per xdist worker); all dropped at the end."""
    _admin().close()  # fail early and clearly when the server is missing
    made = PgDatabases()
    try:
        yield made
    finally:
        made.drop_all()


@pytest.fixture(scope="module")
def pg_module_db(pg_databases: PgDatabases) -> str:
    """One database per test module (CREATE DATABASE costs ~0.3 s); emptied between tests."""
    return pg_databases.create()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated-or-not store of each backend."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path}/t.db"
        return
    pgs: PgDatabases = request.getfixturevalue("pg_databases")
    name: str = request.getfixturevalue("pg_module_db")
    pgs.terminate_connections(name)  # a store a failed test left open must not block TRUNCATE
    empty_tables(name)
    yield database_url(name)
    pgs.terminate_connections(name)


@pytest.fixture
def open_stores(store_url: str) -> Iterator[Callable[..., SqlStore]]:
    """Opens more stores on the same database (closed at the end of the test)."""
    opened: list[SqlStore] = []

    def _open(**kwargs: Any) -> SqlStore:
        opened.append(open_store(store_url, **kwargs))
        return opened[-1]

    yield _open
    for s in reversed(opened):
        s.close()


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An empty store, migrated, on each backend."""
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


def newest_migration(backend: str) -> tuple[int, list[str]]:
    """The newest schema version shipped for ``backend`` and every migration's file name."""
    folder = resources.files("coinbt.store.migrations").joinpath(backend)
    names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".sql"))
    return int(names[-1].split("_", 1)[0]), names


# -- candles --------------------------------------------------------------------------------
@functools.cache
def real(name: str) -> Bars:
    """A real candle fixture (``BTCUSDT-1h.csv`` ...), read once with numpy."""
    return load_real(name)


def renamed(bars: Bars, symbol: str) -> Bars:
    return Bars(symbol, bars.interval, *(getattr(bars, c) for c in COLUMNS))


def take(bars: Bars, rows: slice | np.ndarray) -> Bars:
    """A contiguous copy of some rows (a slice or an index / mask array)."""
    return Bars(
        bars.symbol,
        bars.interval,
        *(np.ascontiguousarray(getattr(bars, c)[rows]) for c in COLUMNS),
    )


def without(bars: Bars, rows: Sequence[int] | np.ndarray) -> Bars:
    keep = np.ones(len(bars), dtype=bool)
    keep[np.asarray(rows, dtype=np.intp)] = False
    return take(bars, keep)


def with_values(bars: Bars, row: int, **values: float) -> Bars:
    """A copy with one candle changed (keeping OHLC consistent is the caller's job)."""
    cols = {c: np.array(getattr(bars, c), copy=True) for c in COLUMNS}
    for name, value in values.items():
        cols[name][row] = value
    return Bars(bars.symbol, bars.interval, *(cols[c] for c in COLUMNS))


def merged(*parts: Bars) -> Bars:
    """The union of candle sets of one pair, later parts winning on equal open times."""
    frame = pd.concat(
        [pd.DataFrame({c: getattr(b, c) for c in COLUMNS}) for b in parts], ignore_index=True
    )
    frame = frame.drop_duplicates("time", keep="last").sort_values("time")
    first = parts[0]
    return Bars(
        first.symbol,
        first.interval,
        *(np.ascontiguousarray(frame[c].to_numpy()) for c in COLUMNS),
    )


def assert_bars_equal(got: Bars, want: Bars, where: str = "") -> None:
    """Every column identical (exact float equality), right dtypes, contiguous."""
    assert got.interval is want.interval, where
    assert len(got) == len(want), f"{where}: {len(got)} candles, expected {len(want)}"
    for c in COLUMNS:
        a = getattr(got, c)
        assert a.dtype == (np.int64 if c == "time" else np.float64), f"{where} {c} dtype"
        assert a.flags["C_CONTIGUOUS"], f"{where} {c} not contiguous"
        if not np.array_equal(a, getattr(want, c)):
            bad = np.flatnonzero(a != getattr(want, c))
            raise AssertionError(
                f"{where}: column {c} differs in {len(bad)} rows, first at {bad[0]}: "
                f"got {a[bad[0]]!r}, expected {getattr(want, c)[bad[0]]!r}"
            )


# -- independent references ---------------------------------------------------------------------
def pandas_rollup(hourly: Bars, interval: Interval | str) -> Bars:
    """Closed daily or weekly buckets of ``hourly`` by pandas resample (label and closed left:
    first open, max high, min low, last close, summed volume); a bucket is closed when the
    source's last candle ends at or after the bucket's end."""
    ivl = Interval.parse(interval)
    rule = {Interval.D1: "1D", Interval.W1: "W-MON"}[ivl]
    frame = pd.DataFrame(
        {c: getattr(hourly, c) for c in COLUMNS[1:]},
        index=pd.to_datetime(hourly.time, unit="ms", utc=True),
    )
    frame["n"] = 1
    out = frame.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "n": "sum"}
    )
    out = out[out["n"] > 0]
    start = ((out.index - _EPOCH) // pd.Timedelta(milliseconds=1)).to_numpy(np.int64)
    closed = start + ivl.ms <= int(hourly.time[-1]) + hourly.interval.ms
    out = out[closed]
    return Bars(
        hourly.symbol,
        ivl,
        np.ascontiguousarray(start[closed]),
        *(np.ascontiguousarray(out[c].to_numpy(np.float64)) for c in COLUMNS[1:]),
    )


def assert_rollup_equal(got: Bars, want: Bars, where: str = "") -> None:
    """Rollup equality: prices exact, volume to 1e-12 (pandas sums with compensation)."""
    assert got.interval is want.interval, where
    assert len(got) == len(want), f"{where}: {len(got)} buckets, pandas has {len(want)}"
    np.testing.assert_array_equal(got.time, want.time, err_msg=f"{where} time")
    for c in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(got, c), getattr(want, c), err_msg=f"{where} {c}")
    np.testing.assert_allclose(got.volume, want.volume, rtol=1e-12, err_msg=f"{where} volume")


def reference_dashboard(crypto_id: int, symbol: str, *series: Bars) -> dict[str, Any]:
    """DESIGN.md's dashboard row of a pair from all its stored candles (any intervals).

    ``last`` is the last open time at the finest interval; N-day windows hold the candles
    with open time in (last - N days, last]; the 24 h change compares the last close with
    the close of the candle opened at last - 24 h, or the latest one before it; all-time
    figures and the day count cover every stored candle of the pair.
    """
    finest = min(series, key=lambda b: b.interval.ms)
    frame = pd.DataFrame({c: getattr(finest, c) for c in COLUMNS})
    last = int(frame["time"].iloc[-1])
    row: dict[str, Any] = {
        "crypto_id": crypto_id,
        "symbol": symbol,
        "current_price": float(frame["close"].iloc[-1]),
        "last_updated": last,
    }
    before = frame[frame["time"] <= last - DAY]
    row["change_24h_percent"] = (
        None
        if before.empty
        else (float(frame["close"].iloc[-1]) / float(before["close"].iloc[-1]) - 1.0) * 100.0
    )
    for days in (7, 30):
        w = frame[(frame["time"] > last - days * DAY) & (frame["time"] <= last)]
        row[f"high_{days}d"] = float(w["high"].max())
        row[f"low_{days}d"] = float(w["low"].min())
        row[f"volume_{days}d"] = float(w["volume"].sum())
    row["all_time_high"] = float(max(b.high.max() for b in series))
    row["all_time_low"] = float(min(b.low.min() for b in series))
    row["total_days"] = len(set(np.concatenate([b.time // DAY for b in series]).tolist()))
    return row


def assert_dashboard_row(got: DashboardRow, want: dict[str, Any]) -> None:
    """Field by field; sums and ratios to 1e-12 relative, everything else exact."""
    assert set(want) == set(DASHBOARD_FIELDS)
    for name in DASHBOARD_FIELDS:
        have, expect = getattr(got, name), want[name]
        if expect is None:
            assert have is None, f"{got.symbol} {name}: {have!r}, expected None"
        elif name.startswith(("volume", "change")):
            assert have == pytest.approx(expect, rel=1e-12, abs=1e-12), (
                f"{got.symbol} {name}: {have!r}, expected {expect!r}"
            )
        else:
            assert have == expect, f"{got.symbol} {name}: {have!r}, expected {expect!r}"
            assert type(have) is type(expect), f"{got.symbol} {name}: type {type(have)}"
