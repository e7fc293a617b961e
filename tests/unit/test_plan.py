"""The collection planner (collector/plan.py) and the page batching (services/collect_batch.py),
without I/O."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinbt.collector.plan import (
    HISTORY_START,
    FetchRange,
    check_mode,
    confirmed_gaps,
    continuity,
    ends_short,
    expected_candles,
    has_holes,
    plan_ranges,
    stored_series,
)
from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.market import Gap, SeriesInfo
from coinbt.errors import InputError
from coinbt.services.collect_batch import Batcher, merge_pages

H = Interval.H1
HOUR = H.ms
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def series(first: int, last: int, candles: int | None = None) -> SeriesInfo:
    count = (last - first) // HOUR + 1 if candles is None else candles
    return SeriesInfo(H, first, last, count, 1)


def test_a_full_run_fetches_the_whole_history_whatever_is_stored() -> None:
    stored = series(T0, T0 + 99 * HOUR)
    for s in (None, stored):
        assert plan_ranges("full", H, s) == [FetchRange(HISTORY_START, None, "history")]


def test_an_update_of_a_new_pair_fetches_its_whole_history() -> None:
    assert plan_ranges("update", H, None) == [FetchRange(0, None, "history")]


def test_an_update_fetches_the_tail_then_the_unknown_holes() -> None:
    stored = series(T0, T0 + 99 * HOUR, 90)
    gaps = [
        Gap(H, T0 + 10 * HOUR, T0 + 14 * HOUR),
        Gap(H, T0 + 50 * HOUR, T0 + 54 * HOUR, known=True, reason="outage"),
    ]
    assert plan_ranges("update", H, stored, gaps) == [
        FetchRange(T0 + 100 * HOUR, None, "tail"),
        FetchRange(T0 + 10 * HOUR, T0 + 14 * HOUR, "gap"),
    ]


def test_unknown_modes_are_input_errors() -> None:
    assert check_mode("full") == "full"
    with pytest.raises(InputError, match="update or full"):
        plan_ranges("sometimes", H, None)


def test_holes_are_seen_from_the_counts() -> None:
    assert not has_holes(None)
    assert not has_holes(series(T0, T0 + 9 * HOUR))
    assert has_holes(series(T0, T0 + 9 * HOUR, 9))


def test_stored_series_ignores_rollups_and_other_intervals() -> None:
    rollup = SeriesInfo(Interval.D1, T0, T0, 1, 1, rollup=True)
    hourly = series(T0, T0 + HOUR)
    assert stored_series([rollup, hourly], H) is hourly
    assert stored_series([rollup], Interval.D1) is None


def test_expected_candles() -> None:
    now = T0 + 10 * HOUR + HOUR // 2  # the 10th candle is open
    tail = [FetchRange(T0 + 5 * HOUR, None, "tail"), FetchRange(T0, T0 + HOUR, "gap")]
    assert expected_candles(tail, H, now) == 5 + 2
    history = [FetchRange(0, None, "history")]
    assert expected_candles(history, H, now) is None  # until the first candle is seen
    assert expected_candles(history, H, now, first_ms=T0) == 10


def test_only_holes_inside_completely_fetched_ranges_are_confirmed() -> None:
    inside = Gap(H, T0 + 2 * HOUR, T0 + 3 * HOUR)
    before = Gap(H, T0 - 5 * HOUR, T0 - 4 * HOUR)
    known = Gap(H, T0 + 7 * HOUR, T0 + 8 * HOUR, known=True, reason="outage")
    fetched = [FetchRange(T0, None, "tail")]
    assert confirmed_gaps([inside, before, known], fetched) == [inside]
    assert confirmed_gaps([inside], [FetchRange(T0, T0 + 2 * HOUR, "gap")]) == []


def test_continuity_sees_skipped_open_times() -> None:
    times = T0 + np.array([0, 1, 2]) * HOUR
    assert continuity(times, H, None) == (False, T0 + 3 * HOUR)  # a history's first page
    assert continuity(times, H, T0) == (False, T0 + 3 * HOUR)
    assert continuity(times, H, T0 - HOUR)[0]  # the page starts late
    assert continuity(T0 + np.array([0, 2]) * HOUR, H, T0)[0]  # a row is missing
    assert continuity(times[:0], H, T0) == (False, T0)


def test_a_bounded_range_that_stops_early_ends_short() -> None:
    hole = FetchRange(T0, T0 + 4 * HOUR, "gap")
    assert ends_short(hole, T0)  # nothing came
    assert ends_short(hole, T0 + 4 * HOUR)  # the last one did not come
    assert not ends_short(hole, T0 + 5 * HOUR)
    assert not ends_short(FetchRange(T0, None, "tail"), T0)


@given(st.lists(st.integers(1, 200), min_size=1, max_size=30, unique=True))
def test_an_update_never_asks_for_stored_candles(missing: list[int]) -> None:
    present = np.setdiff1d(np.arange(0, 300), missing)
    times = T0 + present * HOUR
    stored = series(int(times[0]), int(times[-1]), len(times))
    steps = np.diff(times)
    gaps = [
        Gap(H, int(a) + HOUR, int(a) + int(d) - HOUR) for a, d in zip(times, steps, strict=False)
        if d > HOUR
    ]  # fmt: skip
    for r in plan_ranges("update", H, stored, gaps):
        end = r.end_ms if r.end_ms is not None else 2**62
        assert not np.any((times >= r.start_ms) & (times <= end))
    asked = {
        t for r in plan_ranges("update", H, stored, gaps) if r.end_ms
        for t in range(r.start_ms, r.end_ms + 1, HOUR)
    }  # fmt: skip
    assert asked == {T0 + m * HOUR for m in missing if m < present[-1]}


def page(symbol: str, start: int, n: int) -> Bars:
    t = T0 + (start + np.arange(n)) * HOUR
    price = np.full(n, 10.0)
    return Bars.from_arrays(symbol, "1h", t, price, price, price, price, price)


def test_pages_merge_into_one_bars_per_pair_in_time_order() -> None:
    pages = [page("A", 3, 3), page("B", 0, 2), page("A", 0, 3), page("A", 6, 1)]
    merged = {b.symbol: b for b in merge_pages(pages)}
    assert list(merged["A"].time) == [T0 + i * HOUR for i in range(7)]
    assert len(merged["B"]) == 2 and len(merge_pages(pages)) == 2
    overlapping = merge_pages([page("A", 0, 3), page("A", 2, 3)])
    assert len(overlapping) == 2  # never joined into a non-increasing series


def test_the_batcher_writes_in_order_in_batches_of_about_the_limit() -> None:
    written: list[int] = []

    async def ingest(batch: list[Bars]) -> None:
        await asyncio.sleep(0.001)
        written.append(sum(len(b) for b in batch))

    async def main() -> None:
        batcher = Batcher(ingest, limit=10)
        for k in range(9):
            await batcher.add(page("A", 4 * k, 4))
        await batcher.flush()

    asyncio.run(main())
    assert written == [12, 12, 12]


def test_the_batcher_also_writes_pages_that_waited_long_enough() -> None:
    written: list[int] = []

    async def ingest(batch: list[Bars]) -> None:
        written.append(sum(len(b) for b in batch))

    async def main() -> None:
        batcher = Batcher(ingest, limit=1000, max_age_s=0.0)
        for k in range(3):
            await batcher.add(page("A", 4 * k, 4))
        await batcher.flush()

    asyncio.run(main())
    assert written == [4, 4, 4]
