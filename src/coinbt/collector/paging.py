"""Paging through an exchange's candles, without any I/O.

One request asks for at most ``limit`` candles opening in ``[start_ms, end_ms]``. Its reply
(Binance's klines: a list of 12-field lists, numbers or numeric strings; ccxt's unified
OHLCV: 6-field lists) is parsed into columns with numpy and validated as a whole: a reply
with the wrong shape, non-numbers, inconsistent prices, duplicate or out-of-order times,
times off the interval grid or outside the requested range is refused with
:class:`ExchangeDataError`, which is temporary: the caller fetches the page again, and no
row of a refused reply is ever passed on as a candle.

The planner then says where the next request starts, and which trailing candles are still
open (``open_time + interval > now``): those are never returned as final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import numpy.typing as npt

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.timeutil import format_ms
from coinbt.errors import ExchangeDataError

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

#: Fields every row must have: open time, open, high, low, close, volume (Binance adds 6).
MIN_FIELDS = 6
_MAX_EXACT = 2**53  # larger times are not exact in float64
_MONDAY_MS = 4 * 86_400_000  # weekly candles open on Monday 00:00 UTC; 1970-01-05 was one
_MAX_NAMED = 5
_HINT = "the exchange answered unusable data; nothing of it was kept and the page is refetched"


@dataclass(frozen=True)
class PageRequest:
    """One klines request: up to ``limit`` candles opening in ``[start_ms, end_ms]``."""

    symbol: str
    interval: Interval
    start_ms: int
    end_ms: int | None
    limit: int

    def describe(self) -> str:
        """``BTCUSDT 1h from 2024-01-01 00:00`` for messages."""
        return f"{self.symbol} {self.interval.value} from {format_ms(self.start_ms)}"


@dataclass(frozen=True, eq=False)
class Page:
    """One validated reply: its closed candles, the still-open one, and what comes next."""

    request: PageRequest
    #: The closed candles, oldest first: final, safe to store.
    bars: Bars
    #: The still-open last candle (one row), never final; ``None`` when all are closed.
    open_bar: Bars | None
    #: Rows the exchange returned, including an open candle.
    rows: int
    #: Where the next request starts; ``None`` when the range or the data has ended.
    next_start_ms: int | None


def parse_klines(raw: object, request: PageRequest) -> tuple[I64, F64]:
    """Open times and an ``(n, 5)`` array of open, high, low, close, volume from a reply.

    Raises :class:`ExchangeDataError` unless the whole reply is well-formed and consistent.
    """
    if not isinstance(raw, list):
        _refuse(request, f"expected a list of candles, got {_kind(raw)}")
    if not raw:
        return np.empty(0, dtype=np.int64), np.empty((0, 5))
    if len(raw) > request.limit:
        _refuse(request, f"{len(raw)} rows for a limit of {request.limit}")
    try:
        cells = np.array(raw, dtype=object)
    except ValueError:  # numpy refuses some ragged nestings outright
        _refuse(request, "rows of inconsistent shape")
    if cells.ndim != 2 or cells.shape[1] < MIN_FIELDS:
        _refuse(request, f"rows must be lists of at least {MIN_FIELDS} fields of equal length")
    try:
        numbers = cells[:, :MIN_FIELDS].astype(np.float64)
    except (TypeError, ValueError):
        _refuse(request, "a field is not a number")
    times = _times(numbers[:, 0], request)
    values = np.ascontiguousarray(numbers[:, 1:])
    _check_values(values, request)
    _check_times(times, request)
    return times, values


def closed_count(times: I64, interval: Interval, now_ms: int) -> int:
    """How many leading candles are closed: those with ``open_time + interval <= now``."""
    return int(np.searchsorted(times, now_ms - interval.ms, side="right"))


def next_start(times: I64, request: PageRequest, closed: int) -> int | None:
    """Where the page after this one starts, or ``None`` when nothing more can come.

    The data has ended when the reply is short of the limit or holds a still-open candle
    (it is the newest there is); the range has ended when the next open is past ``end_ms``.
    """
    if len(times) < request.limit or closed < len(times):
        return None
    following = int(times[-1]) + request.interval.ms
    if request.end_ms is not None and following > request.end_ms:
        return None
    return following


def build_page(raw: object, request: PageRequest, now_ms: int) -> Page:
    """Parse, validate and plan one reply; candles open at ``now_ms`` are split off."""
    times, values = parse_klines(raw, request)
    closed = closed_count(times, request.interval, now_ms)
    bars = _bars(request, times, values, slice(0, closed))
    open_bar = (
        _bars(request, times, values, slice(closed, closed + 1)) if closed < len(times) else None
    )
    return Page(request, bars, open_bar, len(times), next_start(times, request, closed))


def align_up(ms: int, interval: Interval) -> int:
    """The first open time on the interval's grid at or after ``ms``."""
    anchor = _MONDAY_MS if interval is Interval.W1 else 0
    return ms + (-(ms - anchor)) % interval.ms


def _bars(request: PageRequest, times: I64, values: F64, rows: slice) -> Bars:
    v = values[rows]
    return Bars(
        request.symbol, request.interval, times[rows], v[:, 0], v[:, 1], v[:, 2], v[:, 3], v[:, 4]
    )


def _times(column: F64, request: PageRequest) -> I64:
    finite = np.isfinite(column)
    whole = finite & (column == np.floor(np.where(finite, column, 0.0)))
    valid = whole & (column >= 0) & (column < _MAX_EXACT)
    _refuse_rows(request, ~valid, "open time is not a whole number of milliseconds")
    return column.astype(np.int64)


def _check_values(values: F64, request: PageRequest) -> None:
    o, h, lo, c, vol = values.T
    _refuse_rows(request, ~np.logical_and.reduce(np.isfinite(values), axis=1), "non-finite value")
    _refuse_rows(request, (o <= 0) | (lo <= 0) | (c <= 0), "non-positive price")
    _refuse_rows(request, h < np.maximum(o, c), "high below max(open, close)")
    _refuse_rows(request, lo > np.minimum(o, c), "low above min(open, close)")
    _refuse_rows(request, vol < 0, "negative volume")


def _check_times(times: I64, request: PageRequest) -> None:
    step = np.diff(times)
    duplicate = np.concatenate(([False], step == 0))
    _refuse_rows(request, duplicate, "duplicate open time")
    _refuse_rows(request, np.concatenate(([False], step < 0)), "open time out of order")
    anchor = _MONDAY_MS if request.interval is Interval.W1 else 0
    off_grid = np.not_equal((times - anchor) % request.interval.ms, 0)
    _refuse_rows(request, off_grid, "open time off the grid")
    outside = times < request.start_ms
    if request.end_ms is not None:
        outside |= times > request.end_ms
    _refuse_rows(request, outside, "open time outside the requested range")


def _refuse_rows(request: PageRequest, bad: Mask, what: str) -> None:
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    shown = ", ".join(str(r) for r in rows[:_MAX_NAMED])
    more = f" and {len(rows) - _MAX_NAMED} more" if len(rows) > _MAX_NAMED else ""
    _refuse(request, f"{what} in row(s) {shown}{more}")


def _refuse(request: PageRequest, what: str) -> NoReturn:
    raise ExchangeDataError(f"{request.describe()}: {what}", hint=_HINT)


def _kind(raw: object) -> str:
    if isinstance(raw, str):
        return f"text {raw[:40]!r}"
    return type(raw).__name__


__all__ = [
    "MIN_FIELDS",
    "Page",
    "PageRequest",
    "align_up",
    "build_page",
    "closed_count",
    "next_start",
    "parse_klines",
]
