"""Pure tests of the store's arithmetic: :mod:`coinbt.store.rollup` (daily and weekly buckets)
and :mod:`coinbt.store.summary` (the dashboard row).

Every expectation is computed independently here: bucket starts from :mod:`datetime`,
buckets from a pandas ``resample`` (``'1D'`` / ``'W-MON'``, label and closed left), dashboard
figures with plain numpy written from DESIGN.md's definitions. Inputs are the real candle
fixtures where possible.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.store import rollup, summary
from conftest import START_MS, load_real, random_bars

DAY = 86_400_000
WEEK = 7 * DAY
HOUR = 3_600_000
_EPOCH = pd.Timestamp(0, tz="UTC")


# -- independent references ---------------------------------------------------------------
def day_start(ms: int) -> int:
    """Midnight UTC of the day holding ``ms``, via datetime."""
    d = dt.datetime.fromtimestamp(0, dt.UTC) + dt.timedelta(milliseconds=ms)
    midnight = dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)
    return int((midnight - dt.datetime.fromtimestamp(0, dt.UTC)) / dt.timedelta(milliseconds=1))


def week_start(ms: int) -> int:
    """Monday 00:00 UTC of the week holding ``ms``, via datetime."""
    d = dt.datetime.fromtimestamp(0, dt.UTC) + dt.timedelta(milliseconds=day_start(ms))
    return day_start(ms) - d.weekday() * DAY


def pandas_buckets(bars: Bars, interval: Interval) -> pd.DataFrame:
    """Closed ``interval`` buckets of ``bars`` by pandas: first open, max high, min low, last
    close, summed volume and the candle count; indexed by bucket open time (ms)."""
    rule = {Interval.D1: "1D", Interval.W1: "W-MON"}[interval]
    frame = pd.DataFrame(
        {
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
            "bars": np.ones(len(bars), dtype=np.int64),
        },
        index=pd.to_datetime(bars.time, unit="ms", utc=True),
    )
    out = frame.resample(rule, label="left", closed="left").agg(
        {
            "open": "first",
            "high": "max",
            "low": "min",
            "close": "last",
            "volume": "sum",
            "bars": "sum",
        }
    )
    out = out[out["bars"] > 0]
    start = ((out.index - _EPOCH) // pd.Timedelta(milliseconds=1)).to_numpy(np.int64)
    out.index = start
    closed = start + interval.ms <= int(bars.time[-1]) + bars.interval.ms
    return out[closed]


def assert_rollup_equals(got: rollup.Rollup, want: pd.DataFrame, where: str) -> None:
    assert len(got) == len(want), f"{where}: {len(got)} buckets, pandas has {len(want)}"
    np.testing.assert_array_equal(got.time, want.index.to_numpy(), err_msg=f"{where} time")
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(
            getattr(got, name), want[name].to_numpy(), err_msg=f"{where} {name}"
        )
    np.testing.assert_allclose(got.volume, want["volume"].to_numpy(), rtol=1e-12, err_msg=where)
    np.testing.assert_array_equal(got.bars, want["bars"].to_numpy(), err_msg=f"{where} bars")
    assert got.time.dtype == np.int64
    assert got.bars.dtype == np.int64


def aggregate(bars: Bars, interval: Interval) -> rollup.Rollup:
    return rollup.aggregate(
        bars.time,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        source=bars.interval,
        interval=interval,
    )


def without(bars: Bars, rows: np.ndarray) -> Bars:
    keep = np.ones(len(bars), dtype=bool)
    keep[rows] = False
    return Bars(
        bars.symbol,
        bars.interval,
        *(np.ascontiguousarray(getattr(bars, c)[keep]) for c in _COLS),
    )


_COLS = ("time", "open", "high", "low", "close", "volume")


# -- rollup: buckets ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ms",
    [
        0,  # Thursday 1970-01-01
        4 * DAY,  # the first Monday
        4 * DAY - 1,
        -1,  # 1969-12-31 23:59:59.999, a Wednesday
        -5 * DAY,
        1_704_067_200_000,  # Monday 2024-01-01 00:00
        1_704_067_200_000 - 1,  # Sunday 23:59:59.999
        1_709_164_800_000 + 13 * HOUR,  # 2024-02-29 13:00 (leap day)
        1_771_758_000_000,  # 2026-02-22 11:00, the hourly fixtures' first candle
    ],
)
def test_bucket_start_is_midnight_and_monday(ms: int) -> None:
    assert rollup.bucket_start(ms, Interval.D1) == day_start(ms)
    assert rollup.bucket_start(ms, Interval.W1) == week_start(ms)
    assert rollup.bucket_start(ms, Interval.H1) == ms // HOUR * HOUR
    monday = dt.datetime.fromtimestamp(0, dt.UTC) + dt.timedelta(
        milliseconds=rollup.bucket_start(ms, Interval.W1)
    )
    assert monday.weekday() == 0


def test_bucket_starts_vectorised_equals_scalar() -> None:
    rng = np.random.default_rng(7)
    times = rng.integers(-(10**12), 2 * 10**12, size=500).astype(np.int64)
    for interval in Interval:
        got = rollup.bucket_starts(times, interval)
        assert got.dtype == np.int64
        assert got.tolist() == [rollup.bucket_start(int(t), interval) for t in times]


def test_aligned() -> None:
    monday = 1_704_067_200_000
    assert rollup.aligned(np.array([monday, monday + WEEK], dtype=np.int64), Interval.W1)
    assert not rollup.aligned(np.array([monday, monday + DAY], dtype=np.int64), Interval.W1)
    assert rollup.aligned(np.array([monday + DAY], dtype=np.int64), Interval.D1)
    assert not rollup.aligned(np.array([monday + HOUR], dtype=np.int64), Interval.D1)
    assert rollup.aligned(np.array([monday + 15 * 60_000], dtype=np.int64), Interval.M15)
    assert not rollup.aligned(np.array([monday + 1], dtype=np.int64), Interval.M1)


def test_rollup_sources_are_the_sub_daily_intervals() -> None:
    assert {i for i in Interval if rollup.is_rollup_source(i)} == {
        Interval.M1,
        Interval.M5,
        Interval.M15,
        Interval.M30,
        Interval.H1,
        Interval.H4,
    }
    assert rollup.ROLLUP_INTERVALS == (Interval.D1, Interval.W1)


# -- rollup: aggregate against pandas ---------------------------------------------------------
@pytest.mark.parametrize("name", ["BTCUSDT-1h.csv", "SOLUSDT-1h.csv", "USDCUSDT-1h.csv"])
@pytest.mark.parametrize("interval", [Interval.D1, Interval.W1])
def test_aggregate_real_hourly_equals_pandas(name: str, interval: Interval) -> None:
    bars = load_real(name)
    got = aggregate(bars, interval)
    assert_rollup_equals(got, pandas_buckets(bars, interval), f"{name} {interval}")
    assert len(got) > 5
    assert rollup.aligned(got.time, interval)


def test_aggregate_real_gap_counts_fewer_bars() -> None:
    # USDCUSDT-1h misses two hours on 2021-09-29 (a real exchange gap).
    bars = load_real("USDCUSDT-1h.csv")
    days = aggregate(bars, Interval.D1)
    gap_day = day_start(int(bars.time[np.flatnonzero(np.diff(bars.time) != HOUR)[0]]))
    counts = dict(zip(days.time.tolist(), days.bars.tolist(), strict=True))
    assert counts[gap_day] == 22
    full = [t for t in days.time.tolist() if t not in (gap_day, int(days.time[0]))]
    assert all(counts[t] == 24 for t in full)
    # The first day starts at 10:00: 14 candles, still a closed day.
    assert counts[int(days.time[0])] == 14


@pytest.mark.parametrize("source", ["4h", "15m", "1m"])
def test_aggregate_other_sources_with_holes_equals_pandas(source: str) -> None:
    rng = np.random.default_rng(3)
    n = {"4h": 400, "15m": 3000, "1m": 20_000}[source]
    bars = random_bars(rng, n, interval=source)
    bars = without(bars, rng.choice(n, size=n // 10, replace=False))
    for interval in rollup.ROLLUP_INTERVALS:
        assert_rollup_equals(
            aggregate(bars, interval), pandas_buckets(bars, interval), f"{source} {interval}"
        )


def test_open_day_and_week_are_not_emitted() -> None:
    monday = 1_704_067_200_000
    step = Interval.H1.ms
    full_week = random_bars(np.random.default_rng(1), 7 * 24)
    full_week = Bars(
        full_week.symbol,
        full_week.interval,
        monday + step * np.arange(168),
        *(getattr(full_week, c) for c in _COLS[1:]),
    )
    days = aggregate(full_week, Interval.D1)
    weeks = aggregate(full_week, Interval.W1)
    assert days.time.tolist() == [monday + k * DAY for k in range(7)]
    assert weeks.time.tolist() == [monday]
    # Without Sunday 23:00 the last day and the week are still open.
    short = full_week.take(slice(0, 167))
    assert aggregate(short, Interval.D1).time.tolist() == [monday + k * DAY for k in range(6)]
    assert len(aggregate(short, Interval.W1)) == 0
    # A missing last hour does not keep a day open once a later candle exists.
    holed = without(full_week, np.array([23]))
    assert aggregate(holed, Interval.D1).bars.tolist() == [23, 24, 24, 24, 24, 24, 24]


def test_aggregate_of_nothing_is_empty() -> None:
    empty_i = np.empty(0, dtype=np.int64)
    empty_f = np.empty(0, dtype=np.float64)
    for interval in rollup.ROLLUP_INTERVALS:
        got = rollup.aggregate(
            empty_i,
            empty_f,
            empty_f,
            empty_f,
            empty_f,
            empty_f,
            source=Interval.H1,
            interval=interval,
        )
        assert len(got) == 0
        assert got.interval is interval


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keep=st.lists(st.booleans(), min_size=24 * 20, max_size=24 * 20),
    offset=st.integers(0, 24 * 7 - 1),
)
def test_aggregate_any_subset_equals_pandas(keep: list[bool], offset: int) -> None:
    mask = np.array(keep)
    if not mask.any():
        return
    base = random_bars(np.random.default_rng(offset), len(mask))
    shift = offset * HOUR
    bars = Bars(
        base.symbol,
        base.interval,
        np.ascontiguousarray(base.time[mask] + shift),
        *(np.ascontiguousarray(getattr(base, c)[mask]) for c in _COLS[1:]),
    )
    for interval in rollup.ROLLUP_INTERVALS:
        assert_rollup_equals(
            aggregate(bars, interval), pandas_buckets(bars, interval), str(interval)
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(0, 24 * 9), min_size=1, max_size=6),
    offsets=st.lists(st.integers(0, 24 * 7 - 1), min_size=6, max_size=6),
    holes=st.integers(0, 2**32 - 1),
)
def test_aggregate_pairs_equals_pandas_per_pair(
    lengths: list[int], offsets: list[int], holes: int
) -> None:
    """Many pairs at once, as an update reads them (sorted by pair, then time, each with its
    own length, start and missing candles): every pair's buckets as pandas makes them."""
    rng = np.random.default_rng(holes)
    pairs = {}
    for k, n in enumerate(lengths):
        base = random_bars(rng, n)
        keep = rng.random(n) > 0.15
        pairs[10 + 3 * k] = Bars(
            base.symbol,
            base.interval,
            np.ascontiguousarray(base.time[keep] + offsets[k] * HOUR),
            *(np.ascontiguousarray(getattr(base, c)[keep]) for c in _COLS[1:]),
        )
    ids = np.concatenate([np.full(len(b), cid, dtype=np.int32) for cid, b in pairs.items()])
    cols = [np.concatenate([getattr(b, c) for b in pairs.values()]) for c in _COLS]
    for interval in rollup.ROLLUP_INTERVALS:
        got = rollup.aggregate_pairs(ids, *cols, source=Interval.H1, interval=interval)
        for cid, bars in pairs.items():
            want = pandas_buckets(bars, interval) if len(bars) else None
            if want is None or len(want) == 0:
                assert cid not in got, f"pair {cid} {interval}: no closed bucket expected"
                continue
            assert_rollup_equals(got[cid], want, f"pair {cid} {interval}")


# -- summary ------------------------------------------------------------------------------
def reference_row(
    time: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    daily_high: float | None,
    daily_low: float | None,
    daily_days: set[int],
) -> dict[str, object]:
    """DESIGN.md's dashboard row from the full finest-interval history, by plain numpy;
    ``daily_days`` are the day numbers (ms // DAY) the daily history covers."""
    last = int(time[-1])
    row: dict[str, object] = {"current_price": float(close[-1]), "last_updated": last}
    before = np.flatnonzero(time <= last - DAY)
    row["change_24h_percent"] = (
        None if len(before) == 0 else (float(close[-1]) / float(close[before[-1]]) - 1) * 100
    )
    for days in (7, 30):
        w = (time > last - days * DAY) & (time <= last)
        row[f"high_{days}d"] = float(high[w].max())
        row[f"low_{days}d"] = float(low[w].min())
        row[f"volume_{days}d"] = float(volume[w].sum())
    highs = [float(high.max())] + ([daily_high] if daily_high is not None else [])
    lows = [float(low.min())] + ([daily_low] if daily_low is not None else [])
    row["all_time_high"] = max(highs)
    row["all_time_low"] = min(lows)
    row["total_days"] = len(daily_days | set((time // DAY).tolist()))
    return row


def recent_of(bars: Bars) -> summary.Recent:
    lo = int(np.searchsorted(bars.time, summary.window_start(int(bars.time[-1]))))
    return summary.Recent(
        *(
            np.ascontiguousarray(getattr(bars, c)[lo:])
            for c in ("time", "high", "low", "close", "volume")
        )
    )


def assert_row(got: object, want: dict[str, object]) -> None:
    for name, value in want.items():
        have = getattr(got, name)
        if value is None or isinstance(value, int):
            assert have == value, name
        elif name.startswith("volume") or name.startswith("change"):
            assert have == pytest.approx(value, rel=1e-12), name
        else:
            assert have == value, name


def test_window_start_covers_30_days_and_the_24h_reference() -> None:
    last = 1_778_954_400_000
    assert summary.window_start(last) == last - 31 * DAY
    assert summary.WINDOW_DAYS == 30


@pytest.mark.parametrize("name", ["BTCUSDT-1h.csv", "SOLUSDT-1h.csv", "USDCUSDT-1h.csv"])
def test_summarize_hourly_without_daily_history(name: str) -> None:
    bars = load_real(name)
    recent = recent_of(bars)
    row = summary.summarize(7, "X", recent, summary.DailyFigures(None, None, 0, None))
    assert (row.crypto_id, row.symbol) == (7, "X")
    # Without daily figures the all-time figures and the day count are the recent window's.
    want = reference_row(
        recent.time, recent.high, recent.low, recent.close, recent.volume, None, None, set()
    )
    assert_row(row, want)
    w7 = bars.time > bars.time[-1] - 7 * DAY
    if not np.any(np.diff(bars.time[-24 * 31 :]) != HOUR):
        assert int(w7.sum()) == 168  # the 7-day window is the last 168 hourly candles
        assert row.high_7d == bars.high[-168:].max()
        assert row.low_30d == bars.low[-720:].min()


def test_summarize_with_older_daily_history() -> None:
    hourly = load_real("BTCUSDT-1h.csv")
    daily = load_real("BTCUSDT-1d.csv")
    older = daily.time < hourly.time[0] - hourly.time[0] % DAY  # days before the hourly data
    figures = summary.DailyFigures(
        float(daily.high[older].max()),
        float(daily.low[older].min()),
        int(older.sum()),
        int(daily.time[older][-1]),
    )
    # Pretend the daily history reaches into the hourly window: only later days add up.
    recent = recent_of(hourly)
    row = summary.summarize(1, "BTCUSDT", recent, figures)
    want = reference_row(
        recent.time,
        recent.high,
        recent.low,
        recent.close,
        recent.volume,
        figures.high,
        figures.low,
        set((daily.time[older] // DAY).tolist()),
    )
    assert_row(row, want)
    assert row.all_time_high == figures.high  # BTC's 2025 top is older than the hourly data
    assert row.all_time_high > row.high_30d


def test_summarize_counts_only_days_after_the_last_daily_figure() -> None:
    hourly = load_real("SOLUSDT-1h.csv")
    recent = recent_of(hourly)
    last_day = int(recent.time[-1]) // DAY * DAY - DAY  # yesterday is the last closed day
    figures = summary.DailyFigures(1e9, 1e-9, 100, last_day)
    row = summary.summarize(1, "SOLUSDT", recent, figures)
    assert row.total_days == 101  # today, the still-open day
    assert row.all_time_high == 1e9
    assert row.all_time_low == 1e-9


def test_change_24h_uses_the_latest_candle_before_a_missing_one() -> None:
    bars = load_real("BTCUSDT-1h.csv")
    last = int(bars.time[-1])
    at = int(np.searchsorted(bars.time, last - DAY))
    assert bars.time[at] == last - DAY
    for missing in (1, 3):
        holed = without(bars, np.arange(at - missing + 1, at + 1))
        row = summary.summarize(1, "B", recent_of(holed), summary.DailyFigures(None, None, 0, None))
        ref_close = bars.close[at - missing]
        assert row.change_24h_percent == pytest.approx(
            (bars.close[-1] / ref_close - 1) * 100, rel=1e-12
        )
    # Exactly 24 h of history: the reference is the first candle.
    day = bars.take(slice(len(bars) - 25, len(bars)))
    row = summary.summarize(1, "B", recent_of(day), summary.DailyFigures(None, None, 0, None))
    assert row.change_24h_percent == pytest.approx(
        (day.close[-1] / day.close[0] - 1) * 100, rel=1e-12
    )


def test_change_24h_is_none_with_less_than_a_day_of_history() -> None:
    bars = load_real("SOLUSDT-1h.csv").take(slice(0, 24))  # 23 hours from first to last
    row = summary.summarize(1, "S", recent_of(bars), summary.DailyFigures(None, None, 0, None))
    assert row.change_24h_percent is None
    assert row.total_days == len(np.unique(bars.time // DAY))


def test_summarize_daily_candles_as_the_finest_interval() -> None:
    bars = load_real("BONKUSDT-1d.csv")
    recent = recent_of(bars)
    prior = bars.time < recent.time[0]
    figures = summary.DailyFigures(
        float(bars.high[prior].max()),
        float(bars.low[prior].min()),
        int(prior.sum()),
        int(bars.time[prior][-1]),
    )
    row = summary.summarize(3, "BONKUSDT", recent, figures)
    assert row.change_24h_percent == pytest.approx(
        (bars.close[-1] / bars.close[-2] - 1) * 100, rel=1e-12
    )
    assert row.high_7d == bars.high[-7:].max()
    assert row.low_7d == bars.low[-7:].min()
    assert row.volume_30d == pytest.approx(bars.volume[-30:].sum(), rel=1e-12)
    assert row.all_time_high == bars.high.max()
    assert row.all_time_low == bars.low.min()
    assert row.total_days == len(bars)
    assert row.last_updated == int(bars.time[-1])


def test_window_bounds_are_open_at_the_start_and_closed_at_the_end() -> None:
    # Hand-made: one candle exactly at last - 7 days (outside), one just after (inside).
    last = START_MS + 40 * DAY
    time = np.array([last - 7 * DAY, last - 7 * DAY + HOUR, last], dtype=np.int64)
    high = np.array([500.0, 200.0, 110.0])
    low = np.array([1.0, 50.0, 90.0])
    close = np.array([100.0, 100.0, 100.0])
    volume = np.array([1000.0, 2.0, 3.0])
    row = summary.summarize(
        1,
        "H",
        summary.Recent(time, high, low, close, volume),
        summary.DailyFigures(None, None, 0, None),
    )
    assert (row.high_7d, row.low_7d, row.volume_7d) == (200.0, 50.0, 5.0)
    assert (row.high_30d, row.low_30d, row.volume_30d) == (500.0, 1.0, 1005.0)
    assert row.change_24h_percent == 0.0  # reference: the candle at last - 7 days


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(1, 24 * 40), min_size=1, max_size=5),
    seed=st.integers(0, 2**32 - 1),
    with_daily=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_summarize_pairs_equals_the_reference_per_pair(
    lengths: list[int], seed: int, with_daily: list[bool]
) -> None:
    """Many pairs in one call, as a refresh reads them (sorted by pair then time, each its
    own length, holes, end and older daily history): each row as the reference makes it."""
    rng = np.random.default_rng(seed)
    wanted, parts, facts = {}, [], {}
    for k, n in enumerate(lengths):
        base = random_bars(rng, n)
        keep = rng.random(n) > 0.2
        keep[-1] = True
        shift = int(rng.integers(0, 24 * 60)) * HOUR
        time, high, low, close, volume = (
            np.ascontiguousarray(getattr(base, c)[keep]) for c in _COLS[:1] + _COLS[2:]
        )
        time = time + shift
        cid = 5 + 2 * k
        # The reference sees the window; the call gets older candles too, to leave out.
        inside = time >= summary.window_start(int(time[-1]))
        daily = summary.DailyFigures(None, None, 0, None)
        older: set[int] = set()
        first_day = int(time[inside][0]) // DAY
        if with_daily[k]:  # daily history ending the day before the window's first candle
            older = set(range(first_day - 10, first_day))
            daily = summary.DailyFigures(1e6, 1e-3, len(older), (first_day - 1) * DAY)
        facts[cid] = summary.PairFacts(f"P{k}", daily)
        window = (a[inside] for a in (time, high, low, close, volume))
        wanted[cid] = reference_row(*window, daily.high, daily.low, older)
        parts.append((np.full(len(time), cid), time, high, low, close, volume))
    columns = [np.concatenate([p[i] for p in parts]) for i in range(6)]
    rows = summary.summarize_pairs(*columns, facts)
    assert [r.crypto_id for r in rows] == sorted(wanted)
    for row in rows:
        assert row.symbol == facts[row.crypto_id].symbol
        assert_row(row, wanted[row.crypto_id])
