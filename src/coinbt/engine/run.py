"""The engine's public entry points: one run, a batch of pairs, a parameter sweep."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np

from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.execution import Direction, ExecutionConfig, Fill
from coinbt.domain.results import BacktestResult, BatchResult, SweepResult, metrics_dict
from coinbt.domain.trades import TRADE_DTYPE, TradeArray
from coinbt.engine import plan
from coinbt.engine import simulate as sim
from coinbt.engine._types import F64, I8, I64
from coinbt.engine.features import Features
from coinbt.engine.stats import N_METRICS, metrics_batch
from coinbt.engine.strategies import StrategyDef, get_strategy
from coinbt.engine.strategies.base import ParamValue
from coinbt.engine.sweeping import simulate_metrics, sweep_rules
from coinbt.errors import ParameterError

BarsLike = Bars | BarsBatch | Sequence[Bars]

_PARALLEL_MIN_BARS = 100_000  # below this a batch runs on one thread
_SWEEP_CHUNK_BARS = 1 << 19  # pairs per sweep chunk: ~0.5M bars keeps indicator memos small


def backtest(
    bars: Bars,
    strategy: str | int | StrategyDef,
    *,
    params: Mapping[str, object] | None = None,
    config: ExecutionConfig | None = None,
    **options: object,
) -> BacktestResult:
    """Run ``strategy`` on one pair.

    Strategy parameters and execution options (see :class:`ExecutionConfig`) may be given
    as keyword arguments: ``backtest(bars, "sma_cross", fast=10, slow=30,
    transaction_fee=0.0005)``.
    """
    return backtest_batch([bars], strategy, params=params, config=config, **options).results[0]


def backtest_batch(
    bars: BarsLike,
    strategy: str | int | StrategyDef,
    *,
    params: Mapping[str, object] | None = None,
    config: ExecutionConfig | None = None,
    **options: object,
) -> BatchResult:
    """Run ``strategy`` with one parameter set on every pair, in parallel."""
    batch = as_batch(bars)
    spec, values, cfg = _prepare(strategy, params, config, options)
    with _threads_for(len(batch.close)):
        return _run_batch(batch, spec, values, cfg)


def _run_batch(
    batch: BarsBatch, spec: StrategyDef, values: dict[str, ParamValue], cfg: ExecutionConfig
) -> BatchResult:
    features = _features(batch)
    sig = spec.signals(features, values)
    equity, trades, counts, exposed, t_off = _simulate(batch, sig, cfg, _amount(spec, values))
    rows = metrics_batch(
        equity,
        batch.close,
        batch.offsets,
        trades,
        t_off,
        counts,
        exposed,
        cfg.initial_investment,
        batch.interval.days,
    )
    records, starts = _records(batch, trades, t_off, counts)
    results = tuple(
        _result(batch, i, spec, values, cfg, equity, rows[i], records[starts[i] : starts[i + 1]])
        for i in range(len(batch))
    )
    return BatchResult(results)


def sweep(
    bars: BarsLike,
    strategy: str | int | StrategyDef,
    grid: Mapping[str, Sequence[object]],
    *,
    config: ExecutionConfig | None = None,
    **options: object,
) -> SweepResult:
    """Metrics of every (pair, parameter combination) of ``grid``, e.g.
    ``sweep(pairs, "sma_cross", {"fast": range(5, 51, 5), "slow": range(20, 201, 20)})``.

    Combinations that break a strategy rule (``fast >= slow``) are skipped. Indicators are
    computed once per distinct window and reused across combinations.
    """
    batch = as_batch(bars)
    spec, _, cfg = _prepare(strategy, None, config, options)
    combos = _combinations(spec, grid)
    if spec.events is not None:
        values = _sweep_fused(batch, spec, combos, cfg)
    else:
        values = _sweep_memoised(batch, spec, combos, cfg)
    return SweepResult(spec.name, batch.symbols, tuple(combos), cfg, values)


def _sweep_fused(
    batch: BarsBatch, spec: StrategyDef, combos: list[dict[str, ParamValue]], cfg: ExecutionConfig
) -> F64:
    # Strategies declared as events: one pass per pair over every combination, each
    # distinct indicator column computed once per pair (sweeping.sweep_rules).
    assert spec.events is not None
    table = plan.encode([spec.events(combo) for combo in combos])
    amounts = np.array([_amount(spec, combo) for combo in combos], dtype=np.float64)
    opts = _fill_options(cfg, 0.0)[:-1]
    return sweep_rules(
        batch.open, batch.high, batch.low, batch.close, batch.offsets,
        table.kinds, table.params, table.values, table.rules, amounts, opts, batch.interval.days,
    )  # fmt: skip


def _sweep_memoised(
    batch: BarsBatch, spec: StrategyDef, combos: list[dict[str, ParamValue]], cfg: ExecutionConfig
) -> F64:
    # Any other strategy: whole-batch signals per combination from memoised indicators.
    values = np.zeros((len(batch), len(combos), N_METRICS))
    for lo, hi in _chunks(batch.offsets):
        part = _sub_batch(batch, lo, hi)
        features = _features(part, reuse=len(combos) > 1)
        for c, combo in enumerate(combos):
            sig = spec.signals(features, combo)
            values[lo:hi, c] = simulate_metrics(
                part.open, part.high, part.low, part.close, sig, part.offsets,
                *_fill_options(cfg, _amount(spec, combo)), part.interval.days,
            )  # fmt: skip
    return values


@contextmanager
def _threads_for(n_bars: int) -> Iterator[None]:
    """Run small jobs on the calling thread alone: waking numba's worker threads costs more
    than a few thousand bars of work, and on a busy machine a worker that is not scheduled
    stalls every parallel kernel of the call."""
    if n_bars >= _PARALLEL_MIN_BARS:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def as_batch(bars: BarsLike) -> BarsBatch:
    """A :class:`BarsBatch` from one ``Bars``, a sequence of them, or a batch."""
    if isinstance(bars, BarsBatch):
        return bars
    if isinstance(bars, Bars):
        return BarsBatch.from_bars([bars])
    return BarsBatch.from_bars(list(bars))


def _prepare(
    strategy: str | int | StrategyDef,
    params: Mapping[str, object] | None,
    config: ExecutionConfig | None,
    options: Mapping[str, object],
) -> tuple[StrategyDef, dict[str, ParamValue], ExecutionConfig]:
    spec = get_strategy(strategy)
    config_keys = set(ExecutionConfig.option_names())
    strategy_kw = {k: v for k, v in options.items() if k not in config_keys}
    config_kw = {k: v for k, v in options.items() if k in config_keys}
    unknown = [k for k in strategy_kw if k not in spec.param_names]
    if unknown:
        valid = [*spec.param_names, *sorted(config_keys)]
        raise ParameterError(
            f"unknown option(s) for {spec.name}: {', '.join(unknown)}",
            hint=f"valid names: {', '.join(valid)}",
            field=unknown[0],
        )
    values = spec.resolve({**(params or {}), **strategy_kw})
    base = config.to_dict() if config else {}
    cfg = ExecutionConfig.from_mapping({**base, **config_kw}) if config_kw or not config else config
    return spec, values, cfg


def _features(batch: BarsBatch, *, reuse: bool = False) -> Features:
    return Features(batch.open, batch.high, batch.low, batch.close, batch.offsets, reuse=reuse)


def _amount(spec: StrategyDef, values: Mapping[str, ParamValue]) -> float:
    return float(values[spec.order_amount]) if spec.order_amount else 0.0


def _fill_options(
    cfg: ExecutionConfig, amount: float
) -> tuple[float, float, float, bool, bool, float, float, float, float]:
    """The scalar arguments every fill-loop kernel takes, in their order."""
    return (
        cfg.initial_investment,
        cfg.transaction_fee,
        cfg.slippage,
        cfg.direction is Direction.LONGSHORT,
        cfg.fill is Fill.CLOSE,
        cfg.stop_loss_pct / 100.0,
        cfg.take_profit_pct / 100.0,
        cfg.trailing_stop_pct / 100.0,
        amount,
    )


def _simulate(
    batch: BarsBatch, sig: I8, cfg: ExecutionConfig, amount: float
) -> tuple[F64, F64, I64, I64, I64]:
    t_off = sim.trade_capacity(sig, batch.offsets)
    equity, trades, counts, exposed = sim.simulate_batch(
        batch.open, batch.high, batch.low, batch.close, sig, batch.offsets, t_off,
        *_fill_options(cfg, amount),
    )  # fmt: skip
    return equity, trades, counts, exposed, t_off


def _records(batch: BarsBatch, trades: F64, t_off: I64, counts: I64) -> tuple[TradeArray, I64]:
    """Every pair's trades as one record array, and the row where each pair's trades start."""
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    starts[1:] = np.cumsum(counts)
    out = np.zeros(int(starts[-1]), dtype=TRADE_DTYPE)
    sim.pack_trades(trades, t_off, counts, batch.offsets, batch.time, out)
    return out, starts


def _result(
    batch: BarsBatch,
    i: int,
    spec: StrategyDef,
    values: dict[str, ParamValue],
    cfg: ExecutionConfig,
    equity: F64,
    row: F64,
    trades: TradeArray,
) -> BacktestResult:
    rows = slice(int(batch.offsets[i]), int(batch.offsets[i + 1]))
    return BacktestResult(
        symbol=batch.symbols[i],
        strategy=spec.name,
        parameters=dict(values),
        config=cfg,
        interval=batch.interval,
        metrics=metrics_dict(row),
        time=batch.time[rows],
        equity=equity[rows],
        trades=trades,
    )


def _combinations(
    spec: StrategyDef, grid: Mapping[str, Sequence[object]]
) -> list[dict[str, ParamValue]]:
    for name in grid:
        spec.param(name)
    names = list(grid)
    combos: list[dict[str, ParamValue]] = []
    for point in itertools.product(*(list(grid[n]) for n in names)):
        candidate = dict(zip(names, point, strict=True))
        try:
            combos.append(spec.resolve(candidate))
        except ParameterError as exc:
            if exc.field is not None:  # a value out of bounds: the grid itself is wrong
                raise
    if not combos:
        raise ParameterError("the grid has no valid combination", hint="check fast < slow")
    return combos


def _chunks(offsets: I64) -> list[tuple[int, int]]:
    chunks: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(offsets)):
        if offsets[i] - offsets[start] >= _SWEEP_CHUNK_BARS or i == len(offsets) - 1:
            chunks.append((start, i))
            start = i
    return chunks


def _sub_batch(batch: BarsBatch, lo: int, hi: int) -> BarsBatch:
    a, b = int(batch.offsets[lo]), int(batch.offsets[hi])
    cols: dict[str, Any] = {
        name: getattr(batch, name)[a:b]
        for name in ("time", "open", "high", "low", "close", "volume")
    }
    return BarsBatch(batch.symbols[lo:hi], batch.interval, batch.offsets[lo : hi + 1] - a, **cols)
