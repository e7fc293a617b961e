"""Binance public data archive klines (data.binance.vision): ``BTCUSDT-1h-2024-01.zip``.

A zip holding one CSV (or that CSV alone) with the twelve columns of :data:`ARCHIVE_HEADER`,
with or without that header line. Times are UTC ms, except spot files from 2025 on, which
use µs: the unit is told per file by magnitude (1e14 or more is µs) and converted to ms
exactly. The volume kept is the base-asset ``volume``; later columns are not read. The pair
and interval come from the name ``SYMBOL-INTERVAL-YYYY-MM(-DD).zip|csv`` unless given.
A zip's CSV members are read in name order as one series sorted by open time: a candle
repeated exactly is kept once, the same open time with other values is refused. Open times
must fall on the interval (weekly candles open on Monday). Every problem raises
:class:`~coinbt.errors.DataFormatError` naming the file (and member) and the first five
offending 1-based lines, with a hint; nothing is half-read.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

import numpy as np
import numpy.typing as npt

from coinbt.collector.files import is_number, parse_cells, read_csv
from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.domain.timeutil import format_ms
from coinbt.errors import DataFormatError

ARCHIVE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_asset_volume,"
    "number_of_trades,taker_buy_base_volume,taker_buy_quote_volume,ignore"
)
ARCHIVE_COLUMNS: tuple[str, ...] = tuple(ARCHIVE_HEADER.split(","))

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Check = tuple[Mask, Callable[[int], str], str]  # (bad rows, what is wrong with row i, hint)
PathLike = str | os.PathLike[str]

_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9]+)-(?P<interval>[0-9]+[smhdwM])(?:-.*)?$")
_SUPPORTED = frozenset(i.value for i in Interval)
_TIME_NAMES = frozenset({"open_time", "open time", "opentime", "timestamp", "time"})
_WIDTH = len(ARCHIVE_COLUMNS)
_USED = 7  # open_time .. close_time; the trade statistics after them are never kept
_MIN_TIME = 1e11  # a ms timestamp before 1973: seconds, not a Binance time
_MICROS = 1e14  # ms timestamps stay below this until the year 5138; µs ones are above
_MAX_EXACT = float(2**53)  # larger timestamps are not exact in float64
_MONDAY_MS = 4 * 86_400_000  # Binance weekly candles open on Monday; 1970-01-05 was one
_NOT_TIME = "is not a timestamp in whole ms or µs"
_CLASH_HINT = "the same open time with other values: keep one of them; nothing was read"
_SECONDS_HINT = "times must be ms or µs since 1970 (these look like seconds)"
_MAX_SHOWN = 5
_ZIP_MAGIC = b"PK\x03\x04"
_SNIFF_BYTES = 4096
_FIX_HINT = "fix or remove those lines; nothing was read"
_EXPECT = f"expected Binance kline lines of 12 columns ({ARCHIVE_HEADER}); the header is optional"
_UNIT_HINT = "one file uses one time unit: 13-digit milliseconds or 16-digit microseconds"
_ALIGN_HINT = (
    "open times must fall on the interval (weekly candles on Monday 00:00 UTC): check the "
    "interval; a few Binance files of 2017-2018 hold such candles from exchange outages"
)


@dataclass(frozen=True)
class _Table:
    """The candles of one CSV member: open times in ms, OHLCV, and their line numbers."""

    name: str
    time: I64
    values: F64
    line: I64


def read_archive(
    path: PathLike, *, symbol: str | None = None, interval: Interval | str | None = None
) -> Bars:
    """The candles of one archive file (``.zip`` or ``.csv``) as validated :class:`Bars`.

    ``symbol`` and ``interval`` default to those in the file name
    (``BTCUSDT-1h-2024-01.zip``). Raises :class:`DataFormatError` naming the bad lines;
    nothing is returned unless the whole file is good.
    """
    source = Path(path)
    members = _members(source)
    sym, ivl = _resolve(source.name, symbol, interval)
    tables = [_parse_member(label, name, text, ivl) for label, name, text in members]
    time, values = _merge(source.name, tables)
    return Bars.from_arrays(sym, ivl, time, *(values[:, j] for j in range(5)))


def read_candle_file(
    path: PathLike, *, symbol: str | None = None, interval: Interval | str | None = None
) -> Bars:
    """The candles of a Binance archive file or of a CSV in coinbt's own format.

    A ``.zip`` (by name or content) is an archive; otherwise the first line decides: twelve
    columns is archive CSV (:func:`read_archive`), anything else goes to
    :func:`coinbt.collector.files.read_csv` (``timestamp_ms,open,high,low,close,volume``).
    """
    source = Path(path)
    head = _read_bytes(source, limit=_SNIFF_BYTES)
    first_line = head.decode("utf-8", errors="replace").removeprefix("\ufeff").split("\n")[0]
    zipped = source.suffix.lower() == ".zip" or head.startswith(_ZIP_MAGIC)
    if zipped or is_archive_text(first_line):
        return read_archive(source, symbol=symbol, interval=interval)
    return read_csv(source, symbol=symbol, interval=interval)


def is_archive_text(first_line: str) -> bool:
    """True when a file's first line (its header or first candle) has the twelve columns
    of a Binance archive line; coinbt's own CSV has six."""
    return first_line.count(",") == _WIDTH - 1


def archive_name_parts(filename: str) -> tuple[str | None, Interval | None]:
    """Symbol and interval from ``SYMBOL-INTERVAL[-YYYY-MM[-DD]].zip|csv`` (anything may
    follow the interval after a ``-``, like a ``(1)`` a browser adds to a second download).

    Either is ``None`` when the name does not tell it; an interval coinbt does not support
    (``3m``, ``1M``) is ``None`` too. The interval is case-sensitive: ``1M`` is a month.
    """
    stem = PurePath(filename).name
    if stem.lower().endswith((".zip", ".csv")):
        stem = stem[:-4]
    match = _NAME.match(stem)
    if match is None:
        return None, None
    spelled = match["interval"]
    return match["symbol"].upper(), Interval(spelled) if spelled in _SUPPORTED else None


def _resolve(
    filename: str, symbol: str | None, interval: Interval | str | None
) -> tuple[str, Interval]:
    named_symbol, named_interval = archive_name_parts(filename)
    sym = symbol.strip().upper() if symbol and symbol.strip() else named_symbol
    ivl = Interval.parse(interval) if interval else named_interval
    if sym is None or ivl is None:
        missing = " and ".join(w for w, v in (("symbol", sym), ("interval", ivl)) if v is None)
        raise DataFormatError(
            f"{filename}: cannot tell the {missing} from the file name",
            hint="pass --symbol/--interval or keep Binance's file name SYMBOL-INTERVAL-"
            f"YYYY-MM.zip (e.g. BTCUSDT-1h-2024-01.zip); intervals: {', '.join(Interval)}",
            field="symbol" if sym is None else "interval",
        )
    return sym, ivl


def _members(source: Path) -> list[tuple[str, str, str]]:
    """(label for messages, member name, text) of each CSV in the file, in name order."""
    raw = _read_bytes(source)
    if source.suffix.lower() != ".zip" and not raw.startswith(_ZIP_MAGIC):
        return [(source.name, source.name, _decode(raw, source.name))]
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = sorted(i.filename for i in archive.infolist() if _is_csv_member(i))
            if not names:
                held = ", ".join(archive.namelist()[:_MAX_SHOWN]) or "none"
                no_csv = f"{source.name}: the zip holds no CSV file (its files: {held})"
                raise DataFormatError(no_csv, hint=_EXPECT)
            texts = [(n, archive.read(n)) for n in names]
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DataFormatError(
            f"{source.name}: not a readable zip archive ({exc})",
            hint="the file is corrupt or truncated: download it again and compare it with "
            "the .CHECKSUM file published beside it",
        ) from None
    return [(f"{source.name}:{n}", n, _decode(data, f"{source.name}:{n}")) for n, data in texts]


def _is_csv_member(info: zipfile.ZipInfo) -> bool:
    member = PurePosixPath(info.filename)
    macos_junk = member.name.startswith("._") or "__MACOSX" in member.parts
    return not info.is_dir() and member.suffix.lower() == ".csv" and not macos_junk


def _read_bytes(path: Path, limit: int = -1) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: is a directory", hint="give a file") from None
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read it ({exc.strerror})") from None


def _decode(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{label}: not a UTF-8 text file (bad byte at offset {exc.start})", hint=_EXPECT
        ) from None


def _parse_member(label: str, name: str, text: str, interval: Interval) -> _Table:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataFormatError(f"{label}: the file is empty", hint=_EXPECT)
    first = 2 if _is_header(lines[0], label) else 1  # the 1-based line of the first candle
    if first > len(lines):
        raise DataFormatError(f"{label}: no candles, only a header", hint=_EXPECT)
    commas = text.count(",") - (lines[0].count(",") if first == 2 else 0)
    values = _parse_numbers(lines[first - 1 :], commas, label, first)
    time = _times_ms(values, label, first)
    ohlcv = np.ascontiguousarray(values[:, 1:6])
    _refuse(label, first, _candle_checks(time, ohlcv, interval))
    return _Table(name, time, ohlcv, np.arange(len(time), dtype=np.int64) + first)


def _is_header(line: str, label: str) -> bool:
    cells = [c.strip().lower() for c in line.split(",")]
    if is_number(cells[0]):
        return False
    if len(cells) == _WIDTH and cells[0] in _TIME_NAMES and cells[1:6] == [*ARCHIVE_COLUMNS[1:6]]:
        return True
    own = "; coinbt's own six-column CSV is read by read_candle_file" if len(cells) == 6 else ""
    raise DataFormatError(f"{label}: line 1: unexpected header {line!r}", hint=_EXPECT + own)


def _parse_numbers(body: list[str], commas: int, label: str, first: int) -> F64:
    try:
        values = np.loadtxt(
            body, delimiter=",", dtype=np.float64, ndmin=2, comments=None, usecols=range(_USED)
        )
    except ValueError:
        return _parse_slowly(body, label, first)
    # loadtxt skips blank lines and, with usecols, ignores extra or missing trailing
    # columns; the comma count catches a line of the wrong width.
    if values.shape != (len(body), _USED) or commas != (_WIDTH - 1) * len(body):
        return _parse_slowly(body, label, first)
    return values


def _parse_slowly(body: list[str], label: str, first: int) -> F64:
    values = np.empty((len(body), _USED), dtype=np.float64)
    problems: list[tuple[str, str]] = []
    for i, line in enumerate(body):
        problem = _parse_line(line, values[i])
        if problem:
            problems.append((f"line {i + first}", problem))
    _raise(label, problems, len(problems), _FIX_HINT)
    return values


def _parse_line(line: str, out: F64) -> str | None:
    return parse_cells(line, ARCHIVE_COLUMNS, _WIDTH, out[:_USED])


def _times_ms(values: F64, label: str, first: int) -> I64:
    """Open times in ms, after checking both time columns and that the file uses one unit."""
    opened, closed = values[:, 0], values[:, 6]
    times = values[:, [0, 6]]
    good = np.isfinite(times) & (times == np.floor(times))
    good &= (times >= _MIN_TIME) & (times < _MAX_EXACT)
    seconds = _SECONDS_HINT if np.any(np.abs(times) < _MIN_TIME) else ""
    ok = good.all(axis=1)
    # The unit most rows use is the file's, so one odd line is named rather than all others.
    micros = bool(np.count_nonzero(opened[ok] >= _MICROS) * 2 > np.count_nonzero(ok))
    ref = int(np.argmax(ok & ((opened >= _MICROS) == micros)))
    mixed = ok & np.any((times >= _MICROS) != micros, axis=1)
    partial = ok & ~mixed & micros & (np.fmod(opened, 1000.0) != 0)
    unit = f"{'microseconds' if micros else 'milliseconds'} as on line {ref + first}"
    mix = f"open_time {{o}} and close_time {{c}} are not both in {unit}"
    checks: list[Check] = [
        (~good[:, 0], _say(f"open_time {{x}} {_NOT_TIME}", x=opened), seconds),
        (~good[:, 1], _say(f"close_time {{x}} {_NOT_TIME}", x=closed), seconds),
        (mixed, _say(mix, o=opened, c=closed), _UNIT_HINT),
        (partial, _say("open_time {x} µs is not a whole millisecond", x=opened), ""),
    ]
    _refuse(label, first, checks)
    time = opened.astype(np.int64)
    return time // 1000 if micros else time


def _candle_checks(time: I64, v: F64, interval: Interval) -> list[Check]:
    finite = np.isfinite(v)
    ok: Mask = np.logical_and.reduce(finite, axis=1)
    top, bottom = np.maximum(v[:, 0], v[:, 3]), np.minimum(v[:, 0], v[:, 3])
    rules = [  # (column of v, bad rows, what is wrong)
        *((j, ~finite[:, j], "is not finite") for j in range(5)),
        *((j, ok & (v[:, j] <= 0), "is not positive") for j in (0, 2, 3)),
        (1, ok & (v[:, 1] < top), "is below max(open, close)"),
        (2, ok & (v[:, 2] > bottom), "is above min(open, close)"),
        (4, ok & (v[:, 4] < 0), "is negative"),
    ]
    names = ARCHIVE_COLUMNS[1:6]
    checks: list[Check] = [
        (bad, _say(f"{names[j]} {{x}} {what}", x=v[:, j]), "") for j, bad, what in rules
    ]
    anchor = _MONDAY_MS if interval is Interval.W1 else 0
    unaligned = (time - anchor) % interval.ms != 0

    def say(i: int) -> str:
        return f"open time {format_ms(int(time[i]))} UTC is not on a {interval} boundary"

    return [*checks, (unaligned, say, _ALIGN_HINT)]


def _merge(source: str, tables: list[_Table]) -> tuple[I64, F64]:
    """All members' candles sorted by open time, exact repeats dropped, clashes refused."""
    time = np.concatenate([t.time for t in tables])
    values = np.concatenate([t.values for t in tables])
    order = np.argsort(time, kind="stable")
    time, values = time[order], values[order]
    same = time[1:] == time[:-1]
    repeat = same & np.all(values[1:] == values[:-1], axis=1)
    clash = (np.flatnonzero(same & ~repeat) + 1).tolist()
    if clash:
        where = _where(tables, order)
        problems = [
            (where(i), f"open time {format_ms(int(time[i]))} UTC again, unlike {where(i - 1)}")
            for i in clash[:_MAX_SHOWN]
        ]
        _raise(source, problems, len(clash), _CLASH_HINT)
    keep = np.ones(len(time), dtype=bool)
    keep[1:] = ~repeat
    return time[keep], values[keep]


def _where(tables: list[_Table], order: I64) -> Callable[[int], str]:
    """Names the line (and member, when there are several) of sorted row ``i``."""
    member = np.concatenate([np.full(len(t.time), k) for k, t in enumerate(tables)])[order]
    line = np.concatenate([t.line for t in tables])[order]
    if len(tables) == 1:
        return lambda i: f"line {line[i]}"
    return lambda i: f"{tables[member[i]].name} line {line[i]}"


def _refuse(label: str, first: int, checks: list[Check]) -> None:
    bad = np.zeros(len(checks[0][0]), dtype=bool)
    for mask, _, _ in checks:
        bad |= mask
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    problems = [
        (f"line {int(i) + first}", ", ".join(say(int(i)) for mask, say, _ in checks if mask[i]))
        for i in rows[:_MAX_SHOWN]
    ]
    hints = dict.fromkeys(hint for mask, _, hint in checks if hint and mask.any())
    _raise(label, problems, len(rows), "; ".join([_FIX_HINT, *hints]))


def _say(template: str, **columns: F64) -> Callable[[int], str]:
    """What is wrong with row ``i``: ``template`` filled with the row's ``columns``."""
    return lambda i: template.format(**{key: _num(x[i]) for key, x in columns.items()})


def _num(x: float | np.float64) -> str:
    value = float(x)
    return str(int(value)) if value.is_integer() and abs(value) < _MAX_EXACT else repr(value)


def _raise(source: str, problems: list[tuple[str, str]], total: int, hint: str) -> None:
    if not problems:
        return
    shown = "; ".join(f"{where}: {what}" for where, what in problems[:_MAX_SHOWN])
    more = f"; and {total - _MAX_SHOWN} more" if total > _MAX_SHOWN else ""
    raise DataFormatError(f"{source}: {shown}{more}", hint=hint)


__all__ = [
    "ARCHIVE_COLUMNS",
    "ARCHIVE_HEADER",
    "archive_name_parts",
    "is_archive_text",
    "read_archive",
    "read_candle_file",
]
