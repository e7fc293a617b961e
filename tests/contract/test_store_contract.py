"""The MarketStore contract, part 1: schema, pairs, ingest (idempotence, revisions,
validation), data versions and batch reads. Every test runs on DuckDB (a temporary file) and
on PostgreSQL (a database created and dropped on the local server); see ``store_fixtures``.
Rollups and the dashboard are in ``test_store_derived.py``; gaps, runs, retention, stats and
concurrency in ``test_store_upkeep.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import store_fixtures as sf
from store_fixtures import (
    DAY,
    assert_bars_equal,
    merged,
    newest_migration,
    pandas_rollup,
    real,
    renamed,
    take,
    with_values,
    without,
)

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import PairSpec
from coinbt.errors import DataFormatError, DataRangeError, NotFoundError, StoreError
from coinbt.store import SqlStore, open_store

store = sf.store
store_url = sf.store_url
open_stores = sf.open_stores
pg_databases = sf.pg_databases
pg_module_db = sf.pg_module_db

BTC_1H = "BTCUSDT-1h.csv"
SOL_1H = "SOLUSDT-1h.csv"
USDC_1H = "USDCUSDT-1h.csv"
BTC_1D = "BTCUSDT-1d.csv"
BONK_1D = "BONKUSDT-1d.csv"


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, store_url: str, tmp_path: Path) -> str:
    """A brand-new, never migrated database of the same backend as ``store_url``."""
    if store_url.startswith("duckdb"):
        return f"duckdb:///{tmp_path}/fresh.db"
    pgs: sf.PgDatabases = request.getfixturevalue("pg_databases")
    return sf.database_url(pgs.create())


# -- migrations ---------------------------------------------------------------------------------
def test_open_migrates_to_newest_and_migrate_again_applies_nothing(store: SqlStore) -> None:
    newest, _ = newest_migration(store.backend)
    assert store.schema_version() == newest
    assert store.migrate() == []
    assert store.schema_version() == newest


def test_fresh_database_migrates_in_order(fresh_url: str) -> None:
    with open_store(fresh_url, migrate=False) as s:
        newest, names = newest_migration(s.backend)
        assert s.schema_version() == 0
        assert s.migrate() == names
        assert s.schema_version() == newest
        assert s.migrate() == []
    with open_store(fresh_url) as again:  # reopening applies nothing and keeps the version
        assert again.schema_version() == newest
        assert again.migrate() == []


def test_two_stores_opening_a_fresh_database_at_once(fresh_url: str) -> None:
    # Several server workers starting together on an empty database must all come up.
    barrier = threading.Barrier(3)
    results: list[Any] = []

    def opener() -> None:
        barrier.wait()
        try:
            s = open_store(fresh_url)
            results.append(s.schema_version())
            s.close()
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    newest, _ = newest_migration("duckdb" if fresh_url.startswith("duckdb") else "postgresql")
    assert results == [newest] * 3, results


def test_a_database_newer_than_the_code_is_refused(fresh_url: str) -> None:
    with open_store(fresh_url) as s:
        with s._db.write() as session:  # white box: a later coinbt migrated this database
            session.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)", (999, "0999_future.sql", 0)
            )
        assert s.schema_version() == 999
        with pytest.raises(StoreError, match="newer"):
            s.migrate()
    with pytest.raises(StoreError, match="newer"):
        open_store(fresh_url)


def test_read_only_store_reads(store: SqlStore, open_stores: Callable[..., SqlStore]) -> None:
    store.ingest([real(SOL_1H), real(BONK_1D)])
    board = store.dashboard()
    store.close()  # DuckDB: one configuration per file and process
    reader = open_stores(read_only=True)
    assert reader.schema_version() == newest_migration(reader.backend)[0]
    assert_bars_equal(reader.read("SOLUSDT", "1h"), real(SOL_1H))
    assert reader.dashboard() == board
    assert reader.stats().pairs == 2


# -- pairs --------------------------------------------------------------------------------------
def test_register_pairs_ids_stable_and_lookup(store: SqlStore) -> None:
    specs = [
        PairSpec("BTCUSDT", "BTC", "USDT"),
        PairSpec("ETHBTC", "ETH", "BTC", exchange="kraken"),
        PairSpec.of("SOLUSDT"),
    ]
    first = store.register_pairs(specs)
    ids = [p.id for p in first]
    assert len(set(ids)) == 3 and all(isinstance(i, int) for i in ids)
    assert [(p.symbol, p.base, p.quote) for p in first] == [
        ("BTCUSDT", "BTC", "USDT"),
        ("ETHBTC", "ETH", "BTC"),
        ("SOLUSDT", "SOL", "USDT"),
    ]
    assert first[1].exchange == "kraken" and all(p.active for p in first)
    assert first[0].series == () and first[0].first_time is None

    again = store.register_pairs([PairSpec("SOLUSDT", "SOL", "USDT", active=False), specs[0]])
    assert [p.id for p in again] == [ids[2], ids[0]]
    assert again[0].active is False

    btc = ids[0]
    for key in (btc, str(btc), "BTCUSDT", "btcusdt", " BtcUsdt "):
        assert store.pair(key).id == btc, key
    assert store.pair("ethbtc").exchange == "kraken"
    for unknown in ("DOGEUSDT", 999_999, "999999"):
        with pytest.raises(NotFoundError):
            store.pair(unknown)

    assert [p.id for p in store.pairs()] == sorted(ids)
    assert {p.symbol for p in store.pairs(active_only=True)} == {"BTCUSDT", "ETHBTC"}
    assert {p.symbol for p in store.pairs(quote="usdt")} == {"BTCUSDT", "SOLUSDT"}
    assert [p.symbol for p in store.pairs(quote="BTC")] == ["ETHBTC"]
    assert [p.symbol for p in store.pairs(active_only=True, quote="USDT")] == ["BTCUSDT"]


def test_ingest_registers_pairs_and_reports_series(store: SqlStore) -> None:
    btc, daily = real(BTC_1H), real(BTC_1D)
    store.ingest([btc, daily], exchange="binance")
    pair = store.pair("BTCUSDT")
    assert (pair.base, pair.quote, pair.exchange) == ("BTC", "USDT", "binance")
    own = {s.interval: s for s in pair.series if not s.rollup}
    assert set(own) == {Interval.H1, Interval.D1}
    assert (own[Interval.H1].first_time, own[Interval.H1].last_time) == (btc.time[0], btc.time[-1])
    assert own[Interval.H1].candles == len(btc)
    assert own[Interval.D1].candles == len(daily)
    assert pair.first_time == daily.time[0] and pair.last_time == daily.time[-1]
    rolled = {s.interval for s in pair.series if s.rollup}
    assert rolled == {Interval.D1, Interval.W1}


# -- ingest -------------------------------------------------------------------------------------
def test_round_trip_is_exact(store: SqlStore) -> None:
    names = (BTC_1H, SOL_1H, USDC_1H, BTC_1D, BONK_1D)
    reports = store.ingest([real(n) for n in names])
    for name, report in zip(names, reports, strict=True):
        bars = real(name)
        assert (report.symbol, report.interval) == (bars.symbol, bars.interval)
        assert (report.received, report.inserted, report.revised) == (len(bars), len(bars), 0)
        assert (report.first_time, report.last_time) == (bars.time[0], bars.time[-1])
        assert report.data_version == store.data_version(bars.symbol, bars.interval) > 0
        assert_bars_equal(store.read(bars.symbol, bars.interval), bars, name)


def test_writing_the_same_candles_twice_changes_nothing(store: SqlStore) -> None:
    bars = [real(SOL_1H), real(BTC_1D)]
    store.ingest(bars)
    versions = [store.data_version(b.symbol, b.interval) for b in bars]
    rolled = store.data_version("SOLUSDT", "1d")
    board = store.dashboard()
    for report in store.ingest(bars) + store.ingest(take(bars[0], slice(100, 400))):
        assert (report.inserted, report.revised, report.changed) == (0, 0, False)
        assert report.unchanged == report.received
    assert [store.data_version(b.symbol, b.interval) for b in bars] == versions
    assert store.data_version("SOLUSDT", "1d") == rolled
    assert store.dashboard() == board
    assert_bars_equal(store.read("SOLUSDT", "1h"), bars[0])


def test_a_revised_candle_replaces_the_old_one(store: SqlStore) -> None:
    sol = real(SOL_1H)
    store.ingest([sol, real(BTC_1H)])
    v_sol, v_btc = store.data_version("SOLUSDT", "1h"), store.data_version("BTCUSDT", "1h")
    row = 777
    revised = with_values(sol, row, close=float(sol.low[row]), volume=float(sol.volume[row]) + 1)
    (report,) = store.ingest(revised)
    assert (report.inserted, report.revised) == (0, 1)
    assert report.first_time == report.last_time == sol.time[row]
    assert_bars_equal(store.read("SOLUSDT", "1h"), revised)
    assert store.data_version("SOLUSDT", "1h") == report.data_version > v_sol
    assert store.data_version("BTCUSDT", "1h") == v_btc


def test_overlapping_append_counts(store: SqlStore) -> None:
    sol = real(SOL_1H)
    store.ingest(take(sol, slice(0, 1000)))
    update = with_values(take(sol, slice(900, 1500)), 50, high=float(sol.high[950]) * 1.01)
    (report,) = store.ingest(update)
    assert (report.received, report.inserted, report.revised) == (600, 500, 1)
    assert (report.first_time, report.last_time) == (sol.time[950], sol.time[1499])
    want = merged(take(sol, slice(0, 1500)), update)
    assert_bars_equal(store.read("SOLUSDT", "1h"), want)
    series = next(s for s in store.pair("SOLUSDT").series if not s.rollup)
    assert (series.first_time, series.last_time, series.candles) == (
        sol.time[0],
        sol.time[1499],
        1500,
    )


def test_filling_a_hole_and_prepending_history(store: SqlStore) -> None:
    btc = real(BTC_1H)
    store.ingest(without(take(btc, slice(500, 1500)), range(100, 110)))
    (fill,) = store.ingest(take(btc, slice(595, 615)))
    assert (fill.inserted, fill.revised) == (10, 0)
    (older,) = store.ingest(take(btc, slice(0, 600)))
    assert (older.inserted, older.revised) == (500, 0)
    assert_bars_equal(store.read("BTCUSDT", "1h"), take(btc, slice(0, 1500)))
    series = next(s for s in store.pair("BTCUSDT").series if not s.rollup)
    assert (series.first_time, series.candles) == (btc.time[0], 1500)


def test_one_call_with_the_same_pair_twice(store: SqlStore) -> None:
    # Monthly archive files of one pair imported together, overlapping by a day.
    sol = real(SOL_1H)
    jan, feb = take(sol, slice(0, 744)), take(sol, slice(720, 1400))
    reports = store.ingest([jan, feb, real(BTC_1D)])
    assert [(r.symbol, r.inserted, r.revised) for r in reports] == [
        ("SOLUSDT", 744, 0),
        ("SOLUSDT", 656, 0),
        ("BTCUSDT", len(real(BTC_1D)), 0),
    ]
    assert_bars_equal(store.read("SOLUSDT", "1h"), take(sol, slice(0, 1400)))
    sf.assert_rollup_equal(
        store.read("SOLUSDT", "1d"), pandas_rollup(take(sol, slice(0, 1400)), "1d")
    )
    sf.assert_rollup_equal(
        store.read("SOLUSDT", "1w"), pandas_rollup(take(sol, slice(0, 1400)), "1w")
    )


def _bad(kind: str) -> tuple[Bars, int]:
    """A batch with one bad candle and the row it is in."""
    sol = take(real(SOL_1H), slice(0, 48))
    row = 17
    if kind == "high_below_low":
        return with_values(sol, row, high=float(sol.low[row]) * 0.99), row
    if kind == "nan":
        return with_values(sol, row, close=float("nan")), row
    if kind == "infinite_volume":
        return with_values(sol, row, volume=float("inf")), row
    if kind == "negative_volume":
        return with_values(sol, row, volume=-1.0), row
    if kind == "zero_price":
        return with_values(sol, row, open=0.0, low=0.0), row
    if kind == "close_above_high":
        return with_values(sol, row, close=float(sol.high[row]) * 1.5), row
    if kind == "misaligned":
        return with_values(sol, row, time=int(sol.time[row]) + 60_000), row
    if kind == "not_increasing":
        return with_values(sol, row, time=int(sol.time[row - 1])), row
    if kind == "weekly_not_monday":
        weekly = renamed(pandas_rollup(real(BTC_1H), "1w"), "WEEKUSDT")
        return with_values(weekly, 9, time=int(weekly.time[9]) - DAY), 9
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "high_below_low",
        "nan",
        "infinite_volume",
        "negative_volume",
        "zero_price",
        "close_above_high",
        "misaligned",
        "not_increasing",
        "weekly_not_monday",
    ],
)
def test_a_bad_row_refuses_the_whole_batch(store: SqlStore, kind: str) -> None:
    btc = real(BTC_1H)
    store.ingest(take(btc, slice(0, 1000)))
    before = (store.pairs(), store.dashboard(), store.stats().candles)
    versions = store.data_versions(["BTCUSDT"], "1h"), store.data_versions(["BTCUSDT"], "1d")
    bad, row = _bad(kind)
    good_new = take(real(SOL_1H), slice(0, 500))
    good_update = with_values(take(btc, slice(900, 1100)), 5, volume=123.0)
    with pytest.raises(DataFormatError) as caught:
        store.ingest([good_new, good_update, bad])
    assert f"row(s) {row}" in str(caught.value), str(caught.value)
    assert bad.symbol in str(caught.value)
    assert (store.pairs(), store.dashboard(), store.stats().candles) == before
    assert (store.data_versions(["BTCUSDT"], "1h"), store.data_versions(["BTCUSDT"], "1d")) == (
        versions
    )
    assert_bars_equal(store.read("BTCUSDT", "1h"), take(btc, slice(0, 1000)))


def test_empty_candles_are_refused(store: SqlStore) -> None:
    empty = take(real(SOL_1H), slice(0, 0))
    with pytest.raises(DataFormatError, match="SOLUSDT"):
        store.ingest([take(real(BTC_1H), slice(0, 10)), empty])
    assert store.pairs() == []
    assert store.ingest([]) == []


# -- data versions ------------------------------------------------------------------------------
def test_data_versions_move_only_for_the_touched_pair_and_interval(store: SqlStore) -> None:
    btc, sol, daily = real(BTC_1H), real(SOL_1H), real(BTC_1D)
    store.ingest([take(btc, slice(0, 1500)), sol, daily])
    store.register_pairs([PairSpec.of("ETHUSDT")])
    keys = [("BTCUSDT", "1h"), ("BTCUSDT", "1d"), ("BTCUSDT", "1w"), ("SOLUSDT", "1h")]
    keys += [("SOLUSDT", "1d"), ("SOLUSDT", "1w")]
    v0 = {k: store.data_version(*k) for k in keys}
    assert all(v > 0 for v in v0.values())
    assert store.data_version("ETHUSDT", "1h") == 0
    assert store.data_version("BTCUSDT", "4h") == 0
    assert store.data_versions(["BTCUSDT", "solusdt", "ETHUSDT"], "1h") == {
        store.pair("BTCUSDT").id: v0[("BTCUSDT", "1h")],
        store.pair("SOLUSDT").id: v0[("SOLUSDT", "1h")],
        store.pair("ETHUSDT").id: 0,
    }

    store.ingest(take(btc, slice(1500, 1600)))  # BTC hourly moves on
    v1 = {k: store.data_version(*k) for k in keys}
    assert v1[("BTCUSDT", "1h")] > v0[("BTCUSDT", "1h")]
    assert v1[("BTCUSDT", "1d")] == v0[("BTCUSDT", "1d")]  # served from native daily candles
    assert v1[("BTCUSDT", "1w")] > v0[("BTCUSDT", "1w")]  # a rollup of the hourly candles
    assert all(v1[k] == v0[k] for k in keys if k[0] == "SOLUSDT")

    # A revision deep inside SOL's hourly history moves SOL's hourly and rolled-up versions.
    store.ingest(with_values(sol, 300, volume=float(sol.volume[300]) * 2))
    v2 = {k: store.data_version(*k) for k in keys}
    for k in (("SOLUSDT", "1h"), ("SOLUSDT", "1d"), ("SOLUSDT", "1w")):
        assert v2[k] > v1[k], k
    assert all(v2[k] == v1[k] for k in keys if k[0] == "BTCUSDT")


# -- batch reads --------------------------------------------------------------------------------
def test_read_batch_equals_per_pair_reads(store: SqlStore) -> None:
    btc, sol = real(BTC_1H), take(real(SOL_1H), slice(600, 2000))
    store.ingest([btc, sol, real(USDC_1H), real(BONK_1D), real(BTC_1D)])
    start, end = int(btc.time[400]), int(btc.time[1700])
    keys = ["SOLUSDT", "usdcusdt", "BTCUSDT", "BONKUSDT"]
    got = store.read_batch(keys, "1h", start, end)
    assert got.batch is not None
    assert got.batch.symbols == ("SOLUSDT", "BTCUSDT")
    assert got.crypto_ids == (store.pair("SOLUSDT").id, store.pair("BTCUSDT").id)
    assert set(got.missing) == {"USDCUSDT", "BONKUSDT"}
    assert all(isinstance(v, str) and v for v in got.missing.values())
    want = {"SOLUSDT": take(sol, slice(0, 1101)), "BTCUSDT": take(btc, slice(400, 1701))}
    for bars in got.batch:
        assert_bars_equal(bars, want[bars.symbol], bars.symbol)
        assert_bars_equal(store.read(bars.symbol, "1h", start, end), want[bars.symbol])
    assert got.batch.offsets.tolist() == [0, 1101, 1101 + 1301]
    for column in ("time", "open", "high", "low", "close", "volume"):
        array = getattr(got.batch, column)
        assert isinstance(array, np.ndarray) and array.flags["C_CONTIGUOUS"]
        assert array.dtype == (np.int64 if column == "time" else np.float64)

    # Daily: one pair from its own daily candles, one rolled up from hourly, one missing.
    daily = store.read_batch(["BTCUSDT", "SOLUSDT", "USDCUSDT"], "1d", start, end)
    assert daily.batch is not None and daily.batch.symbols == ("BTCUSDT", "SOLUSDT")
    assert set(daily.missing) == {"USDCUSDT"}
    for bars in daily.batch:
        assert_bars_equal(bars, store.read(bars.symbol, "1d", start, end), bars.symbol)
    nothing = store.read_batch(["USDCUSDT"], "1h", start, end)
    assert nothing.batch is None and set(nothing.missing) == {"USDCUSDT"}
    empty = store.read_batch([], "1h", start, end)
    assert empty.batch is None and empty.crypto_ids == () and empty.missing == {}
    for interval in ("1h", "1d"):
        with pytest.raises(NotFoundError, match="NOPEUSDT"):
            store.read_batch(["BTCUSDT", "NOPEUSDT"], interval, start, end)


def test_read_range_bounds_and_errors(store: SqlStore) -> None:
    btc = real(BTC_1H)
    store.ingest(btc)
    t = btc.time
    assert_bars_equal(store.read("BTCUSDT", "1h", int(t[10]), int(t[20])), take(btc, slice(10, 21)))
    assert_bars_equal(store.read("BTCUSDT", "1h", end=int(t[5])), take(btc, slice(0, 6)))
    assert_bars_equal(store.read("BTCUSDT", "1h", int(t[-3]) - 1), take(btc, slice(-3, None)))
    with pytest.raises(DataRangeError):
        store.read("BTCUSDT", "1h", int(btc.time[-1]) + 1)
    with pytest.raises(DataRangeError):
        store.read("BTCUSDT", "4h")
    with pytest.raises(DataRangeError):
        store.read("BTCUSDT", "1h", int(btc.time[20]), int(btc.time[10]))
    with pytest.raises(NotFoundError):
        store.read("NOPEUSDT", "1h")
    with pytest.raises(NotFoundError):
        store.read_batch(["BTCUSDT", "NOPEUSDT"], "1h")
