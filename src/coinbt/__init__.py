"""coinbt: a crypto backtesting engine and service.

The whole public Python API::

    import coinbt
    bars = coinbt.Bars.from_arrays("BTCUSDT", "1h", time, open, high, low, close, volume)
    result = coinbt.backtest(bars, "sma_cross", fast=10, slow=30)
    batch = coinbt.backtest_batch([bars, other], "rsi", period=14)
    grid = coinbt.sweep([bars, other], "sma_cross", {"fast": [5, 10], "slow": [20, 50]})
"""

from __future__ import annotations

from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.execution import Direction, ExecutionConfig, Fill
from coinbt.domain.interval import Interval
from coinbt.domain.results import BacktestResult, BatchResult, SweepResult
from coinbt.engine.run import backtest, backtest_batch, sweep
from coinbt.engine.strategies import StrategyDef, get_strategy
from coinbt.engine.strategies import all_strategies as strategies
from coinbt.errors import CoinbtError

__version__ = "0.1.0"

__all__ = [
    "BacktestResult",
    "Bars",
    "BarsBatch",
    "BatchResult",
    "CoinbtError",
    "Direction",
    "ExecutionConfig",
    "Fill",
    "Interval",
    "StrategyDef",
    "SweepResult",
    "__version__",
    "backtest",
    "backtest_batch",
    "get_strategy",
    "strategies",
    "sweep",
]
