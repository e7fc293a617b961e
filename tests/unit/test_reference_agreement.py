"""The fast engine equals the slow reference oracle (coinbt.engine._reference) to 1e-9.

Both are written independently from docs/execution.md and docs/strategies.md. Every
strategy runs over a grid of execution options on random candles (several seeds) and on
the real fixtures; equity must agree at every bar and every trade field must agree (counts,
bars, directions and exit reasons exactly).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest

import coinbt
from coinbt.domain.bars import Bars
from coinbt.domain.execution import ExecutionConfig
from coinbt.engine._reference import STRATEGY_DEFAULTS
from conftest import (
    REAL_FILES,
    assert_matches_reference,
    load_real,
    make_bars,
    random_bars,
    run_reference,
)

STRATEGIES = tuple(STRATEGY_DEFAULTS)

# Short windows so a few hundred random bars produce plenty of signals.
SHORT_PARAMS: dict[str, dict[str, float]] = {
    "buy_and_hold": {},
    "sma_cross": {"fast": 5, "slow": 20},
    "ema_cross": {"fast": 4, "slow": 15},
    "rsi": {"period": 7, "lower": 35, "upper": 65},
    "bollinger": {"period": 12, "std_dev": 1.5},
    "macd": {"fast": 6, "slow": 13, "signal": 5},
    "breakout": {"entry": 10, "exit": 5},
    "dca": {"every": 6, "amount": 900},
}

STOPS = {  # (stop_loss_pct, take_profit_pct, trailing_stop_pct)
    "nostop": (0.0, 0.0, 0.0),
    "sl": (3.0, 0.0, 0.0),
    "tp": (0.0, 4.0, 0.0),
    "trail": (0.0, 0.0, 2.5),
    "all": (2.0, 5.0, 3.0),
}

GRID = list(
    itertools.product(
        [0.0, 0.001],  # fee
        [0.0, 0.0005],  # slippage
        ["long", "longshort"],
        ["next_open", "close"],
        list(STOPS),
    )
)

SEEDS = (11, 22, 33)


def _config(fee: float, slip: float, direction: str, fill: str, stops: str) -> ExecutionConfig:
    sl, tp, tr = STOPS[stops]
    return ExecutionConfig(
        transaction_fee=fee,
        slippage=slip,
        direction=direction,  # type: ignore[arg-type]
        fill=fill,  # type: ignore[arg-type]
        stop_loss_pct=sl,
        take_profit_pct=tp,
        trailing_stop_pct=tr,
    )


@functools.cache
def _random(seed: int, n: int = 300) -> Bars:
    return random_bars(np.random.default_rng(seed), n, symbol=f"RND{seed}")


@functools.cache
def _real(name: str) -> Bars:
    return load_real(name)


def check(bars: Bars, strategy: str, params: dict[str, Any], config: ExecutionConfig) -> None:
    """Run both implementations and assert they agree."""
    res = coinbt.backtest(bars, strategy, params=params, config=config)
    ref = run_reference(bars, strategy, params, config)
    where = f"{bars.symbol}[{len(bars)}] {strategy} {params} {config.to_dict()}"
    assert_matches_reference(res, ref, config, where)
    assert res.config == config
    assert res.symbol == bars.symbol
    np.testing.assert_array_equal(res.time, bars.time)
    # The JSON view of the trades carries the same records (exit reason as its label).
    as_json = res.to_dict()["trades"]
    assert [t["exit_reason"] for t in as_json] == [t["exit_reason"] for t in ref.trades]
    assert [t["entry_bar"] for t in as_json] == [t["entry_bar"] for t in ref.trades]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("fee", "slip", "direction", "fill", "stops"), GRID)
def test_random_candles(
    strategy: str, fee: float, slip: float, direction: str, fill: str, stops: str
) -> None:
    config = _config(fee, slip, direction, fill, stops)
    for seed in SEEDS:
        check(_random(seed), strategy, SHORT_PARAMS[strategy], config)


# A reduced grid over the real candles (longer series, so fewer combinations).
REAL_GRID = [
    (0.001, 0.0, "long", "next_open", "nostop"),
    (0.001, 0.0005, "longshort", "next_open", "all"),
    (0.0, 0.0, "longshort", "close", "sl"),
    (0.001, 0.0005, "long", "close", "trail"),
    (0.0, 0.0005, "longshort", "next_open", "tp"),
]


@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("short", [True, False], ids=["short_params", "defaults"])
def test_real_candles(name: str, strategy: str, short: bool) -> None:
    bars = _real(name)
    params = SHORT_PARAMS[strategy] if short else {}
    for option in REAL_GRID:
        check(bars, strategy, params, _config(*option))


def _random_params(rng: np.random.Generator, strategy: str) -> dict[str, Any]:
    def i(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    if strategy in ("sma_cross", "ema_cross"):
        fast = i(2, 30)
        return {"fast": fast, "slow": i(fast + 1, 80)}
    if strategy == "macd":
        fast = i(2, 20)
        return {"fast": fast, "slow": i(fast + 1, 40), "signal": i(2, 15)}
    if strategy == "rsi":
        return {"period": i(2, 30), "lower": i(1, 49), "upper": i(51, 99)}
    if strategy == "bollinger":
        return {"period": i(2, 40), "std_dev": float(rng.uniform(0.1, 5.0))}
    if strategy == "breakout":
        return {"entry": i(2, 40), "exit": i(2, 40)}
    if strategy == "dca":
        return {"every": i(1, 30), "amount": float(rng.uniform(1.0, 6000.0))}
    return {}


@pytest.mark.parametrize("seed", range(24))
def test_fuzz_params_and_options(seed: int) -> None:
    """Random parameters, extreme costs, tight stops, tiny and sliced ranges."""
    rng = np.random.default_rng(1000 + seed)
    for k in range(10):
        strategy = STRATEGIES[(seed + k) % len(STRATEGIES)]
        config = ExecutionConfig(
            initial_investment=float(rng.choice([1.0, 10_000.0, 3.7e6])),
            transaction_fee=float(rng.choice([0.0, 0.001, 0.01, 0.2])),
            slippage=float(rng.choice([0.0, 0.0005, 0.01, 0.1])),
            direction=str(rng.choice(["long", "longshort"])),  # type: ignore[arg-type]
            fill=str(rng.choice(["next_open", "close"])),  # type: ignore[arg-type]
            stop_loss_pct=float(rng.choice([0.0, 0.3, 2.0, 5.0, 50.0])),
            take_profit_pct=float(rng.choice([0.0, 0.5, 3.0, 10.0, 1e6])),
            trailing_stop_pct=float(rng.choice([0.0, 0.3, 2.0, 10.0])),
        )
        if rng.random() < 0.5:
            bars = random_bars(
                rng, int(rng.integers(1, 400)), start_price=float(rng.choice([1e-4, 1.0, 3e4]))
            )
        else:
            whole = _real(REAL_FILES[int(rng.integers(len(REAL_FILES)))])
            start = int(rng.integers(0, len(whole) - 1))
            bars = whole.take(slice(start, start + int(rng.integers(1, 600))))
        check(bars, strategy, _random_params(rng, strategy), config)


def _pump() -> Bars:
    """A slow slide, then +4 % a bar for 80 bars: a short opened early is liquidated."""
    c = np.concatenate([np.linspace(100.0, 90.0, 40), 90.0 * 1.04 ** np.arange(1, 81)])
    o = np.r_[c[0], c[:-1]]
    return make_bars(
        o.tolist(),
        (np.maximum(o, c) * 1.001).tolist(),
        (np.minimum(o, c) * 0.999).tolist(),
        c.tolist(),
        symbol="PUMP",
    )


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("slip", [0.0, 0.01])
@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("rsi", {"period": 5, "lower": 30, "upper": 60}),
        ("sma_cross", {"fast": 2, "slow": 3}),
        ("breakout", {"entry": 3, "exit": 2}),
        ("bollinger", {"period": 5, "std_dev": 1.0}),
    ],
)
def test_pump_liquidation(strategy: str, params: dict[str, Any], slip: float, fill: str) -> None:
    config = ExecutionConfig(direction="longshort", fill=fill, slippage=slip)  # type: ignore[arg-type]
    check(_pump(), strategy, params, config)
    if strategy == "rsi":  # the oracle itself must see the liquidation here
        reasons = [
            t["exit_reason"] for t in run_reference(_pump(), strategy, params, config).trades
        ]
        assert reasons == ["liquidation"]


def test_short_loss_beyond_cash_at_a_gap() -> None:
    """A reversal at a gap that costs more than the cash: equity goes negative and stays."""
    c = [100, 100, 100, 90, 90, 150, 260, 270, 280]
    o = [100, 100, 100, 100, 90, 90, 250, 260, 270]
    h = [max(a, b) + 1 for a, b in zip(o, c, strict=True)]
    lo = [min(a, b) - 1 for a, b in zip(o, c, strict=True)]
    bars = make_bars(o, h, lo, c)
    for fee in (0.0, 0.001):
        config = ExecutionConfig(direction="longshort", transaction_fee=fee)  # type: ignore[arg-type]
        check(bars, "breakout", {"entry": 2, "exit": 2}, config)
