"""The fused sweep kernel (strategies declared as events) against batch runs and against
the generic memoised sweep: every metric of every (pair, combination)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coinbt
from coinbt.domain.bars import Bars
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.results import METRIC_NAMES
from coinbt.engine import plan
from coinbt.engine.strategies import get_strategy
from coinbt.errors import ParameterError
from conftest import random_bars

# Each grid skips some combinations (fast >= slow) and has windows longer than the short
# pairs, so those pairs never see a defined indicator.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "sma_cross": {"fast": [3, 10, 40], "slow": [20, 50, 300]},
    "ema_cross": {"fast": [2, 12, 30], "slow": [26, 30, 200]},
    "rsi": {"period": [3, 14, 150], "lower": [30, 45.5], "upper": [55.5, 70]},
    "bollinger": {"period": [5, 20, 500], "std_dev": [1.0, 2.0]},
    "macd": {"fast": [3, 12, 30], "slow": [7, 26], "signal": [3, 9]},
    "breakout": {"entry": [2, 20, 300], "exit": [2, 10]},
}
COUNTS = {"sma_cross": 8, "ema_cross": 7, "rsi": 12, "bollinger": 6, "macd": 6, "breakout": 6}
# Lengths: longer than one signal tile (1,024 bars), mid-sized, shorter than the slow
# windows, and a single bar.
LENGTHS = (2_600, 700, 45, 1)
CONFIGS = {
    "plain": ExecutionConfig(transaction_fee=0.002),
    "general": ExecutionConfig(
        transaction_fee=0.001,
        slippage=0.0005,
        direction="longshort",
        fill="close",
        stop_loss_pct=4.0,
        take_profit_pct=8.0,
        trailing_stop_pct=5.0,
    ),
}


def _pairs(seed: int, lengths: tuple[int, ...] | list[int]) -> list[Bars]:
    rng = np.random.default_rng(seed)
    return [random_bars(rng, n, symbol=f"P{i}") for i, n in enumerate(lengths)]


def _memoised_sweep(pairs: list[Bars], strategy: str, grid: Any, config: Any) -> np.ndarray:
    # The same strategy without its event declaration takes the generic sweep path.
    generic = dataclasses.replace(get_strategy(strategy), events=None)
    return coinbt.sweep(pairs, generic, grid, config=config).values


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("strategy", list(GRIDS))
def test_fused_sweep_equals_batch_runs(strategy: str, config_name: str) -> None:
    pairs = _pairs(7, LENGTHS)
    config = CONFIGS[config_name]
    result = coinbt.sweep(pairs, strategy, GRIDS[strategy], config=config)
    assert len(result.combinations) == COUNTS[strategy]
    for c, combo in enumerate(result.combinations):
        batch = coinbt.backtest_batch(pairs, strategy, params=combo, config=config)
        for p, one in enumerate(batch.results):
            expected = [one.metrics[name] for name in METRIC_NAMES]
            np.testing.assert_allclose(
                result.values[p, c], expected, rtol=1e-9, atol=0, err_msg=f"{combo} {p}"
            )


@pytest.mark.parametrize("strategy", list(GRIDS))
def test_fused_sweep_is_bit_identical_to_memoised_sweep(strategy: str) -> None:
    pairs = _pairs(11, LENGTHS)
    config = CONFIGS["general"]
    fused = coinbt.sweep(pairs, strategy, GRIDS[strategy], config=config).values
    np.testing.assert_array_equal(fused, _memoised_sweep(pairs, strategy, GRIDS[strategy], config))


def test_many_combinations_span_several_blocks_and_tiles() -> None:
    # 84 combinations (more than one block of 64) on pairs of several 1,024-bar tiles.
    pairs = _pairs(3, (3_100, 2_049, 1_024))
    grid = {"fast": list(range(2, 14)), "slow": list(range(14, 21))}
    config = ExecutionConfig(transaction_fee=0.001)
    fused = coinbt.sweep(pairs, "sma_cross", grid, config=config)
    assert len(fused.combinations) == 84
    assert (fused.metric("num_trades") > 0).all()
    np.testing.assert_array_equal(fused.values, _memoised_sweep(pairs, "sma_cross", grid, config))


def test_strategies_without_events_keep_the_generic_sweep() -> None:
    assert get_strategy("dca").events is None
    pairs = _pairs(5, (400, 90))
    result = coinbt.sweep(pairs, "dca", {"every": [1, 24], "amount": [100.0, 900.0]})
    for c, combo in enumerate(result.combinations):
        one = coinbt.backtest(pairs[1], "dca", **combo)
        assert result.values[1, c].tolist() == [one.metrics[name] for name in METRIC_NAMES]


def test_encode_computes_each_distinct_column_once() -> None:
    plans = [(plan.Cross(plan.sma(f), plan.sma(s)),) for f in (5, 10) for s in (10, 30)]
    table = plan.encode(plans)
    assert table.kinds.tolist() == [plan.K_SMA] * 3
    assert table.params[:, 0].tolist() == [5, 10, 30]
    assert table.rules[:, 0].tolist() == [plan.MODE_CROSS] * 4
    assert table.rules[:, 1:3].tolist() == [[0, 1], [0, 2], [1, 1], [1, 2]]
    assert (table.rules[:, 3:5] == [1, -1]).all()
    assert (table.rules[:, plan.EVENT_COLS] == plan.MODE_NONE).all()  # no second event


def test_encode_writes_run_starts_and_second_events() -> None:
    events = (
        plan.RunStart(plan.CLOSE, plan.highest(20), 1),
        plan.RunStart(plan.lowest(10), plan.CLOSE, -1),
    )
    table = plan.encode([events])
    assert table.kinds.tolist() == [plan.K_CLOSE, plan.K_HIGHEST, plan.K_LOWEST]
    assert table.rules.tolist() == [[plan.MODE_RUNS, 0, 1, 1, 0, plan.MODE_RUNS, 2, 0, -1, 0]]


@st.composite
def _grid(draw: st.DrawFn) -> tuple[str, dict[str, list[Any]]]:
    name = draw(st.sampled_from(list(GRIDS)))
    grid = {
        key: draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
        for key, values in GRIDS[name].items()
    }
    return name, grid


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    lengths=st.lists(st.integers(1, 400), min_size=1, max_size=3),
    strategy_grid=_grid(),
    longshort=st.booleans(),
    fill_close=st.booleans(),
    stop=st.sampled_from([0.0, 2.0]),
)
def test_fused_sweep_equals_memoised_sweep_property(
    seed: int,
    lengths: list[int],
    strategy_grid: tuple[str, dict[str, list[Any]]],
    longshort: bool,
    fill_close: bool,
    stop: float,
) -> None:
    strategy, grid = strategy_grid
    config = ExecutionConfig(
        transaction_fee=0.001,
        direction="longshort" if longshort else "long",
        fill="close" if fill_close else "next_open",
        stop_loss_pct=stop,
    )
    pairs = _pairs(seed, lengths)
    try:
        fused = coinbt.sweep(pairs, strategy, grid, config=config).values
    except ParameterError:  # every drawn combination breaks fast < slow
        return
    np.testing.assert_array_equal(fused, _memoised_sweep(pairs, strategy, grid, config))
