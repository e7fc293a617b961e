"""Rebuild the bundled real-data sample, ``src/coinbt/sample/data/sample.npz``.

Usage (from the repository root, with the project's virtualenv)::

    .venv/bin/python scripts/build_sample.py [DATA_DIR] [--hourly-pairs 20] [--recent-days 90]

``DATA_DIR`` is the shared real data set (default ``../shared/data/real`` next to the
repository), holding ``binance_spot/1d/*.csv`` and ``binance_spot/1h/*.csv`` with the header
``timestamp_ms,open,high,low,close,volume``.

What goes in:

- ``1d``: every daily pair, whole history.
- ``1h``: the ``--hourly-pairs`` largest pairs by quote volume (sum of close * volume over
  their last two years), among the pairs whose last hourly candle is within
  ``--recent-days`` of the newest one; BTCUSDT and ETHUSDT always (when present). Each is
  trimmed to the 730 days before its last candle.

The layout is described in ``coinbt.sample``. After writing, the script reads the file back
with the package's own decoder and asserts every value equals ``float()`` of the CSV text,
bit for bit. It also writes ``PROVENANCE.md`` next to the archive.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import textwrap
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from coinbt.sample import FORMAT_VERSION, RAW_BITS, SampleArchive, SampleSeries

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "real"
DEFAULT_OUT = REPO / "src" / "coinbt" / "sample" / "data"
DAY_MS = 86_400_000
HOURLY_SPAN_DAYS = 730
ALWAYS_HOURLY = ("BTCUSDT", "ETHUSDT")
PRICE_NAMES = ("open", "high", "low", "close")
MAX_SCALE = 12
EXACT_INT = 2**53
# A fixed timestamp inside the zip makes rebuilds from the same data byte-identical.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Candles:
    """One CSV file as read: open times and float64 columns, as ``float()`` parses them."""

    symbol: str
    time: I64
    columns: F64  # shape (rows, 5): open, high, low, close, volume

    def tail(self, days: int) -> Candles:
        """The candles opening at most ``days`` days before the last one."""
        keep = self.time >= self.time[-1] - days * DAY_MS
        return Candles(self.symbol, self.time[keep], self.columns[keep])

    def quote_volume(self) -> float:
        return float(np.sum(self.columns[:, 3] * self.columns[:, 4]))


@dataclass(frozen=True, eq=False)
class Encoded:
    """One series in stored form: int64 columns plus the scales that undo them."""

    time: I64
    time_unit: int
    prices: tuple[I64, I64, I64, I64]  # open, high, low, close as the layout relates them
    price_scale: int
    volume: I64
    volume_scale: int


# --- reading ----------------------------------------------------------------------------


def read_candles(path: Path) -> Candles:
    """A candle CSV, parsing each number with ``float()`` (the exactness reference)."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        require(header == ["timestamp_ms", "open", "high", "low", "close", "volume"], str(path))
        rows = list(reader)
    time = np.array([int(r[0]) for r in rows], dtype=np.int64)
    columns = np.array([[float(v) for v in r[1:6]] for r in rows], dtype=np.float64)
    require(len(rows) > 0 and bool(np.all(np.diff(time) > 0)), f"{path}: unsorted or empty")
    return Candles(symbol_of(path), time, columns.reshape(-1, 5))


def last_timestamp(path: Path) -> int:
    """Open time of the last candle, read from the end of the file only."""
    with path.open("rb") as f:
        f.seek(max(0, f.seek(0, io.SEEK_END) - 256))
        last_line = f.read().decode().strip().splitlines()[-1]
    return int(last_line.split(",", 1)[0])


def csv_files(data: Path, interval: str) -> list[Path]:
    return sorted((data / "binance_spot" / interval).glob(f"*-{interval}.csv"))


def pick_hourly(data: Path, pairs: int, recent_days: int) -> list[Candles]:
    """The largest recent hourly pairs (see the module doc), trimmed, sorted by symbol."""
    lasts = {path: last_timestamp(path) for path in csv_files(data, "1h")}
    newest = max(lasts.values())
    recent = [
        path
        for path, last in lasts.items()
        if newest - last <= recent_days * DAY_MS or symbol_of(path) in ALWAYS_HOURLY
    ]
    print(f"1h: {len(recent)} of {len(lasts)} pairs end within {recent_days} days of the newest")
    full = {symbol_of(path): read_candles(path) for path in recent}
    trimmed = [c.tail(HOURLY_SPAN_DAYS) for c in full.values()]
    ranked = sorted(trimmed, key=lambda c: c.quote_volume(), reverse=True)
    chosen = [c for c in ranked if c.symbol in ALWAYS_HOURLY]
    chosen += [c for c in ranked if c.symbol not in ALWAYS_HOURLY][: pairs - len(chosen)]
    taken = {c.symbol for c in chosen}
    for c in ranked:
        mark = "take" if c.symbol in taken else "skip"
        print(
            f"  {mark} {c.symbol:<12} quote volume {c.quote_volume():>20,.0f} USDT over the last"
            f" {len(c.time):,} of {len(full[c.symbol].time):,} hours"
        )
    return sorted(chosen, key=lambda c: c.symbol)


def symbol_of(path: Path) -> str:
    return path.name.rsplit("-", 1)[0]


# --- encoding ---------------------------------------------------------------------------


def same_bits(a: F64, b: F64) -> bool:
    return bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


def decimal_scale(values: F64) -> int | None:
    """Smallest k with ``round(x * 10**k) / 10**k`` giving back every x bit for bit."""
    for k in range(MAX_SCALE + 1):
        power = float(10**k)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = np.round(values * power)
            if not bool(np.all(np.abs(scaled) < EXACT_INT)):
                continue
        if same_bits(scaled / power, values):
            return k
    return None


def scaled_ints(values: F64, k: int) -> I64:
    return np.round(values * float(10**k)).astype(np.int64)


def encode_prices(o: F64, h: F64, lo: F64, c: F64) -> tuple[tuple[I64, I64, I64, I64], int]:
    """The four price columns in the layout's relative form, and their shared scale."""
    k = decimal_scale(np.concatenate((o, h, lo, c)))
    if k is None:
        bits = tuple(x.view(np.int64).copy() for x in (o, h, lo, c))
        return (bits[0], bits[1], bits[2], bits[3]), RAW_BITS
    io_, ih, il, ic = (scaled_ints(x, k) for x in (o, h, lo, c))
    previous_close = np.roll(ic, 1)
    previous_close[:1] = 0
    d_open = io_ - previous_close
    d_high = ih - np.maximum(io_, ic)
    d_low = np.minimum(io_, ic) - il
    d_close = np.diff(ic, prepend=np.int64(0))
    return (d_open, d_high, d_low, d_close), k


def encode_values(values: F64) -> tuple[I64, int]:
    k = decimal_scale(values)
    if k is None:
        return values.view(np.int64).copy(), RAW_BITS
    return scaled_ints(values, k), k


def encode(candles: Candles) -> Encoded:
    unit = math.gcd(*(int(t) for t in candles.time))
    steps = candles.time // unit
    o, h, lo, c, v = candles.columns.T
    prices, price_scale = encode_prices(o, h, lo, c)
    volume, volume_scale = encode_values(np.ascontiguousarray(v))
    return Encoded(
        np.diff(steps, prepend=np.int64(0)), unit, prices, price_scale, volume, volume_scale
    )


def split_planes(values: I64) -> npt.NDArray[np.uint8]:
    """The ``(8, n)`` byte planes of little-endian int64 values; zlib packs them far better."""
    return values.astype("<i8").view(np.uint8).reshape(-1, 8).T.copy()


def interval_members(interval: str, series: list[Candles]) -> dict[str, npt.NDArray[Any]]:
    """The archive members of one interval (names as ``coinbt.sample`` reads them)."""
    encoded = [encode(c) for c in series]
    lengths = [len(c.time) for c in series]
    columns = {
        "time": [e.time for e in encoded],
        **{name: [e.prices[j] for e in encoded] for j, name in enumerate(PRICE_NAMES)},
        "volume": [e.volume for e in encoded],
    }
    members: dict[str, npt.NDArray[Any]] = {
        "symbols": np.array([c.symbol for c in series]),
        "offsets": np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        "time_unit": np.array([e.time_unit for e in encoded], dtype=np.int64),
        "price_scale": np.array([e.price_scale for e in encoded], dtype=np.int64),
        "volume_scale": np.array([e.volume_scale for e in encoded], dtype=np.int64),
    }
    for name, parts in columns.items():
        members[name] = split_planes(np.concatenate(parts))
    for c, e in zip(series, encoded, strict=True):
        print(
            f"  {interval} {c.symbol:<12} {len(c.time):>6} rows  {utc(c.time[0])} .. "
            f"{utc(c.time[-1])}  price k={e.price_scale}  volume k={e.volume_scale}"
        )
    return {f"{interval}.{name}": array for name, array in members.items()}


def write_npz(path: Path, members: dict[str, npt.NDArray[Any]]) -> None:
    """Like ``np.savez_compressed`` (``np.load`` reads it), but deterministic and level 9."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in members.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            archive.writestr(info, buffer.getvalue(), zipfile.ZIP_DEFLATED, compresslevel=9)


# --- checking ---------------------------------------------------------------------------


def require(condition: bool, message: str) -> None:
    """An assertion that ``python -O`` does not strip: the build must never skip its checks."""
    if not condition:
        raise AssertionError(message)


def verify(path: Path, parts: dict[str, list[Candles]]) -> None:
    """Read ``path`` back with the package's decoder; every value must match bit for bit."""
    archive = SampleArchive(np.load(path, allow_pickle=False))
    require(archive.intervals == tuple(parts), f"intervals {archive.intervals}")
    for interval, series in parts.items():
        require(archive.symbols(interval) == tuple(c.symbol for c in series), interval)
        for i, expected in enumerate(series):
            assert_same(archive.series(expected.symbol, interval, i), expected)
    rows = sum(len(c.time) for series in parts.values() for c in series)
    print(f"verified: {rows:,} candles decode bit for bit to the CSV values")


def assert_same(got: SampleSeries, expected: Candles) -> None:
    where = f"{got.symbol} {got.interval}"
    require(np.array_equal(got.time, expected.time), f"{where}: time differs")
    columns = (got.open, got.high, got.low, got.close, got.volume)
    for j, column in enumerate(columns):
        reference = np.ascontiguousarray(expected.columns[:, j])
        require(same_bits(column, reference), f"{where}: column {j} differs")


# --- provenance -------------------------------------------------------------------------


def utc(ms: int | np.int64) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def provenance(parts: dict[str, list[Candles]], size: int) -> str:
    """The text of PROVENANCE.md for this build."""
    daily, hourly = parts["1d"], parts["1h"]

    def first(series: list[Candles]) -> str:
        return utc(min(int(c.time[0]) for c in series))

    def last(series: list[Candles]) -> str:
        return utc(max(int(c.time[-1]) for c in series))

    hourly_names = textwrap.fill(", ".join(c.symbol for c in hourly), 88, subsequent_indent="  ")
    return f"""\
Real Binance spot candles (USDT pairs): {len(daily)} pairs daily up to {last(daily)} UTC, \
{len(hourly)} pairs hourly up to {last(hourly)} UTC. © Binance, Binance API terms.

# Provenance of the bundled sample

## Source

- Market data of the **Binance** spot exchange (USDT-quoted pairs). The candles are
  © Binance and are redistributed under the Binance API terms; coinbt did not make them.
- They were downloaded by other people with the freqtrade bot (`freqtrade download-data`,
  exchange `binance`, spot) and committed to public GitHub repositories; the data files of
  those repositories were taken from stored snapshots (repository list and commits in the
  shared data set's `SOURCES.md`).
- Per pair and interval, source files were merged only when they overlapped and agreed
  (at most 1% of the shared candles differing); a file with no verified overlap was left out,
  so a reused ticker is never spliced into another asset's history.
- Where sources disagree on a candle, the later download wins (the candle as Binance
  revised it). Missing bars (exchange outages) stay missing; nothing was filled in.
- Checked: no duplicate times, no high < low, high >= max(open, close), low <= min(open, close),
  no NaN, no non-positive price. Hourly bars rebuild the daily bars exactly on 99.999% of days.

## What is included

- `1d`: all {len(daily)} daily pairs of the shared data set, each with its whole history
  ({first(daily)} .. {last(daily)} UTC overall; pairs start and end at different dates).
- `1h`: {len(hourly)} pairs, the largest by quote volume (close * volume) over their last
  two years among pairs with recent hourly data, each trimmed to the 730 days before its
  last candle ({first(hourly)} .. {last(hourly)} UTC overall):
  {hourly_names}.
- Last candle (open time, UTC): daily part {last(daily)}, hourly part {last(hourly)}.
- Columns: open time (UTC ms), open, high, low, close (USDT), volume (base asset). Every
  value is exactly the float64 of Binance's decimal text. File size: {size:,} bytes.
- Rebuild: `python scripts/build_sample.py` (needs the shared data set).
"""


# --- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="shared data")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--hourly-pairs", type=int, default=20, help="hourly pairs to take")
    parser.add_argument("--recent-days", type=int, default=90, help="hourly recency window")
    args = parser.parse_args(argv)
    data = args.data.resolve()

    daily = [read_candles(path) for path in csv_files(data, "1d")]
    hourly = pick_hourly(data, args.hourly_pairs, args.recent_days)
    parts = {"1d": daily, "1h": hourly}

    members: dict[str, npt.NDArray[Any]] = {
        "format": np.array(FORMAT_VERSION, dtype=np.int64),
        "intervals": np.array(list(parts)),
    }
    for interval, series in parts.items():
        members.update(interval_members(interval, series))
    npz = args.out / "sample.npz"
    write_npz(npz, members)
    verify(npz, parts)
    size = npz.stat().st_size
    (args.out / "PROVENANCE.md").write_text(provenance(parts, size), encoding="utf-8")
    print(f"1d: {len(daily)} pairs; 1h: {len(hourly)} pairs: {', '.join(c.symbol for c in hourly)}")
    print(f"wrote {npz} ({size:,} bytes, {size / 2**20:.2f} MiB) and PROVENANCE.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
