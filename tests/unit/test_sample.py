"""The bundled real-data sample: exact values, sane candles, the loader's contract.

Exactness is checked against CSV copies in ``tests/fixtures/real`` parsed with ``float()``,
the reference the build script promises to reproduce bit for bit.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from coinbt import sample
from coinbt.sample import RAW_BITS, SampleSeries, decode_prices, decode_values

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"
FULL_DAILY_COPIES = ("BTCUSDT-1d.csv", "BONKUSDT-1d.csv")  # whole files: the full history
STEP_MS = {"1d": 86_400_000, "1h": 3_600_000}
DAY_MS = 86_400_000


def read_fixture(name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Open times and the (rows, 5) value columns of a fixture, each number via ``float()``."""
    with (FIXTURES / name).open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    time = np.array([int(r[0]) for r in rows], dtype=np.int64)
    values = np.array([[float(v) for v in r[1:6]] for r in rows], dtype=np.float64)
    return time, values.reshape(-1, 5)


def columns(s: SampleSeries) -> list[npt.NDArray[np.float64]]:
    return [s.open, s.high, s.low, s.close, s.volume]


def same_bits(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype == np.float64 and np.array_equal(a.view(np.int64), b.view(np.int64))


def every_series() -> list[SampleSeries]:
    return [s for interval in ("1d", "1h") for s in sample.load_all(interval)]


@pytest.fixture(scope="module")
def all_series() -> list[SampleSeries]:
    return every_series()


# --- exactness --------------------------------------------------------------------------


@pytest.mark.parametrize("name", FULL_DAILY_COPIES)
def test_full_daily_series_round_trip_bit_for_bit(name: str) -> None:
    symbol, interval = name.removesuffix(".csv").rsplit("-", 1)
    time, values = read_fixture(name)
    got = sample.load(symbol, interval)
    assert np.array_equal(got.time, time)
    for j, column in enumerate(columns(got)):
        assert same_bits(column, values[:, j]), f"column {j}"


def test_sample_agrees_with_every_overlapping_fixture() -> None:
    checked = []
    for path in sorted(FIXTURES.glob("*.csv")):
        symbol, interval = path.stem.rsplit("-", 1)
        if (symbol, interval) not in sample.available():
            continue  # e.g. a stablecoin fixture kept for engine edge cases only
        got = sample.load(symbol, interval)
        time, values = read_fixture(path.name)
        window = (time >= got.time[0]) & (time <= got.time[-1])
        inside = (got.time >= time[window][0]) & (got.time <= time[window][-1])
        assert np.array_equal(got.time[inside], time[window]), path.name
        for j, column in enumerate(columns(got)):
            assert same_bits(column[inside], values[window, j]), f"{path.name} column {j}"
        checked.append(path.name)
    assert len(checked) >= 3, checked


def test_decoding_relative_integer_prices() -> None:
    # open 1.48/1.50, high 1.55/1.65, low 1.47/1.49, close 1.50/1.60 at scale 2
    d_open = np.array([148, 0], dtype=np.int64)  # open - previous close
    d_high = np.array([5, 5], dtype=np.int64)  # high - max(open, close)
    d_low = np.array([1, 1], dtype=np.int64)  # min(open, close) - low
    d_close = np.array([150, 10], dtype=np.int64)  # close deltas
    o, h, lo, c = decode_prices(d_open, d_high, d_low, d_close, scale=2)
    assert o.tolist() == [1.48, 1.5]
    assert h.tolist() == [1.55, 1.65]
    assert lo.tolist() == [1.47, 1.49]
    assert c.tolist() == [1.5, 1.6]


def test_raw_bits_fallback_gives_back_any_float() -> None:
    awkward = np.array([0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0])
    bits = awkward.view(np.int64).copy()
    assert same_bits(decode_values(bits, RAW_BITS), awkward)
    o, h, lo, c = decode_prices(bits, bits, bits, bits, scale=RAW_BITS)
    assert all(same_bits(x, awkward) for x in (o, h, lo, c))


@pytest.mark.parametrize(
    ("text", "integer", "scale"),
    [
        ("0.00001952", 1952, 8),
        ("68129.57", 6812957, 2),
        ("171.48901", 17148901, 5),
        ("0.35", 35, 2),  # 35 * 0.01 is 0.35000000000000003: decoding must divide
        ("14254363937690", 14254363937690, 0),
    ],
)
def test_scaled_integers_decode_like_float_of_the_text(text: str, integer: int, scale: int) -> None:
    decoded = decode_values(np.array([integer], dtype=np.int64), scale)
    assert same_bits(decoded, np.array([float(text)]))


# --- candle sanity ----------------------------------------------------------------------


def test_timestamps_sorted_unique_and_interval_aligned(all_series: list[SampleSeries]) -> None:
    for s in all_series:
        assert s.time.dtype == np.int64, s.symbol
        assert len(s.time) > 0 and bool(np.all(np.diff(s.time) > 0)), s.symbol
        assert bool(np.all(s.time % STEP_MS[s.interval] == 0)), s.symbol
        assert all(len(c) == len(s.time) for c in columns(s)), s.symbol


def test_ohlc_consistent(all_series: list[SampleSeries]) -> None:
    for s in all_series:
        assert all(c.dtype == np.float64 and np.isfinite(c).all() for c in columns(s))
        assert bool(np.all(s.high >= np.maximum(s.open, s.close))), s.symbol
        assert bool(np.all(s.low <= np.minimum(s.open, s.close))), s.symbol
        assert bool(np.all(s.low > 0)) and bool(np.all(s.volume >= 0)), s.symbol


def test_btc_and_eth_in_both_intervals() -> None:
    pairs = sample.available()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert (symbol, "1d") in pairs and (symbol, "1h") in pairs


def test_hourly_series_are_recent_two_year_windows() -> None:
    hourly = sample.load_all("1h")
    assert 10 <= len(hourly) <= 25
    newest = max(int(s.time[-1]) for s in hourly)
    for s in hourly:
        span_days = (int(s.time[-1]) - int(s.time[0])) / DAY_MS
        assert 365 <= span_days <= 731, s.symbol
        assert newest - int(s.time[-1]) <= 90 * DAY_MS, s.symbol


def test_the_file_stays_small() -> None:
    archive = files("coinbt.sample") / "data" / "sample.npz"
    assert len(archive.read_bytes()) <= 8 * 2**20


# --- loader contract --------------------------------------------------------------------


def test_available_is_sorted_and_matches_load_all(all_series: list[SampleSeries]) -> None:
    pairs = sample.available()
    assert pairs == sorted(pairs) and len(pairs) == len(set(pairs))
    assert pairs == sorted((s.symbol, s.interval) for s in all_series)
    for interval in ("1d", "1h"):
        symbols = [s.symbol for s in sample.load_all(interval)]
        assert symbols == sorted(symbols)
        assert symbols == [sym for sym, iv in pairs if iv == interval]


def test_load_defaults_to_daily_and_accepts_loose_spelling() -> None:
    daily = sample.load("BTCUSDT")
    assert daily.interval == "1d" and daily.symbol == "BTCUSDT"
    loose = sample.load("btc/usdt")
    assert loose.symbol == "BTCUSDT" and np.array_equal(loose.close, daily.close)


def test_loaded_arrays_are_fresh_copies() -> None:
    first = sample.load("ETHUSDT", "1h")
    kept = first.close.copy()
    first.close[:] = 0.0
    first.time[:] = 0
    again = sample.load("ETHUSDT", "1h")
    assert np.array_equal(again.close, kept) and again.time[0] > 0


def test_unknown_symbol_raises_key_error_with_suggestion() -> None:
    with pytest.raises(KeyError, match="BTCUSDT"):
        sample.load("BTCUSD")


def test_pair_missing_at_one_interval_names_the_other() -> None:
    pairs = sample.available()
    daily_only = next(sym for sym, _ in pairs if (sym, "1h") not in pairs)
    with pytest.raises(KeyError, match=r"is in the sample at 1d"):
        sample.load(daily_only, "1h")


def test_unknown_interval_lists_the_intervals() -> None:
    with pytest.raises(KeyError, match=r"1d, 1h"):
        sample.load("BTCUSDT", "4h")
    with pytest.raises(KeyError, match=r"1d, 1h"):
        sample.load_all("4h")


def test_provenance_names_the_source_and_the_last_candles() -> None:
    text = sample.provenance()
    assert "Binance" in text and "©" in text and "freqtrade" in text
    for interval, part in (("1d", "daily"), ("1h", "hourly")):
        last = max(int(s.time[-1]) for s in sample.load_all(interval))
        stamp = datetime.fromtimestamp(last / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        assert f"{part} part {stamp}" in text


def test_import_reads_nothing() -> None:
    code = "import coinbt.sample as s; assert s._archive.cache_info().currsize == 0; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
