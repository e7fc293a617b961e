"""The engine's public API: catalogue, validation, batch and sweep consistency."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import coinbt
from coinbt.domain.results import METRIC_NAMES
from coinbt.domain.timeutil import format_ms, parse_end, parse_time
from coinbt.engine import fused, indicators, signals, stats
from coinbt.errors import DataRangeError, ParameterError, UnknownStrategyError


def _walk(seed: int, n: int, symbol: str = "RND") -> coinbt.Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.01)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.01)
    time = 1_700_000_000_000 // 3_600_000 * 3_600_000 + np.arange(n) * 3_600_000
    return coinbt.Bars.from_arrays(symbol, "1h", time, open_, high, low, close, rng.random(n))


def test_catalogue_has_stable_ids_and_required_strategies() -> None:
    names = {s.id: s.name for s in coinbt.strategies()}
    assert names[1] == "buy_and_hold"
    required = {"sma_cross", "ema_cross", "rsi", "bollinger", "macd", "breakout", "dca"}
    assert required <= set(names.values())
    assert len(names) == len(set(names.values())) == len(coinbt.strategies())
    for s in coinbt.strategies():
        assert s.description
        for p in s.params:
            assert p.min <= p.default <= p.max
            assert p.kind in ("int", "float")


def test_strategy_lookup_by_id_name_and_errors_list_known_names() -> None:
    assert coinbt.get_strategy(2).name == "sma_cross"
    assert coinbt.get_strategy("2").name == "sma_cross"
    assert coinbt.get_strategy("SMA_CROSS").id == 2
    with pytest.raises(UnknownStrategyError) as err:
        coinbt.get_strategy("sma_crosss")
    assert "sma_cross" in err.value.hint


def test_parameter_errors_teach() -> None:
    bars = _walk(0, 200)
    with pytest.raises(ParameterError) as err:
        coinbt.backtest(bars, "sma_cross", fats=5)
    assert "fats" in str(err.value) and "fast" in err.value.hint
    with pytest.raises(ParameterError) as err:
        coinbt.backtest(bars, "sma_cross", fast=1)
    assert "between 2 and 500" in err.value.hint
    with pytest.raises(ParameterError):
        coinbt.backtest(bars, "sma_cross", fast=40, slow=30)
    with pytest.raises(ParameterError):
        coinbt.backtest(bars, "sma_cross", fast=2.5)
    with pytest.raises(ParameterError):
        coinbt.backtest(bars, "rsi", transaction_fee=-0.1)
    with pytest.raises(ParameterError):
        coinbt.backtest(bars, "rsi", direction="sideways")


def test_slice_time_refuses_inverted_and_empty_ranges() -> None:
    bars = _walk(1, 50)
    with pytest.raises(DataRangeError):
        bars.slice_time(int(bars.time[10]), int(bars.time[5]))
    with pytest.raises(DataRangeError):
        bars.slice_time(int(bars.time[-1]) + 1, None)
    assert len(bars.slice_time(int(bars.time[5]), int(bars.time[9]))) == 5


def test_metric_columns_follow_metric_names() -> None:
    constants = [
        "TOTAL_RETURN", "BUY_HOLD", "CAGR", "VOLATILITY", "SHARPE", "SORTINO", "CALMAR",
        "MAX_DD", "MAX_DD_BARS", "WIN_RATE", "PROFIT_FACTOR", "EXPECTANCY", "NUM_TRADES",
        "EXPOSURE", "AVG_TRADE", "BEST_TRADE", "WORST_TRADE", "AVG_TRADE_BARS", "FEES_PAID",
        "FINAL_EQUITY",
    ]  # fmt: skip
    assert [getattr(stats, c) for c in constants] == list(range(len(METRIC_NAMES)))
    assert len(METRIC_NAMES) == stats.N_METRICS


@pytest.mark.parametrize(("fast", "slow"), [(2, 3), (12, 26), (50, 200)])
@pytest.mark.parametrize("kind", ["sma", "ema"])
def test_fused_cross_kernels_are_bit_identical_to_memoised_path(
    kind: str, fast: int, slow: int
) -> None:
    rng = np.random.default_rng(fast)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 6000)))
    close[1000:2500] = 1.0001  # a flat stretch: crosses must not come from rounding noise
    offsets = np.array([0, 10, 3000, 3001, 6000], dtype=np.int64)
    kernel = fused.sma_cross if kind == "sma" else fused.ema_cross
    average = indicators.sma if kind == "sma" else indicators.ema
    fast_path = kernel(close, offsets, fast, slow)
    memo_path = signals.crosses(
        average(close, offsets, fast), average(close, offsets, slow), offsets
    )
    np.testing.assert_array_equal(fast_path, memo_path)
    assert np.count_nonzero(fast_path) > 10
    assert not fast_path[1000 + slow + 5 : 2500].any()


def test_sweep_equals_individual_runs() -> None:
    pairs = [_walk(s, 600, f"P{s}") for s in range(3)]
    grid = {"fast": [5, 10, 40], "slow": [20, 30]}
    result = coinbt.sweep(pairs, "sma_cross", grid, transaction_fee=0.002)
    assert len(result.combinations) == 4  # (40, 20) and (40, 30) break fast < slow
    for c, combo in enumerate(result.combinations):
        for i, bars in enumerate(pairs):
            one = coinbt.backtest(bars, "sma_cross", transaction_fee=0.002, **combo)
            got = dict(zip(METRIC_NAMES, result.values[i, c], strict=True))
            for name in METRIC_NAMES:
                assert got[name] == pytest.approx(one.metrics[name], rel=1e-12, abs=1e-12)
    best = result.best("sharpe_ratio")
    assert [b["symbol"] for b in best] == ["P0", "P1", "P2"]
    for i, b in enumerate(best):
        assert b["metrics"]["sharpe_ratio"] == pytest.approx(result.metric("sharpe_ratio")[i].max())


def test_result_serialises_to_json_with_every_metric() -> None:
    res = coinbt.backtest(_walk(3, 500), "macd", stop_loss_pct=3, trailing_stop_pct=5)
    body = json.loads(res.to_json(curves=True, max_points=50))
    assert set(body["metrics"]) == set(METRIC_NAMES)
    assert all(math.isfinite(v) for v in body["metrics"].values())
    assert body["assumptions"]["transaction_fee"] == 0.001
    assert body["assumptions"]["annualisation_days"] == 365
    assert len(body["equity_curve"]["time"]) <= 50
    assert body["equity_curve"]["equity"][-1] == pytest.approx(res.metrics["final_equity"])
    assert body["trades"] and {"entry_time", "exit_reason", "bars_held"} <= set(body["trades"][0])


def test_pandas_views() -> None:
    res = coinbt.backtest(_walk(4, 300), "ema_cross", fast=5, slow=20)
    frame = res.trades_frame()
    assert len(frame) == res.metrics["num_trades"]
    assert str(frame["entry_time"].dt.tz) == "UTC"
    assert res.equity_frame()["equity"].iloc[-1] == res.metrics["final_equity"]


def test_a_bare_end_date_includes_that_whole_day() -> None:
    day = parse_time("2024-12-31")
    assert parse_end("2024-12-31") == day + 86_400_000 - 1
    assert parse_end("2024-12-31T12:00") == day + 12 * 3_600_000
    assert parse_end(str(day)) == day  # milliseconds are taken as given
    bars = _walk(5, 24 * 5)
    start = int(bars.time[0]) // 86_400_000 * 86_400_000
    first_day = format_ms(start)[:10]
    hours_left_that_day = (start + 86_400_000 - int(bars.time[0])) // 3_600_000
    assert len(bars.slice_time(None, parse_end(first_day))) == hours_left_that_day
