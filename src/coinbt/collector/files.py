"""Candle files in the import format: ``timestamp_ms,open,high,low,close,volume``.

One header line, then one candle per line keyed by its open time (UTC milliseconds),
oldest first. A file named ``SYMBOL-INTERVAL.csv`` (``BTCUSDT-1h.csv``) names its pair and
interval; explicit values win over the name. Reading is vectorised (``np.loadtxt``); only
when that fails is the file parsed line by line to name the offending lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import TextIO

import numpy as np
import numpy.typing as npt

from coinbt.domain.bars import Bars
from coinbt.domain.interval import Interval
from coinbt.errors import DataFormatError

COLUMNS: tuple[str, ...] = ("timestamp_ms", "open", "high", "low", "close", "volume")
HEADER = ",".join(COLUMNS)

F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Check = tuple[Mask, Callable[[int], str]]
Problem = tuple[int, str]  # (1-based line number, what is wrong)

_TIME_NAMES = frozenset({"timestamp_ms", "timestamp", "time", "open_time"})
_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9]+)-(?P<interval>1m|5m|15m|30m|1h|4h|1d|1w)(-.*)?$")
_MAX_SHOWN = 5
_FIRST_LINE = 2  # body row 0 is line 2: the header is line 1
_MAX_EXACT = float(2**53)  # larger timestamps are not exact in float64
_SECONDS_LIMIT = 1e11  # millisecond timestamps since 1973 exceed this; seconds never will
_MONDAY_MS = 4 * 86_400_000  # Binance weekly candles open on Monday; 1970-01-05 was one
_FIX_HINT = "fix or remove those lines; nothing was read"


def read_csv(
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    interval: Interval | str | None = None,
) -> Bars:
    """The candles of a CSV file; raises :class:`DataFormatError` naming bad lines."""
    source = Path(path)
    text = _read_text(source)
    sym, ivl = resolve_identity(source.name, symbol, interval)
    return parse_csv(text, symbol=sym, interval=ivl, source=source.name)


def parse_csv(text: str, *, symbol: str, interval: Interval | str, source: str = "<csv>") -> Bars:
    """The candles of CSV ``text``; ``source`` names it in error messages."""
    ivl = Interval.parse(interval)
    lines = text.removeprefix("\ufeff").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    _check_header(lines, source)
    values = _parse_numbers(lines[1:], source)
    _check_values(values, ivl, source)
    times = values[:, 0].astype(np.int64)
    return Bars.from_arrays(symbol, ivl, times, *(values[:, j] for j in range(1, 6)))


def name_parts(filename: str) -> tuple[str | None, Interval | None]:
    """Symbol and interval from a ``SYMBOL-INTERVAL.csv`` file name, else ``None``s."""
    stem = PurePath(filename).name
    if stem.lower().endswith(".csv"):
        stem = stem[:-4]
    match = _NAME.match(stem)
    if match is None:
        return None, None
    return match["symbol"].upper(), Interval(match["interval"])


def resolve_identity(
    filename: str, symbol: str | None, interval: Interval | str | None
) -> tuple[str, Interval]:
    """Explicit symbol and interval, else those of the file name; raises if neither."""
    named_symbol, named_interval = name_parts(filename)
    sym = symbol.strip().upper() if symbol and symbol.strip() else named_symbol
    ivl = Interval.parse(interval) if interval else named_interval
    if sym is None or ivl is None:
        missing = " and ".join(w for w, v in (("symbol", sym), ("interval", ivl)) if v is None)
        raise DataFormatError(
            f"{filename}: cannot tell the {missing} from the file name",
            hint="pass --symbol/--interval or rename the file SYMBOL-INTERVAL.csv "
            "(e.g. BTCUSDT-1h.csv)",
            field="symbol" if sym is None else "interval",
        )
    return sym, ivl


def write_csv(bars: Bars, target: str | os.PathLike[str] | TextIO) -> None:
    """Write ``bars`` in the import format; floats in shortest round-trip form."""
    if isinstance(target, str | os.PathLike):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(csv_lines(bars))
    else:
        target.writelines(csv_lines(bars))


def csv_lines(bars: Bars) -> Iterator[str]:
    """The header and one line per candle, each ending in a newline; numbers in their
    shortest exact form (``3850`` rather than ``3850.0``, as exchanges write them)."""
    yield HEADER + "\n"
    columns = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    for t, *values in zip(bars.time.tolist(), *(col.tolist() for col in columns), strict=True):
        yield f"{t}," + ",".join(_num(v) for v in values) + "\n"


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: is a directory", hint="give a CSV file") from None
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{path.name}: not a UTF-8 text file (bad byte at offset {exc.start})",
            hint=f"expected a CSV with the header {HEADER}",
        ) from None


def _check_header(lines: list[str], source: str) -> None:
    expect = f"the first line must be the header {HEADER}, then one candle per line"
    if not lines:
        raise DataFormatError(f"{source}: the file is empty", hint=expect)
    cells = [c.strip().lower() for c in lines[0].split(",")]
    if is_number(cells[0]):
        raise DataFormatError(f"{source}: line 1: missing header", hint=expect)
    if len(cells) != len(COLUMNS) or cells[0] not in _TIME_NAMES or cells[1:] != [*COLUMNS[1:]]:
        raise DataFormatError(f"{source}: line 1: unexpected header {lines[0]!r}", hint=expect)
    if len(lines) == 1:
        raise DataFormatError(f"{source}: no candles, only a header", hint=expect)


def _parse_numbers(body: list[str], source: str) -> F64:
    try:
        values = np.loadtxt(body, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return _parse_slowly(body, source)
    if values.shape != (len(body), len(COLUMNS)):  # blank lines skipped, or a column short
        return _parse_slowly(body, source)
    return values


def _parse_slowly(body: list[str], source: str) -> F64:
    values = np.empty((len(body), len(COLUMNS)), dtype=np.float64)
    problems: list[Problem] = []
    for i, line in enumerate(body):
        problem = _parse_line(line, values[i])
        if problem:
            problems.append((i + _FIRST_LINE, problem))
    _raise_problems(source, problems, len(problems), _FIX_HINT)
    return values


def _parse_line(line: str, out: F64) -> str | None:
    return parse_cells(line, COLUMNS, len(COLUMNS), out)


def parse_cells(line: str, names: tuple[str, ...], width: int, out: F64) -> str | None:
    """Fill ``out`` with the first ``len(out)`` numbers of a CSV line of ``width`` cells
    named ``names``; what is wrong with the line, or ``None``."""
    if not line.strip():
        return "empty line"
    cells = line.split(",")
    if len(cells) != width:
        return f"wrong column count ({len(cells)}, expected {width})"
    for j, cell in enumerate(cells[: len(out)]):
        if not is_number(cell):
            return f"{names[j]} is not a number ({cell.strip()!r})"
        out[j] = float(cell)
    return None


def is_number(text: str) -> bool:
    """True when ``text`` is a number both ``float()`` and ``np.loadtxt`` read."""
    if "_" in text:  # Python's float() takes 1_000, np.loadtxt does not
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_values(values: F64, interval: Interval, source: str) -> None:
    checks = _value_checks(values, interval)
    bad = np.zeros(len(values), dtype=bool)
    for mask, _ in checks:
        bad |= mask
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    problems = [
        (int(i) + _FIRST_LINE, ", ".join(say(int(i)) for mask, say in checks if mask[i]))
        for i in rows[:_MAX_SHOWN]
    ]
    _raise_problems(source, problems, len(rows), _value_hint(values))


def _value_checks(v: F64, interval: Interval) -> list[Check]:
    finite = np.isfinite(v)
    ok: Mask = np.logical_and.reduce(finite, axis=1)
    checks: list[Check] = [
        (~finite[:, j], _say(v, j, "{name} is not finite ({x})")) for j in range(len(COLUMNS))
    ]
    t = np.where(ok, v[:, 0], 0.0)
    whole, in_range = t == np.floor(t), np.abs(t) < _MAX_EXACT
    t_ok = ok & whole & in_range
    checks.append((ok & ~whole, _say(v, 0, "timestamp is not a whole number of ms ({x})")))
    checks.append((ok & whole & ~in_range, _say(v, 0, "timestamp is out of range ({x})")))
    checks += [(ok & (v[:, j] <= 0), _say(v, j, "{name} is not positive ({x})")) for j in (1, 3, 4)]
    checks += _ohlc_checks(v, ok)
    checks.append((ok & (v[:, 5] < 0), _say(v, 5, "volume is negative ({x})")))
    return checks + _time_checks(np.where(t_ok, t, 0.0).astype(np.int64), t_ok, interval)


def _ohlc_checks(v: F64, ok: Mask) -> list[Check]:
    top = np.maximum(v[:, 1], v[:, 4])
    bottom = np.minimum(v[:, 1], v[:, 4])
    return [
        (
            ok & (v[:, 2] < top),
            lambda i: f"high {_num(v[i, 2])} is below max(open, close) {_num(top[i])}",
        ),
        (
            ok & (v[:, 3] > bottom),
            lambda i: f"low {_num(v[i, 3])} is above min(open, close) {_num(bottom[i])}",
        ),
    ]


def _time_checks(t: npt.NDArray[np.int64], t_ok: Mask, interval: Interval) -> list[Check]:
    both = t_ok[1:] & t_ok[:-1]
    dup = np.zeros(len(t), dtype=bool)
    back = np.zeros(len(t), dtype=bool)
    dup[1:] = both & (t[1:] == t[:-1])
    back[1:] = both & (t[1:] < t[:-1])
    anchor = _MONDAY_MS if interval is Interval.W1 else 0
    unaligned = t_ok & ((t - anchor) % interval.ms != 0)
    week = " (weekly candles open on Monday 00:00 UTC)" if interval is Interval.W1 else ""
    return [
        (dup, lambda i: f"duplicate timestamp {t[i]} (same as line {i + _FIRST_LINE - 1})"),
        (back, lambda i: f"timestamp {t[i]} is before the previous line's ({t[i - 1]})"),
        (unaligned, lambda i: f"timestamp {t[i]} is not aligned to {interval.value}{week}"),
    ]


def _value_hint(values: F64) -> str:
    hints = [_FIX_HINT]
    times = values[:, 0][np.isfinite(values[:, 0])]
    if len(times) and np.abs(times).max() < _SECONDS_LIMIT:
        hints.append("timestamps must be milliseconds since 1970 (these look like seconds)")
    if np.any(np.diff(values[:, 0]) <= 0):
        hints.append("sort the candles by time, oldest first, one line per candle")
    return "; ".join(hints)


def _say(v: F64, j: int, template: str) -> Callable[[int], str]:
    return lambda i: template.format(name=COLUMNS[j], x=_num(v[i, j]))


def _num(x: float | np.float64) -> str:
    value = float(x)
    return str(int(value)) if value.is_integer() and abs(value) < _MAX_EXACT else repr(value)


def _raise_problems(source: str, problems: list[Problem], total: int, hint: str) -> None:
    if not problems:
        return
    shown = "; ".join(f"line {line}: {what}" for line, what in problems[:_MAX_SHOWN])
    more = f"; and {total - _MAX_SHOWN} more" if total > _MAX_SHOWN else ""
    raise DataFormatError(f"{source}: {shown}{more}", hint=hint)


__all__ = [
    "COLUMNS",
    "HEADER",
    "csv_lines",
    "name_parts",
    "parse_csv",
    "read_csv",
    "resolve_identity",
    "write_csv",
]
