"""Every metric of docs/metrics.md recomputed with plain numpy/pandas from a result's equity
curve, trades, candles and config, compared with the engine's ``res.metrics`` at 1e-9.

Nothing here imports coinbt.engine.stats: the formulas are transcribed from the document.
Edge cases (no trades, flat equity, one bar, two bars, a pair that never moves, a wiped-out
short) must give finite, documented values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import coinbt
from coinbt.domain.bars import Bars
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.trades import ExitReason
from conftest import REAL_FILES, load_real, make_bars, random_bars

# The names and order of the table in docs/metrics.md.
DOC_METRICS = (
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
TRADE_METRICS = (
    "win_rate_pct",
    "profit_factor",
    "expectancy_pct",
    "num_trades",
    "avg_trade_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_bars",
    "fees_paid",
)
RATIO_CAP = 1000.0
DAYS = {"1m": 1 / 1440, "5m": 5 / 1440, "15m": 15 / 1440, "30m": 30 / 1440, "1h": 1 / 24,
        "4h": 4 / 24, "1d": 1.0, "1w": 7.0}  # fmt: skip


def _ratio(num: float, den: float) -> float:
    """num / den with the documented defined values: 0 for 0/0, ±cap for x/0, clipped."""
    if den == 0:
        return 0.0 if num == 0 else math.copysign(RATIO_CAP, num)
    return float(np.clip(num / den, -RATIO_CAP, RATIO_CAP))


def independent_metrics(res: Any, bars: Bars) -> dict[str, float]:
    config: ExecutionConfig = res.config
    equity = pd.Series(np.asarray(res.equity, dtype=float))
    e0 = config.initial_investment
    n = len(equity)
    delta = DAYS[bars.interval.value]
    per_year = 365 / delta
    years = n * delta / 365
    # bar returns r[1..n-1]; a bar whose previous equity is <= 0 has return 0
    previous = equity.shift(1).iloc[1:]
    r = (equity.iloc[1:] / previous - 1).where(previous > 0, 0.0)
    out: dict[str, float] = {}
    last = float(equity.iloc[-1])
    out["total_return_pct"] = 100 * (last / e0 - 1)
    out["buy_hold_return_pct"] = 100 * (bars.close[-1] / bars.close[0] - 1)
    if last <= 0:
        cagr = -100.0
    else:
        with np.errstate(over="ignore"):
            growth = np.power(last / e0, 1 / years)
        cagr = float(np.clip(100 * (growth - 1), -100, 1e9))
    out["cagr_pct"] = cagr
    std = float(r.std(ddof=1)) if len(r) >= 2 else 0.0
    mean = float(r.mean()) if len(r) else 0.0
    out["volatility_pct"] = 100 * std * math.sqrt(per_year) if len(r) >= 2 else 0.0
    if len(r) < 2:
        out["sharpe_ratio"] = 0.0
    elif std == 0:
        out["sharpe_ratio"] = _ratio(mean, 0.0)
    else:
        out["sharpe_ratio"] = float(np.clip(mean / std * math.sqrt(per_year), -1000, 1000))
    downside = math.sqrt(float((np.minimum(r, 0) ** 2).mean())) if len(r) else 0.0
    if not len(r):
        out["sortino_ratio"] = 0.0
    elif downside == 0:
        out["sortino_ratio"] = _ratio(mean, 0.0)
    else:
        out["sortino_ratio"] = float(np.clip(mean / downside * math.sqrt(per_year), -1000, 1000))
    peak = equity.cummax()
    dd = equity / peak - 1
    out["max_drawdown_pct"] = 100 * float(dd.min())
    out["calmar_ratio"] = _ratio(cagr / 100, abs(out["max_drawdown_pct"] / 100))
    under = (equity < peak).astype(int)
    runs = under.groupby((under != under.shift()).cumsum()).cumsum()
    out["max_drawdown_bars"] = float(runs.max())

    trades = pd.DataFrame(res.trades)
    k = len(trades)
    out["num_trades"] = float(k)
    if k == 0:
        for name in TRADE_METRICS:
            out[name] = 0.0
    else:
        pnl = trades["pnl"]
        big_r = trades["return_pct"] / 100
        out["win_rate_pct"] = 100 * float((pnl > 0).sum()) / k
        out["profit_factor"] = _ratio(float(pnl[pnl > 0].sum()), abs(float(pnl[pnl < 0].sum())))
        out["expectancy_pct"] = 100 * float(big_r.mean())
        if (1 + big_r <= 0).any():
            out["avg_trade_pct"] = -100.0
        else:
            out["avg_trade_pct"] = 100 * (float(np.prod(1 + big_r)) ** (1 / k) - 1)
        out["best_trade_pct"] = 100 * float(big_r.max())
        out["worst_trade_pct"] = 100 * float(big_r.min())
        out["avg_trade_bars"] = float(trades["bars_held"].mean())
        out["fees_paid"] = float(trades["entry_fee"].sum() + trades["exit_fee"].sum())
    out["exposure_pct"] = 100 * float(_open_at_close(res.trades, n).sum()) / n
    out["final_equity"] = last
    return out


def _open_at_close(trades: Any, n: int) -> np.ndarray:
    """Bars whose close finds a position open: from the entry fill's bar up to (not
    including) the exit fill's bar; an open final trade is held through the last close."""
    held = np.zeros(n, dtype=bool)
    for tr in trades:
        stop = n if int(tr["exit_reason"]) == ExitReason.END else int(tr["exit_bar"])
        held[int(tr["entry_bar"]) : stop] = True
    return held


def assert_metrics_match(res: Any, bars: Bars) -> None:
    assert tuple(res.metrics) == DOC_METRICS
    want = independent_metrics(res, bars)
    e0 = res.config.initial_investment
    for name in DOC_METRICS:
        got = res.metrics[name]
        assert math.isfinite(got), f"{name} = {got}"
        atol = 1e-9 * e0 if name in ("fees_paid", "final_equity") else 1e-9
        np.testing.assert_allclose(got, want[name], rtol=1e-9, atol=atol, err_msg=name)
    assert isinstance(res.metrics["num_trades"], int)
    assert isinstance(res.metrics["max_drawdown_bars"], int)
    equity = np.asarray(res.equity)
    curve = 100 * (equity / np.maximum.accumulate(equity) - 1)
    np.testing.assert_allclose(res.drawdown, curve, rtol=1e-9, atol=1e-9)
    assert (res.drawdown <= 0).all()


STRATEGY_PARAMS: list[tuple[str, dict[str, Any]]] = [
    ("buy_and_hold", {}),
    ("sma_cross", {"fast": 5, "slow": 20}),
    ("ema_cross", {}),
    ("rsi", {"period": 7, "lower": 35, "upper": 65}),
    ("bollinger", {"period": 12, "std_dev": 1.5}),
    ("macd", {}),
    ("breakout", {"entry": 10, "exit": 5}),
    ("dca", {"every": 6, "amount": 900}),
]
CONFIGS = [
    {},
    {"direction": "longshort", "slippage": 0.0005, "stop_loss_pct": 3, "take_profit_pct": 6},
    {"fill": "close", "transaction_fee": 0.0, "trailing_stop_pct": 2.5, "direction": "longshort"},
]


@pytest.mark.parametrize("options", CONFIGS, ids=["default", "ls_stops", "close_trail"])
@pytest.mark.parametrize(
    ("strategy", "params"), STRATEGY_PARAMS, ids=[s for s, _ in STRATEGY_PARAMS]
)
def test_random_candles(strategy: str, params: dict[str, Any], options: dict[str, Any]) -> None:
    for seed in (3, 4, 5):
        bars = random_bars(np.random.default_rng(seed), 400, interval=("1h", "4h", "1d")[seed % 3])
        res = coinbt.backtest(bars, strategy, params=params, **options)
        assert_metrics_match(res, bars)


@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("options", CONFIGS, ids=["default", "ls_stops", "close_trail"])
@pytest.mark.parametrize(
    ("strategy", "params"), STRATEGY_PARAMS, ids=[s for s, _ in STRATEGY_PARAMS]
)
def test_real_candles(
    strategy: str, params: dict[str, Any], options: dict[str, Any], name: str
) -> None:
    bars = load_real(name)
    res = coinbt.backtest(bars, strategy, params=params, **options)
    assert_metrics_match(res, bars)


# --------------------------------------------------------------------------- edge cases


def _constant(n: int, price: float = 50.0) -> Bars:
    return make_bars([price] * n, [price] * n, [price] * n, [price] * n)


ALL_ZERO = dict.fromkeys(DOC_METRICS, 0.0)


@pytest.mark.parametrize("n", [1, 2, 3, 50])
@pytest.mark.parametrize(
    ("strategy", "params"), STRATEGY_PARAMS, ids=[s for s, _ in STRATEGY_PARAMS]
)
@pytest.mark.parametrize("options", CONFIGS, ids=["default", "ls_stops", "close_trail"])
def test_pair_that_never_moves(
    strategy: str, params: dict[str, Any], n: int, options: dict[str, Any]
) -> None:
    bars = _constant(n)
    res = coinbt.backtest(bars, strategy, params=params, **options)
    assert_metrics_match(res, bars)
    m = res.metrics
    assert m["buy_hold_return_pct"] == 0
    if strategy not in ("buy_and_hold", "dca"):
        # No crosses on a constant series: zero trades, flat equity, every metric 0
        # except final_equity.
        assert len(res.trades) == 0
        assert m == {**ALL_ZERO, "final_equity": res.config.initial_investment}


def test_zero_trades_flat_equity_all_defined_zero() -> None:
    bars = _constant(40, price=1.0001)
    res = coinbt.backtest(bars, "sma_cross", fast=2, slow=3)
    assert len(res.trades) == 0
    np.testing.assert_array_equal(res.equity, np.full(40, 10_000.0))
    assert_metrics_match(res, bars)
    for name in DOC_METRICS:
        expected = 10_000.0 if name == "final_equity" else 0.0
        assert res.metrics[name] == expected, name


def test_flat_equity_with_an_open_trade() -> None:
    # buy_and_hold on a constant price without fees: one open trade with pnl 0, flat equity.
    bars = _constant(10)
    res = coinbt.backtest(bars, "buy_and_hold", transaction_fee=0.0)
    assert_metrics_match(res, bars)
    m = res.metrics
    assert m["num_trades"] == 1
    assert m["win_rate_pct"] == 0 and m["profit_factor"] == 0 and m["avg_trade_pct"] == 0
    assert m["sharpe_ratio"] == 0 and m["sortino_ratio"] == 0 and m["calmar_ratio"] == 0
    assert m["exposure_pct"] == pytest.approx(90.0)  # entered at open[1]: 9 of 10 closes


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("fee", [0.0, 0.001])
def test_one_bar_range(fill: str, fee: float) -> None:
    bars = random_bars(np.random.default_rng(9), 1)
    res = coinbt.backtest(bars, "buy_and_hold", fill=fill, transaction_fee=fee)
    assert_metrics_match(res, bars)
    m = res.metrics
    assert m["volatility_pct"] == 0 and m["sharpe_ratio"] == 0 and m["sortino_ratio"] == 0
    assert m["max_drawdown_pct"] == 0 and m["max_drawdown_bars"] == 0
    if fill == "close" and fee > 0:
        # A fee lost in one hour, annualised: cagr is finite (about −100), calmar capped.
        assert -100 <= m["cagr_pct"] < -99
        assert m["calmar_ratio"] == -1000


@pytest.mark.parametrize(
    ("strategy", "params"), STRATEGY_PARAMS, ids=[s for s, _ in STRATEGY_PARAMS]
)
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_two_bar_range(strategy: str, params: dict[str, Any], fill: str) -> None:
    bars = make_bars([100.0, 101.0], [102.0, 104.0], [99.0, 100.0], [101.0, 103.0])
    res = coinbt.backtest(bars, strategy, params=params, fill=fill)
    assert_metrics_match(res, bars)
    # One return: volatility and sharpe are 0 by definition.
    assert res.metrics["volatility_pct"] == 0 and res.metrics["sharpe_ratio"] == 0


def test_huge_gain_in_a_short_range_caps_cagr() -> None:
    # +50 % in 3 hours annualises beyond 1e9 %: capped.
    bars = make_bars(
        [100.0, 100.0, 120.0], [100.0, 130.0, 150.0], [100.0, 100.0, 120.0], [100.0, 120.0, 150.0]
    )
    res = coinbt.backtest(bars, "buy_and_hold", fill="close", transaction_fee=0.0)
    assert_metrics_match(res, bars)
    assert res.metrics["cagr_pct"] == 1e9
    assert res.metrics["calmar_ratio"] == 1000  # no drawdown, positive cagr


def test_wiped_out_short() -> None:
    # The liquidation scenario: equity ends negative; cagr −100, every metric finite.
    bars = make_bars(
        [10.0, 10.0, 10.0, 10.0, 8.0, 12.0, 17.0],
        [10.0, 10.0, 10.0, 10.0, 12.0, 17.0, 17.0],
        [10.0, 10.0, 10.0, 8.0, 8.0, 12.0, 5.0],
        [10.0, 10.0, 10.0, 8.0, 12.0, 17.0, 5.0],
    )
    res = coinbt.backtest(bars, "sma_cross", fast=2, slow=3, direction="longshort")
    assert res.equity[-1] < 0
    assert_metrics_match(res, bars)
    assert res.metrics["cagr_pct"] == -100
    assert res.metrics["avg_trade_pct"] == -100  # 1 + R ≤ 0
