"""The MarketStore contract, part 4: what an ingest maintains incrementally equals a full
rebuild, on both backends.

An ingest updates the rollup series (span, count) from the buckets it replaced, and the
dashboard rows of the touched pairs from their weekly and daily rollups without rescanning
their history; after appends, revisions (raising and lowering extremes) and out-of-order
backfills, both must equal a full rebuild and DESIGN.md's definitions (``store_fixtures``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import store_fixtures as sf
from store_fixtures import (
    DAY,
    assert_dashboard_row,
    merged,
    real,
    reference_dashboard,
    take,
    with_values,
    without,
)

from coinbt.domain.bars import Bars
from coinbt.store import SqlStore
from conftest import random_bars

store = sf.store
store_url = sf.store_url
pg_databases = sf.pg_databases
pg_module_db = sf.pg_module_db


def _series_rows(store: SqlStore) -> set[tuple[Any, ...]]:
    # White box: the rollup series rows as stored, and as the rollups themselves aggregate.
    with store._db.read() as s:
        stored = s.rows(
            "SELECT crypto_id, interval, first_time, last_time, candles FROM series WHERE rollup"
        )
        counted = s.rows(
            "SELECT crypto_id, interval, min(open_time), max(open_time), count(*) FROM rollups "
            "GROUP BY crypto_id, interval"
        )
    assert {tuple(r) for r in stored} == {tuple(r) for r in counted}
    return {tuple(r) for r in stored}


def _check(store: SqlStore, symbol: str, where: str, *series: Bars) -> None:
    _series_rows(store)
    (row,) = [r for r in store.dashboard() if r.symbol == symbol]
    assert_dashboard_row(row, reference_dashboard(row.crypto_id, symbol, *series))
    rows = store.dashboard()
    store.refresh_dashboard()
    assert store.dashboard() == rows, f"{where}: dashboard differs from a full rebuild"


def _extreme_row(bars: Bars, recent: int, *, top: bool) -> int:
    window = bars.high[-recent:] if top else bars.low[-recent:]
    return len(bars) - recent + int(np.argmax(window) if top else np.argmin(window))


def _flat(bars: Bars, row: int) -> Bars:
    """One candle revised to have no wicks: its high and low drop to its body."""
    o, c = float(bars.open[row]), float(bars.close[row])
    return with_values(take(bars, slice(row, row + 1)), 0, high=max(o, c), low=min(o, c))


def test_rollup_series_and_dashboard_follow_updates(store: SqlStore) -> None:
    sol = real("SOLUSDT-1h.csv")
    state = take(sol, slice(800, 1700))
    store.ingest(state)
    _check(store, "SOLUSDT", "first", state)
    n = len(state)
    hi = _extreme_row(state, n, top=True)
    lo = _extreme_row(state, n, top=False)
    steps: list[tuple[str, Bars]] = [
        ("append", take(sol, slice(1700, 1701))),
        ("new high", with_values(take(sol, slice(1701, 1702)), 0, high=float(sol.high.max()) * 2)),
        ("new low", with_values(take(sol, slice(1702, 1703)), 0, low=float(sol.low.min()) / 2)),
        # A revision lowers the bucket holding the series' highest high (this week's).
        ("lower this week's high", take(sol, slice(1701, 1702))),
        # ... and the all-time high and low far back: an older week is rebuilt.
        ("lower the old high", _flat(state, hi)),
        ("raise the old low", _flat(state, lo)),
        ("backfill", take(sol, slice(0, 800))),
        ("days later", take(sol, slice(1703, 2000))),
    ]
    for where, step in steps:
        store.ingest(step)
        state = merged(state, step)
        _check(store, "SOLUSDT", where, state)
    before = _series_rows(store)
    store.refresh_rollups()
    assert _series_rows(store) == before


def test_dashboard_of_many_pairs_equals_a_full_rebuild_over_hours(store: SqlStore) -> None:
    """Hourly updates of several pairs with gaps, a revision inside the 30-day window, a
    pair whose finest interval is not its rollup source, and one with daily candles."""
    btc = real("BTCUSDT-1h.csv")
    sol = without(real("SOLUSDT-1h.csv"), range(1500, 1560))  # a gap of 2.5 days
    quarter = random_bars(np.random.default_rng(7), 96 * 4, interval="15m", start_price=70.0)
    start = int(sol.time[-1]) // DAY * DAY + DAY
    cols = (quarter.open, quarter.high, quarter.low, quarter.close, quarter.volume)
    quarter = Bars("SOLUSDT", quarter.interval, quarter.time - quarter.time[0] + start, *cols)
    bonk = real("BONKUSDT-1d.csv")
    cut = len(btc) - 48
    market = {"BTCUSDT": [take(btc, slice(0, cut))], "SOLUSDT": [sol, quarter], "BONKUSDT": [bonk]}
    store.ingest([b for series in market.values() for b in series])
    for k in range(cut, len(btc)):
        step = take(btc, slice(k, k + 1))
        if k % 7 == 0:  # a revision of a candle inside the 30-day window
            back = take(btc, slice(k - 24 * 9, k - 24 * 9 + 1))
            step = merged(with_values(back, 0, high=float(back.high[0]) * 1.5), step)
            btc = with_values(btc, k - 24 * 9, high=float(back.high[0]) * 1.5)
        store.ingest(step)
        market["BTCUSDT"] = [take(btc, slice(0, k + 1))]
        if k % 12 == 0:
            for symbol, series in market.items():
                _check(store, symbol, f"hour {k}", *series)


def test_dashboard_after_pruning_inside_its_windows(store: SqlStore) -> None:
    """Pruned candles leave daily rollups behind: the windows must come from the candles
    still stored, the all-time figures from the whole daily history."""
    sol = real("SOLUSDT-1h.csv")
    store.ingest(take(sol, slice(0, 1990)))
    cutoff = int(sol.time[1990]) - 10 * DAY - 5 * 3_600_000  # mid-day, 10 days back
    assert store.delete_before("SOLUSDT", "1h", cutoff) > 0
    store.ingest(take(sol, slice(1990, 2000)))
    (row,) = store.dashboard()
    kept = reference_dashboard(row.crypto_id, "SOLUSDT", take(sol, sol.time >= cutoff))
    full = reference_dashboard(row.crypto_id, "SOLUSDT", sol)
    want = {**kept, **{k: full[k] for k in ("all_time_high", "all_time_low", "total_days")}}
    assert_dashboard_row(row, want)
    store.refresh_dashboard()
    assert store.dashboard() == [row]
