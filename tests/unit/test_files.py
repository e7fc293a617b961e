"""Candle CSV files: reading, naming the bad lines, identity from the name, round trips."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from coinbt.collector.files import (
    HEADER,
    csv_lines,
    name_parts,
    parse_csv,
    read_csv,
    write_csv,
)
from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.errors import DataFormatError, InputError

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
HOUR = 3_600_000
DAY = 24 * HOUR
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def good_rows(n: int = 10, step: int = HOUR) -> list[str]:
    rows = []
    for i in range(n):
        o = 100.0 + i
        c = o + 0.5
        rows.append(f"{T0 + i * step},{o},{c + 1},{o - 1},{c},{10 + i}")
    return rows


def write_file(tmp_path: Path, rows: list[str], name: str = "BTCUSDT-1h.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def read_error(tmp_path: Path, rows: list[str], name: str = "BTCUSDT-1h.csv") -> DataFormatError:
    path = write_file(tmp_path, rows, name)
    with pytest.raises(DataFormatError) as info:
        read_csv(path)
    return info.value


def with_row(index: int, line: str, n: int = 10) -> list[str]:
    rows = good_rows(n)
    rows[index] = line
    return rows


# --- reading good files ------------------------------------------------------------------


def test_reads_a_good_file(tmp_path: Path) -> None:
    bars = read_csv(write_file(tmp_path, good_rows(10)))
    assert isinstance(bars, Bars)
    assert (bars.symbol, bars.interval, len(bars)) == ("BTCUSDT", Interval.H1, 10)
    assert bars.time.dtype == np.int64
    assert bars.time[0] == T0 and bars.time[-1] == T0 + 9 * HOUR
    assert bars.open[3] == 103.0 and bars.high[3] == 104.5
    assert bars.low[3] == 102.0 and bars.close[3] == 103.5 and bars.volume[3] == 13.0


def test_reads_the_real_fixture() -> None:
    path = FIXTURES / "real" / "BTCUSDT-1h.csv"
    assert path.exists(), f"missing fixture {path}"
    bars = read_csv(path)
    assert bars.symbol == "BTCUSDT" and bars.interval is Interval.H1
    assert len(bars) > 1000
    assert np.all(np.diff(bars.time) > 0)
    assert np.all(bars.time % HOUR == 0)


def test_tolerates_bom_crlf_trailing_blank_lines_and_spaces(tmp_path: Path) -> None:
    rows = [r.replace(",", ", ") for r in good_rows(5)]
    text = "\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n\r\n\n"
    path = tmp_path / "ETHUSDT-1h.csv"
    path.write_bytes(text.encode("utf-8"))
    bars = read_csv(path)
    assert len(bars) == 5 and bars.symbol == "ETHUSDT"


def test_accepts_header_aliases_and_case(tmp_path: Path) -> None:
    bars = parse_csv(
        "Timestamp,Open,High,Low,Close,Volume\n" + "\n".join(good_rows(3)),
        symbol="X",
        interval="1h",
    )
    assert len(bars) == 3


def test_gaps_are_allowed(tmp_path: Path) -> None:
    rows = good_rows(10)
    del rows[4:6]
    assert len(read_csv(write_file(tmp_path, rows))) == 8


def test_weekly_candles_open_on_monday(tmp_path: Path) -> None:
    week = 7 * DAY
    bars = read_csv(write_file(tmp_path, good_rows(4, step=week), "BTCUSDT-1w.csv"))
    assert len(bars) == 4
    shifted = [
        r.replace(str(T0 + i * week), str(T0 + DAY + i * week), 1)
        for i, r in enumerate(good_rows(4, step=week))
    ]
    err = read_error(tmp_path, shifted, "BTCUSDT-1w.csv")
    assert "line 2: timestamp" in err.message and "not aligned to 1w" in err.message


def test_a_large_file_reads_fast_enough_to_be_vectorised(tmp_path: Path) -> None:
    # Not a timing assertion: 35k rows just have to work through the fast path.
    bars = read_csv(write_file(tmp_path, good_rows(35_000)))
    assert len(bars) == 35_000


# --- symbol and interval -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTCUSDT-1h.csv", ("BTCUSDT", Interval.H1)),
        ("ethusdt-1d.csv", ("ETHUSDT", Interval.D1)),
        ("1000SATSUSDT-15m.CSV", ("1000SATSUSDT", Interval.M15)),
        ("BTCUSDT-1h-2024-01.csv", ("BTCUSDT", Interval.H1)),
        ("/some/dir/SOLUSDT-1w.csv", ("SOLUSDT", Interval.W1)),
        ("BTCUSDT.csv", (None, None)),
        ("BTCUSDT-daily.csv", (None, None)),
        ("candles.csv", (None, None)),
    ],
)
def test_name_parts(name: str, expected: tuple[str | None, Interval | None]) -> None:
    assert name_parts(name) == expected


def test_explicit_symbol_and_interval_win_over_the_name(tmp_path: Path) -> None:
    path = write_file(tmp_path, good_rows(5, step=DAY), "BTCUSDT-1h.csv")
    bars = read_csv(path, symbol="ethusdt", interval="1d")
    assert (bars.symbol, bars.interval) == ("ETHUSDT", Interval.D1)


def test_flags_name_a_file_without_a_pattern(tmp_path: Path) -> None:
    path = write_file(tmp_path, good_rows(5), "candles.csv")
    bars = read_csv(path, symbol="BTCUSDT", interval=Interval.H1)
    assert (bars.symbol, bars.interval) == ("BTCUSDT", Interval.H1)


@pytest.mark.parametrize(
    ("name", "symbol", "interval", "missing"),
    [
        ("candles.csv", None, None, "symbol and interval"),
        ("candles.csv", "BTCUSDT", None, "interval"),
        ("candles.csv", None, "1h", "symbol"),
    ],
)
def test_no_identity_says_to_pass_flags_or_rename(
    tmp_path: Path, name: str, symbol: str | None, interval: str | None, missing: str
) -> None:
    path = write_file(tmp_path, good_rows(5), name)
    with pytest.raises(DataFormatError) as info:
        read_csv(path, symbol=symbol, interval=interval)
    assert f"cannot tell the {missing}" in info.value.message
    assert "--symbol" in info.value.hint and "--interval" in info.value.hint
    assert "rename" in info.value.hint


def test_an_unknown_explicit_interval_is_bad_input(tmp_path: Path) -> None:
    path = write_file(tmp_path, good_rows(5))
    with pytest.raises(InputError, match="unknown interval"):
        read_csv(path, interval="2h")


# --- whole-file problems -----------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "BTCUSDT-1h.csv"
    with pytest.raises(DataFormatError) as info:
        read_csv(path)
    assert str(path) in info.value.message and "no such file" in info.value.message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="directory"):
        read_csv(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1h.csv"
    path.write_text("")
    with pytest.raises(DataFormatError, match="empty") as info:
        read_csv(path)
    assert HEADER in info.value.hint


def test_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no candles"):
        read_csv(write_file(tmp_path, []))


def test_missing_header(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1h.csv"
    path.write_text("\n".join(good_rows(3)) + "\n")
    with pytest.raises(DataFormatError, match="line 1: missing header"):
        read_csv(path)


def test_wrong_header(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1h.csv"
    path.write_text("time,o,h,l,c,v\n" + "\n".join(good_rows(3)) + "\n")
    with pytest.raises(DataFormatError, match="line 1: unexpected header") as info:
        read_csv(path)
    assert HEADER in info.value.hint


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1h.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFormatError, match="not a UTF-8 text file"):
        read_csv(path)


# --- bad lines, named by line number (the header is line 1) -------------------------------


@pytest.mark.parametrize(
    ("index", "line", "expected"),
    [
        (15, f"{T0 + 15 * HOUR},115,116.5,114,abc,25", "line 17: close is not a number ('abc')"),
        (0, f"{T0},100,101.5,99,100.5", "line 2: wrong column count (5, expected 6)"),
        (3, f"{T0 + 3 * HOUR},103,104.5,102,103.5,13,7", "line 5: wrong column count (7"),
        (4, f"{T0 + 4 * HOUR},104,,103,104.5,14", "line 6: high is not a number ('')"),
        (2, f"x{T0},102,103.5,101,102.5,12", "line 4: timestamp_ms is not a number"),
        (5, f"{T0 + 5 * HOUR},105,106.5,104,105.5,1_5", "line 7: volume is not a number ('1_5')"),
        (6, "", "line 8: empty line"),
    ],
)
def test_unparseable_lines_are_named(tmp_path: Path, index: int, line: str, expected: str) -> None:
    err = read_error(tmp_path, with_row(index, line, n=20))
    assert err.message.startswith("BTCUSDT-1h.csv: ")
    assert expected in err.message
    assert "nothing was read" in err.hint


@pytest.mark.parametrize(
    ("index", "line", "expected"),
    [
        (2, f"{T0 + 2 * HOUR},102,nan,101,102.5,12", "line 4: high is not finite (nan)"),
        (3, f"{T0 + 3 * HOUR},103,104.5,102,inf,13", "line 5: close is not finite (inf)"),
        (
            4,
            f"{T0 + 4 * HOUR},104,104.2,103,104.5,14",
            "line 6: high 104.2 is below max(open, close) 104.5",
        ),
        (
            5,
            f"{T0 + 5 * HOUR},105,106.5,105.2,105.5,15",
            "line 7: low 105.2 is above min(open, close) 105",
        ),
        (6, f"{T0 + 6 * HOUR},106,107.5,105,106.5,-1", "line 8: volume is negative (-1)"),
        (7, f"{T0 + 7 * HOUR},0,107.5,0,106.5,1", "line 9: open is not positive (0)"),
        (
            8,
            f"{T0 + 8 * HOUR + 1},108,109.5,107,108.5,18",
            "line 10: timestamp 1704096000001 is not aligned to 1h",
        ),
        (8, f"{T0 + 8 * HOUR}.5,108,109.5,107,108.5,18", "line 10: timestamp is not a whole"),
        (8, "1e20,108,109.5,107,108.5,18", "line 10: timestamp is out of range (1e+20)"),
        (
            8,
            f"{T0 + 7 * HOUR},108,109.5,107,108.5,18",
            "line 10: duplicate timestamp 1704092400000 (same as line 9)",
        ),
        (
            8,
            f"{T0 + 2 * HOUR},108,109.5,107,108.5,18",
            "line 10: timestamp 1704074400000 is before the previous line's (1704092400000)",
        ),
    ],
)
def test_bad_values_are_named(tmp_path: Path, index: int, line: str, expected: str) -> None:
    err = read_error(tmp_path, with_row(index, line))
    assert expected in err.message, err.message
    assert len(re.findall(r"line \d+: ", err.message)) == 1, err.message


def test_one_line_with_several_problems_lists_them_together(tmp_path: Path) -> None:
    err = read_error(tmp_path, with_row(2, f"{T0 + 2 * HOUR + 5},102,101,103,102.5,-3"))
    assert "line 4: " in err.message
    for part in ("below max(open, close)", "above min(open, close)", "negative", "aligned"):
        assert part in err.message


def test_at_most_five_lines_then_and_n_more(tmp_path: Path) -> None:
    rows = good_rows(20)
    for i in (3, 5, 7, 9, 11, 13, 15, 17):
        rows[i] = rows[i].rsplit(",", 1)[0] + ",oops"
    err = read_error(tmp_path, rows)
    assert "line 5: volume" in err.message and "line 13: volume" in err.message
    assert "line 15:" not in err.message
    assert err.message.endswith("and 3 more")


def test_at_most_five_bad_values_then_and_n_more(tmp_path: Path) -> None:
    rows = [r.rsplit(",", 1)[0] + ",-1" for r in good_rows(12)]
    err = read_error(tmp_path, rows)
    assert err.message.count("volume is negative") == 5
    assert "line 2:" in err.message and "line 6:" in err.message
    assert err.message.endswith("and 7 more")


def test_blank_line_inside_the_data_is_named(tmp_path: Path) -> None:
    rows = good_rows(6)
    rows.insert(3, "   ")
    err = read_error(tmp_path, rows)
    assert "line 5: empty line" in err.message


def test_seconds_instead_of_milliseconds_gets_a_hint(tmp_path: Path) -> None:
    rows = [f"{(T0 + i * HOUR) // 1000},1,2,0.5,1.5,3" for i in range(5)]
    err = read_error(tmp_path, rows)
    assert "look like seconds" in err.hint


def test_newest_first_gets_a_sorting_hint(tmp_path: Path) -> None:
    err = read_error(tmp_path, list(reversed(good_rows(5))))
    assert "line 3: timestamp" in err.message and "before the previous" in err.message
    assert "oldest first" in err.hint


# --- writing -----------------------------------------------------------------------------


def random_bars(n: int = 500, seed: int = 7) -> Bars:
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-8, 6, n)
    close = rng.random(n) * scale + 1e-9
    open_ = close * (1 + rng.normal(0, 0.01, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) / 100)
    low = np.minimum(open_, close) * (1 - rng.random(n) / 100)
    volume = rng.random(n) * 10.0 ** rng.integers(-3, 12, n)
    volume[::50] = 0.0
    time = T0 + np.arange(n, dtype=np.int64) * HOUR
    return Bars.from_arrays("BTCUSDT", "1h", time, open_, high, low, close, volume)


def assert_same(a: Bars, b: Bars) -> None:
    assert (a.symbol, a.interval) == (b.symbol, b.interval)
    for col in ("time", "open", "high", "low", "close", "volume"):
        left, right = getattr(a, col), getattr(b, col)
        assert left.dtype == right.dtype
        assert np.array_equal(left, right), col  # bit-exact, not approximately


def test_round_trip_through_a_file_is_exact(tmp_path: Path) -> None:
    bars = random_bars()
    path = tmp_path / "BTCUSDT-1h.csv"
    write_csv(bars, path)
    assert_same(bars, read_csv(path))


def test_round_trip_through_a_stream_is_exact() -> None:
    bars = random_bars(seed=11)
    stream = io.StringIO()
    write_csv(bars, stream)
    assert_same(bars, parse_csv(stream.getvalue(), symbol="BTCUSDT", interval="1h"))


def test_written_lines_use_shortest_round_trip_numbers() -> None:
    time = [T0, T0 + HOUR]
    bars = Bars.from_arrays(
        "BTCUSDT",
        "1h",
        time,
        [42000.01, 0.1],
        [42001.5, 0.3],
        [41999.0, 0.1],
        [42000.5, 0.2],
        [1e-05, 12.0],
    )
    lines = list(csv_lines(bars))
    assert lines[0] == HEADER + "\n"
    assert lines[1] == f"{T0},42000.01,42001.5,41999,42000.5,1e-05\n"
    assert lines[2] == f"{T0 + HOUR},0.1,0.3,0.1,0.2,12\n"


def test_real_fixture_writes_back_byte_for_byte_equal_values(tmp_path: Path) -> None:
    path = FIXTURES / "real" / "BTCUSDT-1h.csv"
    assert path.exists(), f"missing fixture {path}"
    bars = read_csv(path)
    out = tmp_path / "BTCUSDT-1h.csv"
    write_csv(bars, out)
    assert_same(bars, read_csv(out))
