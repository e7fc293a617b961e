"""The MarketStore contract, part 2: what the store derives from candles, on both backends.

Daily and weekly rollups are compared with a pandas resample of the same hourly candles,
and the dashboard with DESIGN.md's definitions recomputed here (``store_fixtures``), never
with :mod:`coinbt.store.summary`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import store_fixtures as sf
from store_fixtures import (
    DAY,
    HOUR,
    assert_bars_equal,
    assert_dashboard_row,
    assert_rollup_equal,
    merged,
    pandas_rollup,
    real,
    reference_dashboard,
    renamed,
    take,
    with_values,
    without,
)

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import PairSpec
from coinbt.errors import InputError
from coinbt.store import SqlStore
from coinbt.store.base import DASHBOARD_SORTS
from conftest import random_bars

store = sf.store
store_url = sf.store_url
pg_databases = sf.pg_databases
pg_module_db = sf.pg_module_db


def assert_rollups(store: SqlStore, hourly: Bars, where: str = "") -> None:
    for interval in ("1d", "1w"):
        assert_rollup_equal(
            store.read(hourly.symbol, interval),
            pandas_rollup(hourly, interval),
            f"{where} {interval}",
        )


# -- rollups ------------------------------------------------------------------------------------
def test_rollups_equal_pandas_for_closed_buckets_only(store: SqlStore) -> None:
    names = ("SOLUSDT-1h.csv", "USDCUSDT-1h.csv", "BTCUSDT-1h.csv")
    store.ingest([real(n) for n in names])
    for name in names:
        hourly = real(name)
        assert_rollups(store, hourly, name)
        last = int(hourly.time[-1])
        days, weeks = store.read(hourly.symbol, "1d"), store.read(hourly.symbol, "1w")
        # The last hourly candle opens before 23:00: its day and week are still open.
        assert last % DAY < 23 * HOUR
        assert int(days.time[-1]) == last // DAY * DAY - DAY
        assert int(weeks.time[-1]) + 7 * DAY <= last
        assert int(days.time[0]) == int(hourly.time[0]) // DAY * DAY  # a partial first day
        assert days.time.dtype == np.int64 and days.close.flags["C_CONTIGUOUS"]
    usdc_days = store.read("USDCUSDT", "1d")
    assert len(usdc_days) == len(np.unique(real("USDCUSDT-1h.csv").time // DAY)) - 1


def test_incremental_rollups_equal_full_rebuild_and_pandas(store: SqlStore) -> None:
    sol = real("SOLUSDT-1h.csv")
    state = take(sol, slice(300, 1200))
    store.ingest(state)
    assert_rollups(store, state, "first")
    steps: list[Bars] = [
        take(sol, slice(1200, 1213)),  # the next hours: closes a day
        take(sol, slice(1213, 1500)),
        take(sol, slice(0, 310)),  # older history arrives later
        with_values(take(sol, slice(700, 701)), 0, high=float(sol.high[700]) * 1.2),
        with_values(take(sol, slice(1440, 1460)), 3, low=float(sol.low[1443]) * 0.5),
        take(sol, slice(1490, 2000)),
    ]
    for k, step in enumerate(steps):
        store.ingest(step)
        state = merged(state, step)
        assert_bars_equal(store.read("SOLUSDT", "1h"), state, f"step {k}")
        assert_rollups(store, state, f"step {k}")
    incremental = {i: store.read("SOLUSDT", i) for i in ("1d", "1w")}
    versions = {i: store.data_version("SOLUSDT", i) for i in ("1d", "1w")}
    assert store.refresh_rollups() == 1
    for interval, bars in incremental.items():
        assert_bars_equal(store.read("SOLUSDT", interval), bars, f"rebuilt {interval}")
        assert store.data_version("SOLUSDT", interval) >= versions[interval]
    assert store.refresh_rollups(["solusdt"]) == 1


def test_native_daily_candles_are_served_over_rollups(store: SqlStore) -> None:
    hourly, daily = real("BTCUSDT-1h.csv"), real("BTCUSDT-1d.csv")
    store.ingest([hourly, daily, real("SOLUSDT-1h.csv")])
    assert_bars_equal(store.read("BTCUSDT", "1d"), daily)
    native = next(s for s in store.pair("BTCUSDT").series if s.interval is Interval.D1)
    assert not native.rollup and store.data_version("BTCUSDT", "1d") == native.data_version
    assert_rollup_equal(store.read("BTCUSDT", "1w"), pandas_rollup(hourly, "1w"))
    # Ranges apply to rollups too (both ends inclusive).
    sol_days = pandas_rollup(real("SOLUSDT-1h.csv"), "1d")
    lo, hi = int(sol_days.time[5]), int(sol_days.time[9])
    assert_rollup_equal(store.read("SOLUSDT", "1d", lo, hi), take(sol_days, slice(5, 10)))
    assert_rollup_equal(store.read("SOLUSDT", "1d", lo + 1, hi - 1), take(sol_days, slice(6, 9)))


def test_rollups_of_other_sub_daily_sources(store: SqlStore) -> None:
    rng = np.random.default_rng(11)
    four = renamed(random_bars(rng, 6 * 70, interval="4h"), "FOURUSDT")
    quarter = without(
        renamed(random_bars(rng, 96 * 16, interval="15m"), "QUARTUSDT"), range(200, 260)
    )
    store.ingest([four, quarter])
    for bars in (four, quarter):
        assert_rollups(store, bars, bars.symbol)
    # A pair with both 15m and 1h candles rolls up its finest ones.
    hourly = renamed(random_bars(rng, 24 * 16, interval="1h", start_price=5.0), "QUARTUSDT")
    store.ingest(hourly)
    assert_rollups(store, quarter, "finest wins")


# -- dashboard ----------------------------------------------------------------------------------
DashboardSet = dict[str, tuple[Bars, ...]]


@pytest.fixture
def market(store: SqlStore) -> DashboardSet:
    """Six pairs with the cases the dashboard definitions distinguish."""
    btc_h, btc_d = real("BTCUSDT-1h.csv"), real("BTCUSDT-1d.csv")
    older = take(btc_d, btc_d.time < int(btc_h.time[0]) // DAY * DAY + 3 * DAY)  # 3 days overlap
    sol = real("SOLUSDT-1h.csv")
    sol = without(sol, [len(sol) - 25, len(sol) - 26])  # no candle at last - 24 h, nor before
    new = take(renamed(real("SOLUSDT-1h.csv"), "NEWUSDT"), slice(0, 10))  # under 24 h of history
    eth = renamed(random_bars(np.random.default_rng(2), 24 * 45, start_price=0.05), "ETHBTC")
    pairs: DashboardSet = {
        "BTCUSDT": (btc_h, older),
        "SOLUSDT": (sol,),
        "USDCUSDT": (real("USDCUSDT-1h.csv"),),
        "BONKUSDT": (real("BONKUSDT-1d.csv"),),
        "NEWUSDT": (new,),
        "ETHBTC": (eth,),
    }
    store.register_pairs([PairSpec.of("EMPTYUSDT")])  # no candles: no dashboard row
    store.ingest([bars for series in pairs.values() for bars in series])
    return pairs


def reference_rows(store: SqlStore, market: DashboardSet) -> dict[str, dict[str, Any]]:
    return {
        symbol: reference_dashboard(store.pair(symbol).id, symbol, *series)
        for symbol, series in market.items()
    }


def ordered(rows: dict[str, dict[str, Any]], sort: str, descending: bool) -> list[str]:
    """Symbols in dashboard order: by ``sort``, NULLs last, ties by symbol."""
    by_symbol = sorted(rows)
    present = [s for s in by_symbol if rows[s][sort] is not None]
    present.sort(key=lambda s: rows[s][sort], reverse=descending)  # stable: ties keep symbols
    return present + [s for s in by_symbol if rows[s][sort] is None]


def test_dashboard_rows_equal_an_independent_computation(
    store: SqlStore, market: DashboardSet
) -> None:
    want = reference_rows(store, market)
    got = {r.symbol: r for r in store.dashboard()}
    assert set(got) == set(market)
    for symbol, row in got.items():
        assert_dashboard_row(row, want[symbol])
    # The cases are really exercised:
    sol = market["SOLUSDT"][0]
    assert sol.time[-25] < sol.time[-1] - DAY  # the candle at last - 24 h is missing
    assert want["NEWUSDT"]["change_24h_percent"] is None
    btc_hourly = market["BTCUSDT"][0]
    assert want["BTCUSDT"]["all_time_high"] > btc_hourly.high.max()  # from older daily history
    assert want["BTCUSDT"]["total_days"] > len(market["BTCUSDT"][1])
    assert want["BTCUSDT"]["high_7d"] == btc_hourly.high[-168:].max()


@pytest.mark.parametrize("descending", [False, True])
def test_dashboard_order_limit_and_quote(
    store: SqlStore, market: DashboardSet, descending: bool
) -> None:
    want = reference_rows(store, market)
    for sort in DASHBOARD_SORTS:
        got = [r.symbol for r in store.dashboard(sort=sort, descending=descending)]
        assert got == ordered(want, sort, descending), sort
    top = store.dashboard(sort="volume_7d", descending=descending, limit=2, quote="usdt")
    usdt = {s: r for s, r in want.items() if s.endswith("USDT")}
    assert [r.symbol for r in top] == ordered(usdt, "volume_7d", descending)[:2]
    assert [r.symbol for r in store.dashboard(quote="BTC")] == ["ETHBTC"]
    assert store.dashboard(quote="EUR") == []


def test_top_gainers_and_losers(store: SqlStore, market: DashboardSet) -> None:
    want = reference_rows(store, market)
    gainers = store.dashboard(sort="change_24h_percent", descending=True, limit=3)
    losers = store.dashboard(sort="change_24h_percent", limit=3)
    assert [r.symbol for r in gainers] == ordered(want, "change_24h_percent", True)[:3]
    assert [r.symbol for r in losers] == ordered(want, "change_24h_percent", False)[:3]
    everything = store.dashboard(sort="change_24h_percent", descending=True)
    assert everything[-1].symbol == "NEWUSDT" and everything[-1].change_24h_percent is None
    assert store.dashboard(sort="change_24h_percent")[-1].symbol == "NEWUSDT"


@pytest.mark.parametrize("sort", ["volume", "change_24h_percent; DROP TABLE dashboard", ""])
def test_unknown_sort_is_refused(store: SqlStore, market: DashboardSet, sort: str) -> None:
    with pytest.raises(InputError):
        store.dashboard(sort=sort)
    assert len(store.dashboard()) == len(market)


def _refreshed_at(store: SqlStore) -> dict[int, int]:
    # White box: when each row was last written (not part of the row's contract).
    with store._db.read() as s:
        return {int(c): int(t) for c, t in s.rows("SELECT crypto_id, refreshed_at FROM dashboard")}


def test_ingest_refreshes_only_the_touched_pairs(store: SqlStore, market: DashboardSet) -> None:
    before = {r.symbol: r for r in store.dashboard()}
    stamps = _refreshed_at(store)
    store.ingest([market["SOLUSDT"][0], market["BONKUSDT"][0]])  # nothing new
    assert {r.symbol: r for r in store.dashboard()} == before
    assert _refreshed_at(store) == stamps

    full_sol = real("SOLUSDT-1h.csv")
    store.ingest(take(full_sol, slice(len(full_sol) - 30, len(full_sol))))  # the two lost hours
    after = {r.symbol: r for r in store.dashboard()}
    sol_id = store.pair("SOLUSDT").id
    assert_dashboard_row(after["SOLUSDT"], reference_dashboard(sol_id, "SOLUSDT", full_sol))
    assert after["SOLUSDT"].change_24h_percent != before["SOLUSDT"].change_24h_percent
    for symbol in set(before) - {"SOLUSDT"}:
        assert after[symbol] == before[symbol], symbol
    now = _refreshed_at(store)
    assert {c: t for c, t in now.items() if c != sol_id} == {
        c: t for c, t in stamps.items() if c != sol_id
    }


def test_dashboard_follows_appends_and_revisions(store: SqlStore) -> None:
    btc = real("BTCUSDT-1h.csv")
    state = take(btc, slice(0, 1500))
    store.ingest(state)
    cid = store.pair("BTCUSDT").id
    assert_dashboard_row(store.dashboard()[0], reference_dashboard(cid, "BTCUSDT", state))
    top = 1500 - 168 + int(np.argmax(btc.high[1500 - 168 : 1500]))
    lowered = float(max(btc.open[top], btc.close[top]))
    for step in (
        take(btc, slice(1500, 1501)),
        with_values(take(btc, slice(top, top + 1)), 0, high=lowered),  # the 7-day high drops
        take(btc, slice(1490, 1800)),
        take(btc, slice(1800, 2000)),
    ):
        store.ingest(step)
        state = merged(state, step)
        (row,) = store.dashboard()
        assert_dashboard_row(row, reference_dashboard(cid, "BTCUSDT", state))


def test_full_refresh_equals_incremental(store: SqlStore, market: DashboardSet) -> None:
    incremental = store.dashboard()
    assert store.refresh_dashboard() == len(market)
    assert store.dashboard() == incremental
    assert store.refresh_dashboard(["SOLUSDT", "bonkusdt"]) == 2
    assert store.dashboard() == incremental
    assert store.refresh_rollups() == len(market) + 1  # every registered pair
    assert store.dashboard() == incremental


def test_a_finer_interval_added_later_keeps_the_older_history(store: SqlStore) -> None:
    # A pair collected hourly for months, then 15-minute candles for its latest days.
    sol = real("SOLUSDT-1h.csv")
    store.ingest(sol)
    days = store.read("SOLUSDT", "1d")
    walk = random_bars(np.random.default_rng(4), 96 * 3, interval="15m", start_price=70.0)
    start = int(sol.time[-1]) // DAY * DAY + DAY  # the next midnight
    cols = (walk.open, walk.high, walk.low, walk.close, walk.volume)
    quarter = Bars("SOLUSDT", walk.interval, walk.time - walk.time[0] + start, *cols)
    store.ingest(quarter)
    assert_bars_equal(store.read("SOLUSDT", "1h"), sol)
    got = store.read("SOLUSDT", "1d")
    before = start - DAY  # SOL's last hourly day: closed only now that later candles exist
    older = take(got, got.time < before)
    assert_bars_equal(older, take(days, days.time < before), "daily history before the 15m")
    (row,) = store.dashboard()
    want = reference_dashboard(row.crypto_id, "SOLUSDT", sol, quarter)
    assert_dashboard_row(row, want)
