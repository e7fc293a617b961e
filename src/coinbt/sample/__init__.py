"""A bundled sample of real Binance spot candles, so coinbt works out of the box.

The sample ships inside the package (``coinbt/sample/data/sample.npz``, a few MB) and needs
no network and no set-up::

    from coinbt import sample

    sample.available()                  # [("1INCHUSDT", "1d"), ..., ("BTCUSDT", "1h"), ...]
    btc = sample.load("BTCUSDT")        # daily candles, the whole history in the sample
    hourly = sample.load("ETHUSDT", "1h")
    btc.close[-1], btc.time[-1]         # float64 prices, open times in UTC milliseconds
    every_day = sample.load_all("1d")   # one SampleSeries per pair, sorted by symbol
    print(sample.provenance())          # where the data comes from, what is included

What is inside (details and exact dates in :func:`provenance`):

- ``"1d"``: daily candles of every USDT pair of the shared data set, each with all the
  history it has (pairs span from six months to several years, and end at different dates).
- ``"1h"``: hourly candles of the largest recent pairs (BTCUSDT and ETHUSDT among them),
  each trimmed to the last two years before its last candle.

Every value is exactly the float64 that Binance's decimal text parses to (the file stores
scaled integers, and decoding gives back the same bits). Candles are Binance spot market
data, © Binance, used under the Binance API terms.

Nothing is read at import time: the archive is read on first use and then kept in memory.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
import numpy.typing as npt

__all__ = ["SampleSeries", "available", "load", "load_all", "provenance"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

FORMAT_VERSION = 1
"""Layout version of ``sample.npz``; ``scripts/build_sample.py`` writes the same number."""

RAW_BITS = -1
"""Scale marking a series stored as raw float64 bit patterns (no exact decimal scale)."""

_DATA = "data"
_ARCHIVE = "sample.npz"
_PROVENANCE = "PROVENANCE.md"
_PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True, eq=False)  # eq=False: comparing numpy columns with == is ambiguous
class SampleSeries:
    """The candles of one pair at one interval, as parallel columns.

    ``time`` is the candle open time in UTC milliseconds (sorted, unique, a whole multiple
    of the interval); the other columns are float64. ``volume`` is in the base asset
    (BTC for BTCUSDT); prices are in USDT. Gaps left by exchange outages stay missing.
    The arrays are fresh copies: change them freely.
    """

    symbol: str
    interval: str
    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64


def available() -> list[tuple[str, str]]:
    """Every ``(symbol, interval)`` in the sample, sorted (``("BTCUSDT", "1d")`` …)."""
    return sorted((symbol, interval) for interval in _intervals() for symbol in _symbols(interval))


def load(symbol: str, interval: str = "1d") -> SampleSeries:
    """The candles of ``symbol`` (``"BTCUSDT"``; ``"btc/usdt"`` works too) at ``interval``.

    Raises :class:`KeyError` naming close matches when the sample lacks that pair or
    interval; :func:`available` lists what there is.
    """
    name = symbol.strip().upper().replace("/", "")
    if interval not in _intervals() or name not in _symbols(interval):
        raise KeyError(_missing_message(symbol, interval))
    return _decode(name, interval, _symbols(interval).index(name))


def load_all(interval: str) -> list[SampleSeries]:
    """Every pair of the sample at ``interval`` (``"1d"`` or ``"1h"``), sorted by symbol.

    Raises :class:`KeyError` listing the sample's intervals for any other interval.
    """
    if interval not in _intervals():
        raise KeyError(_missing_message(None, interval))
    return [_decode(name, interval, i) for i, name in enumerate(_symbols(interval))]


def provenance() -> str:
    """The provenance note (Markdown): source, licence, pairs, date ranges, last candles."""
    return (files(__name__) / _DATA / _PROVENANCE).read_text(encoding="utf-8")


# --- reading the archive --------------------------------------------------------------------
#
# Layout of sample.npz (format 1), per interval ``iv``:
#   iv.symbols        str[n]    sorted symbols
#   iv.offsets        int64[n+1] row range of series i: offsets[i]:offsets[i+1]
#   iv.time_unit      int64[n]  time = cumsum(time column) * time_unit   (unit = gcd of times)
#   iv.price_scale    int64[n]  k: prices = integers / 10**k, or RAW_BITS
#   iv.volume_scale   int64[n]  k: volume = integers / 10**k, or RAW_BITS
#   iv.time, iv.open, iv.high, iv.low, iv.close, iv.volume
#                     uint8[8, rows]  int64 columns, byte planes split so zlib packs them well
# Integer price columns are relative, so they stay small:  close as deltas of close,
# open - previous close, high - max(open, close), min(open, close) - low.


@lru_cache(maxsize=1)
def _archive() -> SampleArchive:
    """The bundled archive, opened once; read into memory so it works from a zipped install."""
    blob = (files(__name__) / _DATA / _ARCHIVE).read_bytes()
    return SampleArchive(np.load(io.BytesIO(blob), allow_pickle=False))


def _intervals() -> tuple[str, ...]:
    return _archive().intervals


def _symbols(interval: str) -> tuple[str, ...]:
    return _archive().symbols(interval)


def _decode(symbol: str, interval: str, i: int) -> SampleSeries:
    return _archive().series(symbol, interval, i)


class SampleArchive:
    """Decoder of one opened ``sample.npz`` (the build script checks its output with it).

    Decoded columns are cached on the instance; every series it hands out is a fresh copy.
    """

    def __init__(self, npz: np.lib.npyio.NpzFile) -> None:
        version = int(npz["format"])
        if version != FORMAT_VERSION:
            raise RuntimeError(
                f"sample archive has format {version}, coinbt reads {FORMAT_VERSION}"
            )
        self._npz = npz
        self.intervals: tuple[str, ...] = tuple(str(iv) for iv in npz["intervals"])
        self._symbols: dict[str, tuple[str, ...]] = {}
        self._arrays: dict[str, I64] = {}

    def symbols(self, interval: str) -> tuple[str, ...]:
        """The sorted symbols stored at ``interval``."""
        if interval not in self._symbols:
            names = self._npz[f"{interval}.symbols"]
            self._symbols[interval] = tuple(str(s) for s in names)
        return self._symbols[interval]

    def series(self, symbol: str, interval: str, i: int) -> SampleSeries:
        """Series number ``i`` of ``interval`` (``symbol`` is its name), decoded."""
        offsets = self._table(interval, "offsets")
        rows = slice(int(offsets[i]), int(offsets[i + 1]))
        unit = self._table(interval, "time_unit")[i]
        time = np.cumsum(self._column(interval, "time")[rows]) * unit
        d_open, d_high, d_low, d_close = (self._column(interval, name)[rows] for name in _PRICES)
        scale = int(self._table(interval, "price_scale")[i])
        o, h, lo, c = decode_prices(d_open, d_high, d_low, d_close, scale)
        volume_scale = int(self._table(interval, "volume_scale")[i])
        volume = decode_values(self._column(interval, "volume")[rows], volume_scale)
        return SampleSeries(symbol, interval, time, o, h, lo, c, volume)

    def _table(self, interval: str, name: str) -> I64:
        """A small per-series int64 array (``offsets``, ``time_unit`` …)."""
        key = f"{interval}.{name}"
        if key not in self._arrays:
            self._arrays[key] = np.asarray(self._npz[key], dtype=np.int64)
        return self._arrays[key]

    def _column(self, interval: str, name: str) -> I64:
        """A stored int64 column of ``interval``: every series, back to back."""
        key = f"{interval}.{name}"
        if key not in self._arrays:
            self._arrays[key] = join_planes(self._npz[key])
        return self._arrays[key]


def join_planes(planes: npt.NDArray[np.uint8]) -> I64:
    """Little-endian int64 values from their ``(8, n)`` byte planes (undoes the split)."""
    rows = np.ascontiguousarray(planes.T)
    return rows.view(np.dtype("<i8")).reshape(-1).astype(np.int64, copy=False)


def decode_values(stored: I64, scale: int) -> F64:
    """Float64 values from integers scaled by ``10**scale`` (or raw bits): a new array."""
    if scale == RAW_BITS:
        return stored.view(np.float64).copy()
    # Exact: |integer| < 2**53 converts exactly, and IEEE division rounds correctly, so the
    # quotient is the float nearest integer / 10**scale, the same as float() of the decimal.
    return stored.astype(np.float64) / float(10**scale)


def decode_prices(
    d_open: I64, d_high: I64, d_low: I64, d_close: I64, scale: int
) -> tuple[F64, F64, F64, F64]:
    """Open, high, low, close from the relative integers of the layout (or raw bits)."""
    if scale == RAW_BITS:
        o, h, lo, c = (decode_values(x, RAW_BITS) for x in (d_open, d_high, d_low, d_close))
        return o, h, lo, c
    close = np.cumsum(d_close)
    previous_close = np.roll(close, 1)
    previous_close[:1] = 0
    open_ = d_open + previous_close
    high = d_high + np.maximum(open_, close)
    low = np.minimum(open_, close) - d_low
    o, h, lo, c = (decode_values(x, scale) for x in (open_, high, low, close))
    return o, h, lo, c


def _missing_message(symbol: str | None, interval: str) -> str:
    intervals = _intervals()
    if interval not in intervals:
        return f"the sample has no {interval!r} candles; intervals: {', '.join(intervals)}"
    known = _symbols(interval)
    wanted = (symbol or "").strip().upper().replace("/", "")
    close = difflib.get_close_matches(wanted, known, n=5, cutoff=0.6)
    other = [iv for iv in intervals if wanted in _symbols(iv)]
    hint = f"did you mean {', '.join(close)}?" if close else "see coinbt.sample.available()"
    if other:
        hint += f" ({wanted} is in the sample at {', '.join(other)})"
    return f"no {interval!r} candles for {symbol!r} in the sample; {hint}"
