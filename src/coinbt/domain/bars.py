"""Columnar candles: :class:`Bars` for one pair, :class:`BarsBatch` for many."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from coinbt.domain.interval import Interval
from coinbt.domain.timeutil import format_ms
from coinbt.errors import DataFormatError, DataRangeError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_MAX_NAMED_ROWS = 5


@dataclass(frozen=True, eq=False)
class Bars:
    """The candles of one pair, as parallel float64 columns keyed by open time (UTC ms).

    Build one with :meth:`from_arrays`, which validates the candles; the constructor trusts
    its input.
    """

    symbol: str
    interval: Interval
    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64 = field(repr=False)

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        interval: Interval | str,
        time: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike | None = None,
    ) -> Bars:
        """Validated candles; raises :class:`DataFormatError` naming the offending rows."""
        t = np.ascontiguousarray(time, dtype=np.int64)
        o, h, lo, c = (np.ascontiguousarray(x, dtype=np.float64) for x in (open, high, low, close))
        vol = np.zeros(len(t)) if volume is None else np.ascontiguousarray(volume, np.float64)
        bars = cls(symbol, Interval.parse(interval), t, o, h, lo, c, vol)
        bars.validate()
        return bars

    def __len__(self) -> int:
        return len(self.time)

    def validate(self) -> None:
        """Check shapes, finiteness, OHLC consistency and strictly increasing times."""
        n = len(self.time)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise DataFormatError(f"{self.symbol}: column {name} has a different length")
        bad = ~np.isfinite(self.open) | ~np.isfinite(self.high)
        bad |= ~np.isfinite(self.low) | ~np.isfinite(self.close) | ~np.isfinite(self.volume)
        _refuse(self.symbol, bad, "non-finite value")
        _refuse(self.symbol, (self.open <= 0) | (self.low <= 0), "non-positive price")
        top = np.maximum(self.open, self.close)
        bottom = np.minimum(self.open, self.close)
        _refuse(self.symbol, (self.high < top) | (self.low > bottom), "high/low inconsistent")
        _refuse(self.symbol, self.volume < 0, "negative volume")
        if n > 1:
            order = np.zeros(n, dtype=bool)
            order[1:] = np.diff(self.time) <= 0
            _refuse(self.symbol, order, "time not strictly increasing")

    def slice_time(self, start: int | None = None, end: int | None = None) -> Bars:
        """The candles with open time in ``[start, end]`` (ms, both inclusive)."""
        if start is not None and end is not None and start > end:
            raise DataRangeError("start is after end", hint="swap --start and --end")
        lo = 0 if start is None else int(np.searchsorted(self.time, start, "left"))
        hi = len(self) if end is None else int(np.searchsorted(self.time, end, "right"))
        if hi <= lo:
            raise DataRangeError(
                f"{self.symbol}: no candles in the requested range",
                hint=f"the data covers {_span(self)}",
            )
        return self.take(slice(lo, hi))

    def take(self, rows: slice) -> Bars:
        """A view of a contiguous block of rows."""
        return Bars(
            self.symbol,
            self.interval,
            self.time[rows],
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
        )


@dataclass(frozen=True, eq=False)
class BarsBatch:
    """Candles of many pairs, concatenated column-wise; pair ``i`` is rows
    ``offsets[i]:offsets[i+1]``. Pairs may differ in length and listing date."""

    symbols: tuple[str, ...]
    interval: Interval
    offsets: I64
    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64 = field(repr=False)

    @classmethod
    def from_bars(cls, items: Sequence[Bars]) -> BarsBatch:
        """Concatenate pairs of one interval (validated on construction of each ``Bars``)."""
        if not items:
            raise DataRangeError("no pairs given", hint="pass at least one pair")
        intervals = {b.interval for b in items}
        if len(intervals) > 1:
            raise DataFormatError("pairs of different intervals cannot share a batch")
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in items])
        cols = {
            name: np.concatenate([getattr(b, name) for b in items])
            for name in ("time", "open", "high", "low", "close", "volume")
        }
        return cls(tuple(b.symbol for b in items), items[0].interval, offsets, **cols)

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[Bars]:
        return (self.pair(i) for i in range(len(self)))

    def pair(self, i: int) -> Bars:
        """The candles of pair ``i`` as a view."""
        rows = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        whole = Bars(
            self.symbols[i],
            self.interval,
            self.time,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
        )
        return whole.take(rows)

    @property
    def nbytes(self) -> int:
        """Memory held by the candle columns."""
        return sum(
            a.nbytes for a in (self.time, self.open, self.high, self.low, self.close, self.volume)
        )


def _refuse(symbol: str, bad: npt.NDArray[np.bool_], what: str) -> None:
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    shown = ", ".join(str(r) for r in rows[:_MAX_NAMED_ROWS])
    more = f" and {len(rows) - _MAX_NAMED_ROWS} more" if len(rows) > _MAX_NAMED_ROWS else ""
    raise DataFormatError(
        f"{symbol}: {what} in row(s) {shown}{more}",
        hint="fix or drop those candles; nothing was used",
    )


def _span(bars: Bars) -> str:
    if len(bars) == 0:
        return "no candles at all"
    return f"{format_ms(int(bars.time[0]))} .. {format_ms(int(bars.time[-1]))}"
