"""The MarketStore contract, part 3: gaps, stored runs, retention, stats and concurrent
readers, on both backends (``store_fixtures``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
import store_fixtures as sf
from store_fixtures import (
    DAY,
    HOUR,
    assert_bars_equal,
    merged,
    pandas_rollup,
    real,
    renamed,
    take,
    with_values,
    without,
)

from coinbt.domain.bars import Bars
from coinbt.errors import NotFoundError
from coinbt.store import RunRecord, SqlStore

store = sf.store
store_url = sf.store_url
open_stores = sf.open_stores
pg_databases = sf.pg_databases
pg_module_db = sf.pg_module_db

BTC_1H = "BTCUSDT-1h.csv"
SOL_1H = "SOLUSDT-1h.csv"
USDC_1H = "USDCUSDT-1h.csv"
BONK_1D = "BONKUSDT-1d.csv"


# -- gaps ---------------------------------------------------------------------------------------
def test_gaps_list_exactly_the_missing_runs(store: SqlStore) -> None:
    btc = take(real(BTC_1H), slice(0, 1000))
    store.ingest([without(btc, [*range(100, 103), 500, 998]), real(USDC_1H), real(BONK_1D)])
    gaps = store.gaps("BTCUSDT", "1h")
    assert [(g.start, g.end, g.missing, g.known) for g in gaps] == [
        (btc.time[100], btc.time[102], 3, False),
        (btc.time[500], btc.time[500], 1, False),
        (btc.time[998], btc.time[998], 1, False),
    ]
    usdc = real(USDC_1H)
    at = int(np.flatnonzero(np.diff(usdc.time) != HOUR)[0])
    (real_gap,) = store.gaps("USDCUSDT", "1h")
    assert (real_gap.start, real_gap.missing) == (usdc.time[at] + HOUR, 2)
    assert store.gaps("BONKUSDT", "1d") == []
    assert store.gaps("BTCUSDT", "1d") == []  # rollups are not candles with gaps

    store.record_gap("BTCUSDT", "1h", int(btc.time[100]), int(btc.time[102]), "exchange outage")
    marked = store.gaps("BTCUSDT", "1h")
    assert [(g.known, g.reason) for g in marked] == [
        (True, "exchange outage"),
        (False, ""),
        (False, ""),
    ]
    stats = store.stats()
    assert (stats.gaps, stats.missing_bars) == (4, 3 + 1 + 1 + 2)

    store.ingest(take(btc, slice(499, 502)))  # the exchange delivered the missing hour
    assert [g.start for g in store.gaps("BTCUSDT", "1h")] == [btc.time[100], btc.time[998]]


# -- stored runs --------------------------------------------------------------------------------
def test_runs_round_trip(store: SqlStore) -> None:
    rng = np.random.default_rng(5)
    n = 5000
    equity_time = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * HOUR
    equity = np.cumprod(1 + rng.normal(0, 0.01, n)) * 10_000
    equity[7] = 1e-300
    equity[8] = -0.0
    run = RunRecord(
        crypto_id=None,
        symbol="BTCUSDT",
        interval="1h",
        strategy="sma_cross",
        spec={"params": {"fast": 10, "slow": 30}, "fee": 0.001, "nested": [1, None, "x"]},
        metrics={
            "total_return_pct": 12.345678901234567,
            "sharpe_ratio": None,
            "num_trades": 3,
            "profit_factor": float("inf"),
            "sortino_ratio": float("nan"),
        },
        trades=[{"entry_time": 1, "exit_time": 2, "pnl": -1.5, "reason": "signal"}],
        equity_time=equity_time,
        equity=equity,
    )
    first = store.save_run(run)
    store.ingest(take(real(BTC_1H), slice(0, 10)))
    second = store.save_run(
        RunRecord(store.pair("BTCUSDT").id, "BTCUSDT", "1h", "rsi", {}, {}, [], [], [])
    )
    assert second != first
    got = store.get_run(first)
    assert (got.id, got.crypto_id, got.symbol, got.interval, got.strategy) == (
        first,
        None,
        "BTCUSDT",
        "1h",
        "sma_cross",
    )
    assert (got.spec, got.trades) == (run.spec, run.trades)
    assert np.isnan(got.metrics.pop("sortino_ratio"))
    assert got.metrics == {k: v for k, v in run.metrics.items() if k != "sortino_ratio"}
    assert got.equity_time.dtype == np.int64 and got.equity.dtype == np.float64
    assert np.array_equal(got.equity_time, equity_time)
    assert np.array_equal(got.equity, equity) and np.signbit(got.equity[8])
    assert got.created_at > 0
    empty = store.get_run(second)
    assert empty.crypto_id == store.pair("BTCUSDT").id and len(empty.equity) == 0
    with pytest.raises(NotFoundError):
        store.get_run(max(first, second) + 1000)


# -- retention ----------------------------------------------------------------------------------
def test_delete_before_drops_old_candles_and_keeps_rollups(store: SqlStore) -> None:
    sol = real(SOL_1H)
    store.ingest([sol, real(BTC_1H)])
    days, weeks = store.read("SOLUSDT", "1d"), store.read("SOLUSDT", "1w")
    v_hour, v_day = store.data_version("SOLUSDT", "1h"), store.data_version("SOLUSDT", "1d")
    v_btc = store.data_version("BTCUSDT", "1h")
    cutoff = int(sol.time[1000]) // DAY * DAY
    old = int(np.count_nonzero(sol.time < cutoff))
    assert store.delete_before("SOLUSDT", "1h", cutoff) == old
    assert_bars_equal(store.read("SOLUSDT", "1h"), take(sol, sol.time >= cutoff))
    series = next(s for s in store.pair("SOLUSDT").series if not s.rollup)
    assert (series.first_time, series.last_time, series.candles) == (
        cutoff,
        sol.time[-1],
        len(sol) - old,
    )
    assert store.data_version("SOLUSDT", "1h") > v_hour
    assert store.data_version("BTCUSDT", "1h") == v_btc
    assert_bars_equal(store.read("SOLUSDT", "1d"), days)
    assert_bars_equal(store.read("SOLUSDT", "1w"), weeks)
    assert store.data_version("SOLUSDT", "1d") == v_day
    assert store.stats().candles["1h"] == 2 * len(sol) - old
    assert store.delete_before("SOLUSDT", "1h", cutoff) == 0
    # Later updates keep the rollups of the dropped history.
    store.ingest(with_values(take(sol, slice(-10, None)), 5, volume=1.0))
    assert_bars_equal(take(store.read("SOLUSDT", "1d"), slice(0, 30)), take(days, slice(0, 30)))


def test_retention_mid_week_keeps_older_rollups_on_update(store: SqlStore) -> None:
    sol = real(SOL_1H)
    store.ingest(sol)
    days, weeks = store.read("SOLUSDT", "1d"), store.read("SOLUSDT", "1w")
    # Cut on a Thursday noon, then revise a candle of that Thursday afternoon.
    cutoff = int(sol.time[(sol.time // DAY + 3) % 7 == 3][24 * 6 + 12])
    store.delete_before("SOLUSDT", "1h", cutoff)
    row = int(np.searchsorted(sol.time, cutoff)) + 3
    store.ingest(with_values(sol.take(slice(row, row + 1)), 0, volume=float(sol.volume[row]) + 1))
    got = store.read("SOLUSDT", "1d", end=cutoff - DAY)
    assert_bars_equal(got, take(days, days.time <= cutoff - DAY), "days before the cut")
    week = cutoff // DAY * DAY - ((cutoff // DAY + 3) % 7) * DAY
    assert_bars_equal(
        store.read("SOLUSDT", "1w", end=week), take(weeks, weeks.time <= week), "weeks"
    )


def test_full_rollup_rebuild_after_retention_keeps_older_rollups(store: SqlStore) -> None:
    sol = real(SOL_1H)
    store.ingest(sol)
    days, weeks = store.read("SOLUSDT", "1d"), store.read("SOLUSDT", "1w")
    monday = int(sol.time[(sol.time // DAY + 3) % 7 == 0][24 * 5])  # the 6th Monday 00:00
    store.delete_before("SOLUSDT", "1h", monday)
    store.refresh_rollups()  # `coinbt db refresh`: rebuilds from the candles still stored
    assert_bars_equal(store.read("SOLUSDT", "1d"), days)
    assert_bars_equal(store.read("SOLUSDT", "1w"), weeks)


# -- stats --------------------------------------------------------------------------------------
def test_stats(store: SqlStore) -> None:
    empty = store.stats()
    assert (empty.backend, empty.pairs, empty.candles, empty.gaps) == (store.backend, 0, {}, 0)
    store.ingest([real(SOL_1H), real(USDC_1H), real(BONK_1D)])
    stats = store.stats()
    assert stats.schema_version == sf.newest_migration(store.backend)[0]
    assert stats.pairs == 3
    assert stats.candles == {"1h": 4000, "1d": len(real(BONK_1D))}
    rolled = {
        ivl: sum(len(store.read(s, ivl)) for s in ("SOLUSDT", "USDCUSDT")) for ivl in ("1d", "1w")
    }
    assert stats.rollup_rows == rolled
    assert (stats.gaps, stats.missing_bars) == (1, 2)
    assert stats.size_bytes > 0


def test_concurrent_ingests_of_one_pair_all_land(store: SqlStore) -> None:
    # A scheduled update and a manual import of the same (new) pair at the same time.
    sol = real(SOL_1H)
    parts = [take(sol, slice(k * 400, k * 400 + 450)) for k in range(5)]
    barrier = threading.Barrier(len(parts))
    errors: list[BaseException] = []

    def write(part: Bars) -> None:
        barrier.wait()
        try:
            store.ingest(part)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, [str(e) for e in errors]
    assert_bars_equal(store.read("SOLUSDT", "1h"), sol)
    series = next(s for s in store.pair("SOLUSDT").series if not s.rollup)
    assert (series.first_time, series.last_time, series.candles) == (
        sol.time[0],
        sol.time[-1],
        len(sol),
    )
    sf.assert_rollup_equal(store.read("SOLUSDT", "1d"), pandas_rollup(sol, "1d"))
    (row,) = store.dashboard()
    sf.assert_dashboard_row(row, sf.reference_dashboard(row.crypto_id, "SOLUSDT", sol))


# -- concurrency --------------------------------------------------------------------------------
def test_readers_see_whole_ingests(store: SqlStore) -> None:
    btc, sol = real(BTC_1H), real(SOL_1H)
    n0, step, rounds = 1200, 60, 12
    states: list[tuple[Bars, Bars]] = []
    b, s = take(btc, slice(0, n0)), take(sol, slice(0, n0))
    states.append((b, s))
    updates = []
    for k in range(1, rounds + 1):
        lo, hi = n0 + (k - 1) * step, n0 + k * step
        nb = with_values(take(btc, slice(lo - 30, hi)), 0, volume=float(k))  # revises one
        ns = with_values(take(sol, slice(lo - 30, hi)), 0, volume=float(k))
        updates.append([nb, ns])
        b, s = merged(b, nb), merged(s, ns)
        states.append((b, s))
    by_len = {len(st[0]): k for k, st in enumerate(states)}
    daily = [pandas_rollup(st[1], "1d") for st in states]
    store.ingest(list(states[0]))

    errors: list[BaseException] = []
    done = threading.Event()

    def check(read: Callable[[], None]) -> Callable[[], None]:
        def loop() -> None:
            try:
                while True:
                    last_round = done.is_set()
                    read()
                    if last_round:
                        return
            except BaseException as exc:
                errors.append(exc)

        return loop

    def read_hourly() -> None:
        got = store.read_batch(["BTCUSDT", "SOLUSDT"], "1h")
        assert got.batch is not None
        hb, hs = got.batch.pair(0), got.batch.pair(1)
        k = by_len[len(hb)]  # both pairs of one ingest move together
        assert_bars_equal(hb, states[k][0], f"BTC state {k}")
        assert_bars_equal(hs, states[k][1], f"SOL state {k}")

    def read_daily() -> None:
        got = store.read("SOLUSDT", "1d")
        assert any(
            len(got) == len(d)
            and np.array_equal(got.close, d.close)
            and np.allclose(got.volume, d.volume, rtol=1e-12)
            for d in daily
        ), "a daily read matches no state"

    def read_board() -> None:
        rows = {r.symbol: r for r in store.dashboard()}
        k = next(i for i, st in enumerate(states) if st[0].time[-1] == rows["BTCUSDT"].last_updated)
        assert rows["BTCUSDT"].current_price == states[k][0].close[-1]
        assert rows["SOLUSDT"].last_updated == states[k][1].time[-1]

    readers = [threading.Thread(target=check(f)) for f in (read_hourly, read_daily, read_board)]
    for t in readers:
        t.start()
    try:
        for update in updates:
            store.ingest(update)
    finally:
        done.set()
        for t in readers:
            t.join(60)
    assert not errors, errors[0]
    assert_bars_equal(store.read("SOLUSDT", "1h"), states[-1][1])


def test_a_second_store_on_the_same_database_sees_committed_writes(
    store: SqlStore, open_stores: Callable[..., SqlStore]
) -> None:
    other = open_stores()
    store.ingest(real(SOL_1H))
    assert_bars_equal(other.read("SOLUSDT", "1h"), real(SOL_1H))
    other.ingest(real(BONK_1D))
    assert store.pair("BONKUSDT").series[0].candles == len(real(BONK_1D))


def test_renamed_symbols_are_separate_pairs(store: SqlStore) -> None:
    sol = real(SOL_1H)
    store.ingest([sol, renamed(sol, "SOLBTC")])
    assert store.pair("SOLBTC").quote == "BTC"
    assert store.pair("SOLBTC").id != store.pair("SOLUSDT").id
    assert_bars_equal(store.read("SOLBTC", "1h"), sol)
