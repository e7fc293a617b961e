"""Backtest results: metrics, one run, a batch of runs and a parameter sweep."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.interval import Interval
from coinbt.domain.trades import TradeArray, trades_to_dicts
from coinbt.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

METRIC_NAMES: tuple[str, ...] = (
    "total_return_pct",
    "buy_hold_return_pct",
    "cagr_pct",
    "volatility_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "max_drawdown_bars",
    "win_rate_pct",
    "profit_factor",
    "expectancy_pct",
    "num_trades",
    "exposure_pct",
    "avg_trade_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_bars",
    "fees_paid",
    "final_equity",
)
"""Metric names in the engine's column order (formulas: docs/metrics.md)."""

METRIC_INDEX: dict[str, int] = {name: i for i, name in enumerate(METRIC_NAMES)}
_INTEGER_METRICS = frozenset({"max_drawdown_bars", "num_trades"})
# Metrics where a smaller value is better, for "best by metric".
LOWER_IS_BETTER = frozenset({"volatility_pct", "max_drawdown_bars", "fees_paid"})


def metric_index(name: str) -> int:
    """Column of metric ``name``; raises :class:`InputError` listing the valid names."""
    try:
        return METRIC_INDEX[name]
    except KeyError:
        raise InputError(
            f"unknown metric {name!r}", hint=f"use one of {', '.join(METRIC_NAMES)}", field="metric"
        ) from None


def metrics_dict(row: npt.NDArray[np.float64]) -> dict[str, float | int]:
    """One engine metrics row as ``{name: value}`` (counts as ``int``)."""
    return {
        name: int(row[i]) if name in _INTEGER_METRICS else float(row[i])
        for i, name in enumerate(METRIC_NAMES)
    }


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One strategy run on one pair: metrics, curves, trades and the assumptions used."""

    symbol: str
    strategy: str
    parameters: dict[str, float | int]
    config: ExecutionConfig
    interval: Interval
    metrics: dict[str, float | int]
    time: npt.NDArray[np.int64] = field(repr=False)
    equity: npt.NDArray[np.float64] = field(repr=False)
    trades: TradeArray = field(repr=False)

    @cached_property
    def drawdown(self) -> npt.NDArray[np.float64]:
        """Percent below the running equity peak at each bar (``≤ 0``; docs/metrics.md).

        Computed on first use: a batch of hundreds of pairs rarely needs every curve."""
        peak = np.maximum.accumulate(self.equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(peak > 0, 100.0 * (self.equity / peak - 1.0), 0.0)

    @property
    def assumptions(self) -> dict[str, Any]:
        """What the numbers were computed under: execution options and conventions."""
        return {
            **self.config.to_dict(),
            "interval": self.interval.value,
            "annualisation_days": 365,
            "bars_per_year": self.interval.bars_per_year,
            "start": int(self.time[0]) if len(self.time) else None,
            "end": int(self.time[-1]) if len(self.time) else None,
            "bars": len(self.time),
        }

    def to_dict(self, *, curves: bool = False, max_points: int | None = None) -> dict[str, Any]:
        """JSON-ready dict; ``curves`` adds equity and drawdown (downsampled to
        ``max_points`` when given)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "strategy": self.strategy,
            "parameters": dict(self.parameters),
            "assumptions": self.assumptions,
            "metrics": dict(self.metrics),
            "trades": trades_to_dicts(self.trades),
        }
        if curves:
            rows = _downsample(len(self.time), max_points)
            out["equity_curve"] = {
                "time": self.time[rows].tolist(),
                "equity": self.equity[rows].tolist(),
                "drawdown_pct": self.drawdown[rows].tolist(),
            }
        return out

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(**kwargs))

    def trades_frame(self) -> pd.DataFrame:
        """Trades as a pandas DataFrame (needs pandas)."""
        _require_pandas()
        import pandas as pd  # noqa: PLC0415 - optional dependency, imported on use

        frame = pd.DataFrame(trades_to_dicts(self.trades))
        for col in ("entry_time", "exit_time"):
            if col in frame:
                frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
        return frame

    def equity_frame(self) -> pd.DataFrame:
        """Equity and drawdown indexed by UTC open time (needs pandas)."""
        _require_pandas()
        import pandas as pd  # noqa: PLC0415 - optional dependency, imported on use

        index = pd.to_datetime(self.time, unit="ms", utc=True)
        return pd.DataFrame({"equity": self.equity, "drawdown_pct": self.drawdown}, index=index)


@dataclass(frozen=True, eq=False)
class BatchResult:
    """One strategy over many pairs; ``results[i]`` belongs to ``symbols[i]``."""

    results: tuple[BacktestResult, ...]

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(r.symbol for r in self.results)

    def best(self, metric: str = "total_return_pct") -> BacktestResult:
        """The pair with the best value of ``metric``."""
        col = metric_index(metric)
        values = np.array([r.metrics[METRIC_NAMES[col]] for r in self.results], dtype=float)
        pick = np.argmin(values) if metric in LOWER_IS_BETTER else np.argmax(values)
        return self.results[int(pick)]

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results]}

    def to_frame(self) -> pd.DataFrame:
        """One row of metrics per pair (needs pandas)."""
        _require_pandas()
        import pandas as pd  # noqa: PLC0415 - optional dependency, imported on use

        return pd.DataFrame([r.metrics for r in self.results], index=list(self.symbols))


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Metrics of every (pair, parameter combination): ``values[pair, combo, metric]``."""

    strategy: str
    symbols: tuple[str, ...]
    combinations: tuple[dict[str, float | int], ...]
    config: ExecutionConfig
    values: npt.NDArray[np.float64] = field(repr=False)

    def metric(self, name: str) -> npt.NDArray[np.float64]:
        """``pairs × combinations`` array of one metric."""
        return self.values[:, :, metric_index(name)]

    def best(self, metric: str = "sharpe_ratio") -> list[dict[str, Any]]:
        """For each pair, the combination with the best ``metric`` and its metrics."""
        table = self.metric(metric)
        picks = table.argmin(axis=1) if metric in LOWER_IS_BETTER else table.argmax(axis=1)
        return [
            {
                "symbol": symbol,
                "parameters": dict(self.combinations[int(c)]),
                "metrics": metrics_dict(self.values[i, int(c)]),
            }
            for i, (symbol, c) in enumerate(zip(self.symbols, picks, strict=True))
        ]

    def best_overall(self, metric: str = "sharpe_ratio") -> dict[str, Any]:
        """The combination whose mean ``metric`` across pairs is best."""
        means = self.metric(metric).mean(axis=0)
        pick = int(means.argmin() if metric in LOWER_IS_BETTER else means.argmax())
        return {"parameters": dict(self.combinations[pick]), f"mean_{metric}": float(means[pick])}

    def to_frame(self) -> pd.DataFrame:
        """One row per (pair, combination) with parameters and metrics (needs pandas)."""
        _require_pandas()
        import pandas as pd  # noqa: PLC0415 - optional dependency, imported on use

        rows = []
        for i, symbol in enumerate(self.symbols):
            for c, combo in enumerate(self.combinations):
                rows.append({"symbol": symbol, **combo, **metrics_dict(self.values[i, c])})
        return pd.DataFrame(rows)


def _downsample(n: int, max_points: int | None) -> npt.NDArray[np.intp]:
    if max_points is None or n <= max_points:
        return np.arange(n)
    # Keep the first and last points so the curve's ends are exact.
    return np.unique(np.linspace(0, n - 1, max(2, max_points)).round().astype(np.intp))


def _require_pandas() -> None:
    if importlib.util.find_spec("pandas") is None:
        raise InputError("pandas is not installed", hint="pip install 'coinbt[pandas]'")
