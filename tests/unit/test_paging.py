"""The pure paging logic: parsing and validating klines replies, planning the next page."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinbt.collector.paging import (
    PageRequest,
    align_up,
    build_page,
    closed_count,
    next_start,
    parse_klines,
)
from coinbt.domain.interval import Interval
from coinbt.errors import ExchangeDataError

H = 3_600_000
T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC
MONDAY = 1_717_372_800_000  # 2024-06-03 00:00 UTC


def kline(t: int, o: float = 10.0, h: float = 11.0, lo: float = 9.0, c: float = 10.5) -> list[Any]:
    """A row as Binance sends it: prices and volumes as strings."""
    return [t, f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", "12.5", t + H - 1, "125.0", 7,
            "6.0", "60.0", "0"]  # fmt: skip


def request(
    start: int = T0, end: int | None = None, limit: int = 1000, interval: str = "1h"
) -> PageRequest:
    return PageRequest("BTCUSDT", Interval(interval), start, end, limit)


def hours(n: int, start: int = T0) -> list[list[Any]]:
    return [kline(start + i * H, 10 + i, 12 + i, 9 + i, 11 + i) for i in range(n)]


def refused(raw: object, req: PageRequest | None = None) -> str:
    with pytest.raises(ExchangeDataError) as caught:
        parse_klines(raw, req or request())
    assert caught.value.temporary  # the caller refetches the page
    return caught.value.message


# -- parsing --------------------------------------------------------------------------


def test_binance_rows_become_columns() -> None:
    times, values = parse_klines(hours(3), request())
    assert times.dtype == np.int64
    assert times.tolist() == [T0, T0 + H, T0 + 2 * H]
    assert values.tolist() == [
        [10, 12, 9, 11, 12.5],
        [11, 13, 10, 12, 12.5],
        [12, 14, 11, 13, 12.5],
    ]


def test_ccxt_unified_rows_of_numbers_parse_alike() -> None:
    unified = [[r[0], *(float(x) for x in r[1:6])] for r in hours(3)]
    a_times, a_values = parse_klines(unified, request())
    b_times, b_values = parse_klines(hours(3), request())
    assert a_times.tolist() == b_times.tolist()
    assert a_values.tolist() == b_values.tolist()


def test_an_empty_reply_is_no_candles() -> None:
    times, values = parse_klines([], request())
    assert len(times) == 0 and values.shape == (0, 5)


@pytest.mark.parametrize(
    "raw", [None, {"code": -1, "msg": "x"}, "[[1, 2", "<html>busy</html>", 42], ids=repr
)
def test_a_reply_that_is_not_a_list_is_refused(raw: object) -> None:
    assert "expected a list of candles" in refused(raw)


@pytest.mark.parametrize(
    "rows",
    [
        [kline(T0), kline(T0 + H)[:5]],  # a short row
        [kline(T0)[:5], kline(T0 + H)[:5]],  # too few fields everywhere
        [kline(T0), "not a row"],
        [[kline(T0)]],  # nested one level too deep
    ],
)
def test_rows_of_the_wrong_shape_are_refused(rows: list[Any]) -> None:
    refused(rows)


@pytest.mark.parametrize("bad", ["abc", None, "", [1], {"p": 1}])
def test_a_field_that_is_not_a_number_is_refused(bad: object) -> None:
    rows = hours(3)
    rows[1][4] = bad
    message = refused(rows)  # numpy reads None as NaN: refused as non-finite
    assert "not a number" in message or "non-finite value in row(s) 1" in message


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_values_are_refused(bad: str) -> None:
    rows = hours(3)
    rows[2][2] = bad
    assert "row(s) 2" in refused(rows)


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        (2, "10.6", "high below max(open, close)"),  # close of row 1 is 12
        (3, "12.5", "low above min(open, close)"),
        (1, "0", "non-positive price"),
        (5, "-1", "negative volume"),
    ],
)
def test_inconsistent_prices_are_refused(field: int, value: str, what: str) -> None:
    rows = hours(3)
    rows[1][field] = value
    assert f"{what} in row(s) 1" in refused(rows)


@pytest.mark.parametrize("bad", [T0 + 0.5, -H, 2.0**60, "1.5e12x"])
def test_open_times_must_be_whole_milliseconds(bad: object) -> None:
    rows = hours(2)
    rows[0][0] = bad
    message = refused(rows)
    assert "whole number of milliseconds" in message or "not a number" in message


def test_duplicate_rows_are_refused() -> None:
    rows = hours(4)
    rows[2] = rows[1]
    assert "duplicate open time in row(s) 2" in refused(rows)


def test_out_of_order_rows_are_refused() -> None:
    rows = hours(4)
    rows[1], rows[2] = rows[2], rows[1]
    assert "out of order in row(s) 2" in refused(rows)


def test_times_off_the_interval_grid_are_refused() -> None:
    rows = hours(3)
    rows[2][0] += 60_000
    assert "off the grid in row(s) 2" in refused(rows)


def test_weekly_candles_open_on_mondays() -> None:
    week = Interval.W1.ms
    monday_rows = [kline(MONDAY + i * week) for i in range(3)]
    times, _ = parse_klines(monday_rows, request(MONDAY, interval="1w"))
    assert len(times) == 3
    thursday_rows = [kline(T0 - 2 * 86_400_000 + i * week) for i in range(2)]  # 2024-05-30
    assert "off the grid" in refused(thursday_rows, request(0, interval="1w"))


def test_rows_outside_the_requested_range_are_refused() -> None:
    assert "outside the requested range in row(s) 0" in refused(hours(3), request(T0 + 1))
    assert "outside the requested range in row(s) 2" in refused(hours(3), request(T0, T0 + H))


def test_more_rows_than_the_limit_are_refused() -> None:
    assert "3 rows for a limit of 2" in refused(hours(3), request(limit=2))


def test_messages_name_the_request_and_cap_the_rows_they_list() -> None:
    rows = hours(10)
    for row in rows:
        row[5] = "-1"
    message = refused(rows)
    assert message.startswith("BTCUSDT 1h from 2024-06-01 00:00: negative volume")
    assert "row(s) 0, 1, 2, 3, 4 and 5 more" in message


# -- planning -------------------------------------------------------------------------


def test_a_candle_is_closed_exactly_when_its_interval_has_passed() -> None:
    times = np.array([T0, T0 + H, T0 + 2 * H], dtype=np.int64)
    assert closed_count(times, Interval.H1, T0 + 3 * H) == 3
    assert closed_count(times, Interval.H1, T0 + 3 * H - 1) == 2
    assert closed_count(times, Interval.H1, T0 + H) == 1
    assert closed_count(times, Interval.H1, T0) == 0


def test_next_start_follows_a_full_page() -> None:
    times = np.array([T0, T0 + H], dtype=np.int64)
    assert next_start(times, request(limit=2), closed=2) == T0 + 2 * H


def test_paging_stops_on_a_short_page_an_open_candle_or_the_range_end() -> None:
    times = np.array([T0, T0 + H], dtype=np.int64)
    assert next_start(times, request(limit=3), closed=2) is None  # the data has ended
    assert next_start(times, request(limit=2), closed=1) is None  # the newest candle is open
    assert next_start(times, request(end=T0 + H + 1, limit=2), closed=2) is None
    assert next_start(times, request(end=T0 + 2 * H, limit=2), closed=2) == T0 + 2 * H
    assert next_start(times[:0], request(limit=2), closed=0) is None


def test_build_page_splits_off_the_open_candle() -> None:
    page = build_page(hours(3), request(), now_ms=T0 + 2 * H + 1)
    assert page.bars.time.tolist() == [T0, T0 + H]
    assert page.bars.close.tolist() == [11, 12]
    assert page.open_bar is not None and page.open_bar.time.tolist() == [T0 + 2 * H]
    assert page.rows == 3 and page.next_start_ms is None
    page.bars.validate()


def test_build_page_of_closed_candles_has_no_open_bar() -> None:
    page = build_page(hours(3), request(limit=3), now_ms=T0 + 10 * H)
    assert len(page.bars) == 3 and page.open_bar is None
    assert page.next_start_ms == T0 + 3 * H


def test_align_up() -> None:
    assert align_up(T0, Interval.H1) == T0
    assert align_up(T0 + 1, Interval.H1) == T0 + H
    assert align_up(0, Interval.D1) == 0
    assert align_up(T0, Interval.W1) == MONDAY
    assert align_up(1, Interval.W1) == 4 * 86_400_000


# -- properties -----------------------------------------------------------------------


def serve(times: list[int], start: int, end: int | None, limit: int, now: int) -> list[list[Any]]:
    """What an exchange answers: the first ``limit`` candles opening in ``[start, end]``,
    up to the one open at ``now``."""
    chosen = [t for t in times if start <= t <= now and (end is None or t <= end)][:limit]
    return [kline(t) for t in chosen]


@st.composite
def series(draw: st.DrawFn) -> list[int]:
    """Open times of an hourly series with gaps (outages, a late listing)."""
    steps = draw(st.lists(st.integers(1, 4), min_size=0, max_size=60))
    first = T0 + draw(st.integers(0, 10)) * H
    return [first + sum(steps[:i]) * H for i in range(len(steps))]


@settings(max_examples=200, deadline=None)
@given(
    times=series(),
    limit=st.integers(1, 7),
    start=st.integers(0, 80),
    span=st.none() | st.integers(0, 80),
    now=st.integers(0, 300),
)
def test_paging_collects_every_closed_candle_once(
    times: list[int], limit: int, start: int, span: int | None, now: int
) -> None:
    start_ms = T0 + start * H
    end_ms = None if span is None else start_ms + span * H
    now_ms = T0 + now * H // 2
    got: list[int] = []
    cursor: int | None = start_ms
    for _ in range(1000):
        if cursor is None:
            break
        req = request(cursor, end_ms, limit)
        page = build_page(serve(times, cursor, end_ms, limit, now_ms), req, now_ms)
        got += page.bars.time.tolist()
        assert page.next_start_ms is None or page.next_start_ms > cursor
        cursor = page.next_start_ms
    closed = [t for t in times if t + H <= now_ms]
    assert got == [t for t in closed if t >= start_ms and (end_ms is None or t <= end_ms)]


@settings(max_examples=100, deadline=None)
@given(times=series().filter(lambda t: len(t) >= 2), data=st.data())
def test_any_reordering_or_repeat_is_refused(times: list[int], data: st.DataObject) -> None:
    rows = [kline(t) for t in times]
    i = data.draw(st.integers(0, len(rows) - 2))
    j = data.draw(st.integers(i + 1, len(rows) - 1))
    swapped = list(rows)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    refused(swapped, request(0))
    repeated = list(rows)
    repeated[j] = rows[i]
    refused(repeated, request(0))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.001, 1e6, allow_nan=False), min_size=4, max_size=4))
def test_numbers_and_numeric_strings_parse_to_the_same_values(prices: list[float]) -> None:
    o, c = prices[0], prices[1]
    h, lo = max(prices), min(prices)
    as_numbers = [[T0, o, h, lo, c, 1.0]]
    as_strings = [[str(T0), repr(o), repr(h), repr(lo), repr(c), "1.0"]]
    a = parse_klines(as_numbers, request())
    b = parse_klines(as_strings, request())
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
