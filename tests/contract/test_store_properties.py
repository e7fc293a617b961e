"""A property of the store's incremental maintenance: however a series arrives — split into
overlapping pieces, in any order, several pieces per call — the store ends with the same
candles, rollups, series record, gaps and dashboard row as after one ingest of the whole.

Runs on in-memory DuckDB (the SQL is shared with PostgreSQL; the contract suite covers both).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_fixtures import DAY, assert_bars_equal, renamed, take, without

from coinbt.domain.bars import Bars
from coinbt.store import SqlStore, open_store
from conftest import random_bars

HOUR = 3_600_000


@functools.cache
def series() -> Bars:
    """17 days of hourly candles starting on a Wednesday afternoon, with holes."""
    bars = renamed(random_bars(np.random.default_rng(21), 24 * 17), "PROPUSDT")
    shift = 3 * DAY + 15 * HOUR  # START_MS is a Sunday midnight
    cols = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    shifted = Bars(bars.symbol, bars.interval, bars.time + shift, *cols)
    return without(shifted, [*range(40, 43), 200, *range(300, 330)])


def snapshot(store: SqlStore) -> dict[str, Any]:
    pair = store.pair("PROPUSDT")
    return {
        "1h": store.read("PROPUSDT", "1h"),
        "1d": store.read("PROPUSDT", "1d"),
        "1w": store.read("PROPUSDT", "1w"),
        "series": [
            (s.interval, s.rollup, s.first_time, s.last_time, s.candles) for s in pair.series
        ],
        "gaps": store.gaps("PROPUSDT", "1h"),
        "dashboard": store.dashboard(),
        "stats": (store.stats().candles, store.stats().rollup_rows),
    }


@functools.cache
def whole() -> dict[str, Any]:
    with open_store("duckdb:///:memory:") as s:
        s.ingest(series())
        return snapshot(s)


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for interval in ("1h", "1d", "1w"):
        assert_bars_equal(got[interval], want[interval], interval)
    for key in ("series", "gaps", "stats"):
        assert got[key] == want[key], key
    (row,) = got["dashboard"]
    (ref,) = want["dashboard"]
    assert row.to_dict().keys() == ref.to_dict().keys()
    for name, value in ref.to_dict().items():
        if isinstance(value, float) and name.startswith("volume"):
            assert abs(getattr(row, name) - value) <= 1e-9 * abs(value), name
        else:
            assert getattr(row, name) == value, name


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[slice]]:
    """Pieces covering every candle (neighbours may overlap), shuffled, grouped into calls."""
    n = len(series())
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=6)))
    bounds = [0, *cuts, n]
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        back = draw(st.integers(0, min(lo, 30)))
        ahead = draw(st.integers(0, min(n - hi, 30)))
        pieces.append(slice(lo - back, hi + ahead))
    order = draw(st.permutations(pieces))
    calls: list[list[slice]] = []
    i = 0
    while i < len(order):
        size = draw(st.integers(1, 3))
        calls.append(list(order[i : i + size]))
        i += size
    return calls


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(calls=deliveries())
def test_any_delivery_ends_like_one_ingest(calls: list[list[slice]]) -> None:
    bars = series()
    with open_store("duckdb:///:memory:") as s:
        for call in calls:
            s.ingest([take(bars, piece) for piece in call])
        got = snapshot(s)
        assert_same(got, whole())
        s.refresh_rollups()
        s.refresh_dashboard()
        assert_same(snapshot(s), whole())
