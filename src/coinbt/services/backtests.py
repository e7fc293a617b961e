"""Backtest use cases: one strategy on a candle file, and the demo over the bundled sample.

Entry points hand over what the user typed (strings); this module turns it into typed
values, failing with an :class:`~coinbt.errors.InputError` that names the bad input before
any candles are read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from coinbt import sample
from coinbt.collector import files
from coinbt.domain.bars import Bars
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.interval import Interval
from coinbt.domain.results import BacktestResult, BatchResult
from coinbt.domain.timeutil import parse_end, parse_time
from coinbt.engine.run import backtest, backtest_batch
from coinbt.engine.strategies import StrategyDef, all_strategies, get_strategy
from coinbt.engine.strategies.base import Param, ParamValue
from coinbt.errors import DataRangeError, InputError, ParameterError
from coinbt.store.base import MarketStore

RawValues = Mapping[str, str | int | float]

DEMO_STRATEGY = "sma_cross"
DEMO_INTERVAL = "1d"


def list_strategies() -> tuple[StrategyDef, ...]:
    """The built-in strategy catalogue, ordered by id."""
    return all_strategies()


def find_strategy(key: str | int) -> StrategyDef:
    """A strategy by id or name; raises :class:`UnknownStrategyError` listing known ones."""
    return get_strategy(key)


def run_file(
    path: str | os.PathLike[str],
    strategy: str | int,
    params: RawValues | None = None,
    options: RawValues | None = None,
    start: str | None = None,
    end: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
) -> BacktestResult:
    """Run ``strategy`` on the candles of a CSV file, optionally within ``[start, end]``."""
    spec, values, config = prepare(strategy, params, options)
    bars = files.read_csv(path, symbol=symbol, interval=interval)
    return backtest(slice_bars(bars, start, end), spec, params=values, config=config)


def run_stored(
    store: MarketStore,
    symbols: list[str],
    strategy: str | int,
    params: RawValues | None = None,
    options: RawValues | None = None,
    *,
    interval: str = "1d",
    start: str | None = None,
    end: str | None = None,
) -> BatchResult:
    """Run ``strategy`` on stored pairs (by symbol or id), all read in one query."""
    if not symbols:
        raise InputError(
            "no pairs given", hint="name one or more pairs, e.g. BTCUSDT", field="symbols"
        )
    spec, values, config = prepare(strategy, params, options)
    lo = parse_time(start, field="start") if start else None
    hi = parse_end(end, field="end") if end else None
    if lo is not None and hi is not None and lo > hi:
        raise DataRangeError("start is after end", hint="swap --start and --end", field="start")
    got = store.read_batch(list(symbols), Interval.parse(interval), lo, hi)
    if got.batch is None or got.missing:
        symbol, reason = next(iter(got.missing.items()))
        raise DataRangeError(
            f"{symbol}: {reason}",
            hint="import or collect its candles, or change --interval/--start/--end",
        )
    return backtest_batch(got.batch, spec, params=values, config=config)


def run_sample_demo(
    strategy: str | int = DEMO_STRATEGY,
    params: RawValues | None = None,
    options: RawValues | None = None,
    interval: str = DEMO_INTERVAL,
) -> BatchResult:
    """Run ``strategy`` (by default SMA 10/30 crossover) on every bundled sample pair."""
    spec, values, config = prepare(strategy, params, options)
    return backtest_batch(sample_bars(interval), spec, params=values, config=config)


def sample_bars(interval: str = DEMO_INTERVAL) -> list[Bars]:
    """The bundled sample pairs of ``interval`` as validated candles."""
    ivl = Interval.parse(interval)
    return [
        Bars.from_arrays(s.symbol, s.interval, s.time, s.open, s.high, s.low, s.close, s.volume)
        for s in sample.load_all(ivl.value)
    ]


def sample_provenance(*, full: bool = False) -> str:
    """Where the bundled sample comes from and how recent it is: one line, or the whole
    provenance document with ``full``."""
    text: str = sample.provenance()
    if full:
        return text
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def prepare(
    strategy: str | int, params: RawValues | None, options: RawValues | None
) -> tuple[StrategyDef, dict[str, ParamValue], ExecutionConfig]:
    """The strategy, its checked parameter values and the execution config."""
    spec = get_strategy(strategy)
    values = spec.resolve(convert_params(spec, params or {}))
    config = ExecutionConfig.from_mapping(dict(options or {}))
    return spec, values, config


def convert_params(spec: StrategyDef, params: RawValues) -> dict[str, ParamValue]:
    """Text parameter values as numbers of each parameter's kind (bounds checked later)."""
    return {name: _as_kind(spec.param(name), value) for name, value in params.items()}


def slice_bars(bars: Bars, start: str | None, end: str | None) -> Bars:
    """The candles with open time in ``[start, end]``; either end may be open."""
    lo = parse_time(start, field="start") if start else None
    hi = parse_end(end, field="end") if end else None
    if lo is None and hi is None:
        return bars
    return bars.slice_time(lo, hi)


def _as_kind(param: Param, value: str | int | float) -> ParamValue:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        kind = "a whole number" if param.kind == "int" else "a number"
        raise ParameterError(
            f"{param.name} must be a number, not {value!r}",
            hint=f"{param.name} is {kind} between {param.min} and {param.max}",
            field=param.name,
        ) from None
    if param.kind == "int" and number.is_integer():
        return int(number)
    return number
