"""Binance archive kline files: ms and µs, header or not, zips of one or many members, file
names, dispatch between formats, and every refusal naming its lines.

Archive files are written from the real candles in ``tests/fixtures/real/BTCUSDT-1h.csv``
and must read back to exactly the candles ``files.read_csv`` gives for that file.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinbt.collector import archive as archive_module
from coinbt.collector.archive import (
    ARCHIVE_COLUMNS,
    ARCHIVE_HEADER,
    archive_name_parts,
    is_archive_text,
    read_archive,
    read_candle_file,
)
from coinbt.collector.files import HEADER, read_csv
from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.errors import DataFormatError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = FIXTURES / "real" / "BTCUSDT-1h.csv"
COMMITTED = FIXTURES / "archive" / "BTCUSDT-1h-2026-02.zip"
NAME = "BTCUSDT-1h-2026-02"
HOUR = 3_600_000
FIELDS = ("time", "open", "high", "low", "close", "volume")

SOURCE = read_csv(REAL)


def archive_lines(bars: Bars, *, micros: bool = False, rows: slice = slice(None)) -> list[str]:
    """Candles as Binance writes them: 8 decimals, trade statistics after close_time."""
    unit = 1000 if micros else 1
    step = bars.interval.ms
    lines = []
    columns = (bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume)
    for t, o, h, lo, c, v in zip(*(col[rows].tolist() for col in columns), strict=True):
        quote = v * (o + c) / 2
        lines.append(
            f"{t * unit},{o:.8f},{h:.8f},{lo:.8f},{c:.8f},{v:.8f},{(t + step) * unit - 1},"
            f"{quote:.8f},{round(v * 10) + 1},{v / 2:.8f},{quote / 2:.8f},0"
        )
    return lines


def text_of(lines: list[str], *, header: bool = False) -> str:
    return "\n".join([ARCHIVE_HEADER] * header + lines) + "\n"


def write_text(tmp_path: Path, lines: list[str], name: str = f"{NAME}.csv", **kw: bool) -> Path:
    path = tmp_path / name
    path.write_text(text_of(lines, **kw), encoding="utf-8")
    return path


def write_zip(tmp_path: Path, members: dict[str, str], name: str = f"{NAME}.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


def assert_same(got: Bars, want: Bars) -> None:
    assert (got.symbol, got.interval, len(got)) == (want.symbol, want.interval, len(want))
    for field in FIELDS:
        assert np.array_equal(getattr(got, field), getattr(want, field)), field
    assert got.time.dtype == np.int64


def error_of(path: Path, **kw: str) -> str:
    with pytest.raises(DataFormatError) as info:
        read_archive(path, **kw)
    return str(info.value)


def with_line(index: int, line: str, n: int = 10, *, micros: bool = False) -> list[str]:
    lines = archive_lines(SOURCE, micros=micros, rows=slice(0, n))
    lines[index] = line
    return lines


def cells(index: int, *, micros: bool = False) -> list[str]:
    return archive_lines(SOURCE, micros=micros, rows=slice(index, index + 1))[0].split(",")


# --- reading good files ------------------------------------------------------------------


@pytest.mark.parametrize("micros", [False, True], ids=["ms", "us"])
@pytest.mark.parametrize("header", [False, True], ids=["bare", "header"])
def test_csv_reads_back_exactly_the_source_candles(
    tmp_path: Path, micros: bool, header: bool
) -> None:
    path = write_text(tmp_path, archive_lines(SOURCE, micros=micros), header=header)
    assert_same(read_archive(path), SOURCE)


@pytest.mark.parametrize("micros", [False, True], ids=["ms", "us"])
def test_zip_with_one_member(tmp_path: Path, micros: bool) -> None:
    text = text_of(archive_lines(SOURCE, micros=micros))
    assert_same(read_archive(write_zip(tmp_path, {f"{NAME}.csv": text})), SOURCE)


def test_zip_with_two_members_is_one_series(tmp_path: Path) -> None:
    # The later month is written first and in µs with a header: order and unit are per member.
    march = text_of(archive_lines(SOURCE, micros=True, rows=slice(1000, None)), header=True)
    february = text_of(archive_lines(SOURCE, rows=slice(0, 1000)))
    path = write_zip(tmp_path, {"BTCUSDT-1h-2026-03.csv": march, f"{NAME}.csv": february})
    assert_same(read_archive(path), SOURCE)


def test_exact_repeats_across_members_and_units_are_kept_once(tmp_path: Path) -> None:
    first = text_of(archive_lines(SOURCE, rows=slice(0, 1200)))
    second = text_of(archive_lines(SOURCE, micros=True, rows=slice(1000, None)))
    path = write_zip(tmp_path, {"a.csv": first, "b.csv": second})
    assert_same(read_archive(path), SOURCE)


def test_rows_come_back_sorted_and_deduplicated(tmp_path: Path) -> None:
    lines = archive_lines(SOURCE, rows=slice(0, 300))
    shuffled = [lines[i] for i in np.random.default_rng(7).permutation(300)] + lines[:20]
    assert_same(read_archive(write_text(tmp_path, shuffled)), SOURCE.take(slice(0, 300)))


def test_the_committed_fixture_holds_the_first_48_real_candles() -> None:
    with zipfile.ZipFile(COMMITTED) as archive:
        first_line = archive.read(f"{NAME}.csv").decode().split("\n")[0]
    assert len(first_line.split(",")[0]) == 16  # microseconds, as Binance writes from 2025
    assert_same(read_archive(COMMITTED), SOURCE.take(slice(0, 48)))
    assert_same(read_candle_file(COMMITTED), SOURCE.take(slice(0, 48)))


def test_tolerates_bom_crlf_and_trailing_blank_lines(tmp_path: Path) -> None:
    lines = archive_lines(SOURCE, rows=slice(0, 5))
    path = tmp_path / f"{NAME}.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([ARCHIVE_HEADER, *lines]) + "\r\n\r\n").encode())
    assert_same(read_archive(path), SOURCE.take(slice(0, 5)))


def test_unused_trailing_columns_need_not_be_numbers(tmp_path: Path) -> None:
    lines = [line.rsplit(",", 2)[0] + ",,x" for line in archive_lines(SOURCE, rows=slice(0, 5))]
    assert_same(read_archive(write_text(tmp_path, lines)), SOURCE.take(slice(0, 5)))


def test_weekly_candles_open_on_monday(tmp_path: Path) -> None:
    monday = 1_704_067_200_000  # 2024-01-01
    week = 7 * 24 * HOUR
    bars = Bars.from_arrays("BTCUSDT", "1w", monday + week * np.arange(4), *[[1.0] * 4] * 4)
    assert len(read_archive(write_text(tmp_path, archive_lines(bars), "BTCUSDT-1w-2024.csv"))) == 4
    thursday = Bars.from_arrays("BTCUSDT", "1w", week * np.arange(3000, 3004), *[[1.0] * 4] * 4)
    message = error_of(write_text(tmp_path, archive_lines(thursday), "BTCUSDT-1w-2027.csv"))
    assert "line 1: open time 2027-07-01 00:00 UTC is not on a 1w boundary" in message
    assert "Monday" in message


# --- names, explicit identity, dispatch --------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("BTCUSDT-1h-2024-01.zip", ("BTCUSDT", Interval.H1)),
        ("BTCUSDT-1h-2024-01.csv", ("BTCUSDT", Interval.H1)),
        ("/data/ethusdt-1w-2024-01-15.ZIP", ("ETHUSDT", Interval.W1)),
        ("SOLUSDT-15m-2025-03-02.zip", ("SOLUSDT", Interval.M15)),
        ("BTCUSDT-4h.csv", ("BTCUSDT", Interval.H4)),
        ("BTCUSDT-1h-2024-01 (1).zip", ("BTCUSDT", Interval.H1)),
        ("BTCUSDT-1M-2024-01.zip", ("BTCUSDT", None)),  # a month: not a coinbt interval
        ("BTCUSDT-3m-2024-01.zip", ("BTCUSDT", None)),
        ("BTCUSDT.zip", (None, None)),
        ("klines-2024.zip", (None, None)),
    ],
)
def test_archive_name_parts(filename: str, expected: tuple[str | None, Interval | None]) -> None:
    assert archive_name_parts(filename) == expected


def test_explicit_symbol_and_interval_win_over_the_name(tmp_path: Path) -> None:
    path = write_text(tmp_path, archive_lines(SOURCE), "ETHBTC-4h-2026-02.csv")
    assert "not on a 4h boundary" in error_of(path)  # hourly candles named 4h
    bars = read_archive(path, symbol=" btcusdt ", interval="1h")
    assert_same(bars, SOURCE)


def test_a_nameless_file_needs_explicit_identity(tmp_path: Path) -> None:
    path = write_text(tmp_path, archive_lines(SOURCE, rows=slice(0, 3)), "klines.csv")
    message = error_of(path)
    assert "klines.csv: cannot tell the symbol and interval from the file name" in message
    assert "interval from the file name" in error_of(path, symbol="BTCUSDT")
    assert_same(read_archive(path, symbol="BTCUSDT", interval="1h"), SOURCE.take(slice(0, 3)))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (ARCHIVE_HEADER, True),
        ("1704067200000,1,1,1,1,0,1704070799999,0,0,0,0,0", True),
        (HEADER, False),
        ("1704067200000,1,1,1,1,0", False),
        ("", False),
    ],
)
def test_is_archive_text(line: str, expected: bool) -> None:
    assert is_archive_text(line) is expected


def test_read_candle_file_dispatches_on_format(tmp_path: Path) -> None:
    assert_same(read_candle_file(REAL), read_csv(REAL))
    bare = write_text(tmp_path, archive_lines(SOURCE))
    assert_same(read_candle_file(bare), SOURCE)
    zipped = write_zip(tmp_path, {f"{NAME}.csv": text_of(archive_lines(SOURCE))})
    assert_same(read_candle_file(zipped), SOURCE)
    renamed = tmp_path / f"{NAME}.download"  # a zip told by its content, not its name
    renamed.write_bytes(zipped.read_bytes())
    assert_same(read_candle_file(renamed), SOURCE)


def test_read_candle_file_passes_identity_to_both_readers(tmp_path: Path) -> None:
    own = tmp_path / "mine.csv"
    own.write_text(REAL.read_text(encoding="utf-8"), encoding="utf-8")
    archive = write_text(tmp_path, archive_lines(SOURCE), "theirs.csv", header=True)
    for path in (own, archive):
        bars = read_candle_file(path, symbol="XBT", interval=Interval.H1)
        assert bars.symbol == "XBT" and np.array_equal(bars.close, SOURCE.close)


# --- refusals naming lines ---------------------------------------------------------------


@pytest.mark.parametrize("header", [False, True], ids=["bare", "header"])
def test_a_non_number_is_named_by_line(tmp_path: Path, header: bool) -> None:
    row = cells(3)
    row[2] = "abc"
    message = error_of(write_text(tmp_path, with_line(3, ",".join(row)), header=header))
    assert f"{NAME}.csv: line {4 + header}: high is not a number ('abc')" in message
    assert "nothing was read" in message


def test_a_row_with_eleven_columns(tmp_path: Path) -> None:
    message = error_of(write_text(tmp_path, with_line(6, ",".join(cells(6)[:11]))))
    assert "line 7: wrong column count (11, expected 12)" in message


def test_a_row_with_thirteen_columns(tmp_path: Path) -> None:
    message = error_of(write_text(tmp_path, with_line(2, ",".join([*cells(2), "0"]))))
    assert "line 3: wrong column count (13, expected 12)" in message


def test_high_below_low(tmp_path: Path) -> None:
    row = cells(4)
    row[2], row[3] = row[3], row[2]
    message = error_of(write_text(tmp_path, with_line(4, ",".join(row)), header=True))
    assert f"line 6: high {float(SOURCE.low[4])!r} is below max(open, close)" in message
    assert f"low {float(SOURCE.high[4])!r} is above min(open, close)" in message


def test_non_positive_and_non_finite_values(tmp_path: Path) -> None:
    zero, nan = cells(1), cells(2)
    zero[1], nan[5] = "0", "nan"
    lines = with_line(1, ",".join(zero))
    lines[2] = ",".join(nan)
    message = error_of(write_text(tmp_path, lines))
    assert "line 2: open 0 is not positive" in message
    assert "line 3: volume nan is not finite" in message


@pytest.mark.parametrize("micros", [False, True], ids=["ms", "us"])
def test_a_misaligned_open_time(tmp_path: Path, micros: bool) -> None:
    row = cells(5, micros=micros)
    row[0] = str(int(row[0]) + 60_000 * (1000 if micros else 1))
    message = error_of(write_text(tmp_path, with_line(5, ",".join(row), micros=micros)))
    assert "line 6: open time 2026-02-22 16:01 UTC is not on a 1h boundary" in message
    assert "check the interval" in message


def test_mixed_milliseconds_and_microseconds(tmp_path: Path) -> None:
    micro = ",".join(cells(6, micros=True))
    message = error_of(write_text(tmp_path, with_line(6, micro), header=True))
    assert f"line 8: open_time {SOURCE.time[6] * 1000} and close_time" in message
    assert "not both in milliseconds as on line 2" in message
    half = cells(2)
    half[6] = str((int(half[6]) + 1) * 1000 - 1)  # a µs close time on a ms line
    assert "line 3: open_time" in error_of(write_text(tmp_path, with_line(2, ",".join(half))))


def test_the_odd_unit_out_is_named_even_on_the_first_line(tmp_path: Path) -> None:
    lines = with_line(0, ",".join(cells(0)), micros=True)  # line 1 in ms, the rest in µs
    message = error_of(write_text(tmp_path, lines))
    assert "line 1: open_time" in message and "not both in microseconds as on line 2" in message
    assert "line 2:" not in message


def test_microseconds_must_be_whole_milliseconds(tmp_path: Path) -> None:
    row = cells(1, micros=True)
    row[0] = str(int(row[0]) + 1)
    message = error_of(write_text(tmp_path, with_line(1, ",".join(row), micros=True)))
    assert f"line 2: open_time {SOURCE.time[1] * 1000 + 1} µs is not a whole millisecond" in message


def test_seconds_are_refused_with_a_hint(tmp_path: Path) -> None:
    lines = archive_lines(SOURCE, rows=slice(0, 3))
    lines = [f"{t // 1000}{line[13:]}" for t, line in zip(SOURCE.time[:3], lines, strict=True)]
    message = error_of(write_text(tmp_path, lines))
    assert f"line 1: open_time {SOURCE.time[0] // 1000} is not a timestamp" in message
    assert "look like seconds" in message


def test_the_same_open_time_with_other_values(tmp_path: Path) -> None:
    lines = archive_lines(SOURCE, rows=slice(0, 10))
    changed = cells(2)
    changed[5] = "1.5"  # another volume for the candle of line 3
    lines.append(",".join(changed))
    message = error_of(write_text(tmp_path, lines))
    assert "line 11: open time 2026-02-22 13:00 UTC again, unlike line 3" in message


def test_a_clash_across_members_names_both_members(tmp_path: Path) -> None:
    changed = cells(2, micros=True)
    changed[4] = f"{SOURCE.close[2] + 0.01:.8f}"  # another close, still within high and low
    first = text_of(archive_lines(SOURCE, rows=slice(0, 5)))
    path = write_zip(tmp_path, {"a.csv": first, "b.csv": text_of([",".join(changed)])})
    message = error_of(path)
    assert f"{NAME}.zip: b.csv line 1: open time 2026-02-22 13:00 UTC again" in message
    assert "unlike a.csv line 3" in message


def test_at_most_five_lines_are_shown(tmp_path: Path) -> None:
    lines = archive_lines(SOURCE, rows=slice(0, 20))
    for i in range(3, 12):
        lines[i] = lines[i].replace(",", ";", 1)
    message = error_of(write_text(tmp_path, lines))
    assert [int(n) for n in re.findall(r"line (\d+):", message)] == [4, 5, 6, 7, 8]
    assert "and 4 more" in message


def test_a_blank_line_inside(tmp_path: Path) -> None:
    assert "line 4: empty line" in error_of(write_text(tmp_path, with_line(3, "")))


def test_an_unexpected_header(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.csv"
    path.write_text(HEADER + "\n1704067200000,1,1,1,1,0\n", encoding="utf-8")
    message = error_of(path)
    assert f"{NAME}.csv: line 1: unexpected header" in message
    assert "read_candle_file" in message


# --- empty, corrupt and missing files ----------------------------------------------------


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["zero-bytes", "blank-lines"])
def test_an_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / f"{NAME}.csv"
    path.write_text(content, encoding="utf-8")
    assert f"{NAME}.csv: the file is empty" in error_of(path)


def test_a_header_only_file(tmp_path: Path) -> None:
    path = write_text(tmp_path, [], header=True)
    assert f"{NAME}.csv: no candles, only a header" in error_of(path)


def test_an_empty_member_is_named(tmp_path: Path) -> None:
    good = text_of(archive_lines(SOURCE, rows=slice(0, 5)))
    path = write_zip(tmp_path, {"a.csv": good, "b.csv": ARCHIVE_HEADER + "\n"})
    assert f"{NAME}.zip:b.csv: no candles, only a header" in error_of(path)


@pytest.mark.parametrize("cut", [0, 30, -30], ids=["empty", "head-only", "truncated"])
def test_a_corrupt_zip(tmp_path: Path, cut: int) -> None:
    whole = write_zip(tmp_path, {f"{NAME}.csv": text_of(archive_lines(SOURCE))})
    whole.write_bytes(whole.read_bytes()[:cut])
    message = error_of(whole)
    assert f"{NAME}.zip: not a readable zip archive" in message
    assert "download it again" in message


def test_a_zip_with_a_bad_checksum(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{NAME}.csv", text_of(archive_lines(SOURCE, rows=slice(0, 5))))
    raw = path.read_bytes()
    at = raw.index(b"68129.57")
    path.write_bytes(raw[:at] + b"7" + raw[at + 1 :])  # still a valid CSV: only the CRC tells
    assert "not a readable zip archive (Bad CRC-32" in error_of(path)


def test_a_zip_without_csv(tmp_path: Path) -> None:
    path = write_zip(tmp_path, {"README.txt": "hello", "__MACOSX/._x.csv": "junk"})
    message = error_of(path)
    assert f"{NAME}.zip: the zip holds no CSV file (its files: README.txt, __MACOSX" in message
    assert "no CSV file (its files: none)" in error_of(write_zip(tmp_path, {}, "empty.zip"))


def test_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    assert "no such file" in error_of(tmp_path / f"{NAME}.zip")
    assert "is a directory" in error_of(tmp_path)
    with pytest.raises(DataFormatError, match="no such file"):
        read_candle_file(tmp_path / "gone.csv")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.csv"
    path.write_bytes(text_of(archive_lines(SOURCE, rows=slice(0, 3))).encode() + b"\xff\n")
    assert "not a UTF-8 text file" in error_of(path)


def test_the_columns_are_binance_s() -> None:
    assert len(ARCHIVE_COLUMNS) == 12 and ",".join(ARCHIVE_COLUMNS) == ARCHIVE_HEADER
    assert ARCHIVE_COLUMNS[:7] == (
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "close_time",
    )


def test_a_good_file_never_takes_the_line_by_line_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("parsed line by line")

    monkeypatch.setattr(archive_module, "_parse_slowly", refuse)
    for micros in (False, True):
        path = write_text(tmp_path, archive_lines(SOURCE, micros=micros), header=micros)
        assert_same(read_archive(path), SOURCE)


# --- property: any split, order, unit and repetition reads back the same candles ----------


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_arrangement_reads_back_the_sorted_unique_candles(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 200), label="rows")
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n), label="picks")
    parts = data.draw(st.integers(1, 3), label="members")
    members = {}
    for k in range(parts):
        picked = rows[k::parts]
        if not picked:
            continue
        micros, header = data.draw(st.booleans()), data.draw(st.booleans())
        lines = [archive_lines(SOURCE, micros=micros, rows=slice(i, i + 1))[0] for i in picked]
        members[f"part-{k}.csv"] = text_of(lines, header=header)
    with tempfile.TemporaryDirectory() as folder:
        bars = read_archive(write_zip(Path(folder), members))
    want = np.unique(rows)
    assert np.array_equal(bars.time, SOURCE.time[want])
    assert np.array_equal(bars.close, SOURCE.close[want])
    assert np.array_equal(bars.volume, SOURCE.volume[want])
