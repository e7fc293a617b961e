"""Shared test helpers: random candles, real candle fixtures, and the reference oracle glue.

``random_bars`` builds realistic random-walk candles; ``load_real`` / the ``real_bars``
fixture read the small real CSV slices in ``tests/fixtures/real`` with numpy alone (never
with coinbt's own readers, so a reader bug cannot hide an engine bug).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coinbt.domain.bars import Bars
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.interval import Interval

FIXTURES = Path(__file__).parent / "fixtures" / "real"
REAL_FILES: tuple[str, ...] = tuple(sorted(p.name for p in FIXTURES.glob("*.csv")))
"""File names of the real candle fixtures (``BTCUSDT-1h.csv`` …)."""

START_MS = 1_600_000_000_000 - 1_600_000_000_000 % 86_400_000  # a UTC midnight


def random_bars(
    rng: np.random.Generator,
    n: int,
    symbol: str = "RND",
    interval: str = "1h",
    start_price: float = 100.0,
) -> Bars:
    """``n`` random-walk candles with consistent OHLC.

    Log returns of ~1.5 % per bar with regime changes in drift, a gap between a close and
    the next open on ~10 % of the bars, and occasional flat stretches where
    open = high = low = close (a halted or pegged market). Prices stay positive.
    """
    step = Interval.parse(interval).ms
    time = START_MS + step * np.arange(n, dtype=np.int64)
    o = np.empty(n)
    h = np.empty(n)
    lo = np.empty(n)
    c = np.empty(n)
    price = start_price
    drift = 0.0
    flat_left = 0
    for t in range(n):
        if rng.random() < 0.02:
            drift = rng.normal(0.0, 0.004)
        if flat_left == 0 and t > 0 and rng.random() < 0.015:
            flat_left = int(rng.integers(3, 12))
        if flat_left > 0:
            flat_left -= 1
            o[t] = h[t] = lo[t] = c[t] = price
            continue
        opening = price
        if t > 0 and rng.random() < 0.1:
            opening = price * float(np.exp(rng.normal(0.0, 0.02)))
        vol = 0.015 * (0.5 + rng.random())
        closing = opening * float(np.exp(drift + rng.normal(0.0, vol)))
        top, bottom = max(opening, closing), min(opening, closing)
        o[t] = opening
        c[t] = closing
        h[t] = top * float(np.exp(abs(rng.normal(0.0, vol / 2))))
        lo[t] = bottom * float(np.exp(-abs(rng.normal(0.0, vol / 2))))
        price = closing
    volume = rng.gamma(2.0, 50.0, size=n)
    return Bars.from_arrays(symbol, interval, time, o, h, lo, c, volume)


def load_real(name: str) -> Bars:
    """Candles of fixture file ``name`` (``SYMBOL-INTERVAL.csv``), read with numpy."""
    path = FIXTURES / name
    symbol, interval = path.stem.rsplit("-", 1)
    time = np.loadtxt(path, delimiter=",", skiprows=1, usecols=0, dtype=np.int64, ndmin=1)
    cols = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4, 5), ndmin=2)
    return Bars.from_arrays(
        symbol, interval, time, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], cols[:, 4]
    )


def make_bars(
    o: list[float],
    h: list[float],
    lo: list[float],
    c: list[float],
    symbol: str = "HAND",
    interval: str = "1h",
) -> Bars:
    """Hand-written candles (for scenarios)."""
    step = Interval.parse(interval).ms
    time = START_MS + step * np.arange(len(c), dtype=np.int64)
    return Bars.from_arrays(symbol, interval, time, o, h, lo, c)


def run_reference(
    bars: Bars, strategy: str, params: dict[str, Any], config: ExecutionConfig
) -> Any:
    """The reference oracle on ``bars`` (plain Python lists in, lists out)."""
    from coinbt.engine._reference import reference_backtest

    return reference_backtest(
        bars.time.tolist(),
        bars.open.tolist(),
        bars.high.tolist(),
        bars.low.tolist(),
        bars.close.tolist(),
        strategy,
        params,
        config,
    )


@pytest.fixture(scope="session")
def real_bars() -> dict[str, Bars]:
    """Every real fixture, keyed by file name."""
    return {name: load_real(name) for name in REAL_FILES}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


TRADE_INT_FIELDS = ("entry_bar", "exit_bar", "entry_time", "exit_time", "direction", "bars_held")
TRADE_MONEY_FIELDS = ("entry_fee", "exit_fee", "pnl")
TRADE_PRICE_FIELDS = ("entry_price", "exit_price", "qty")


def assert_matches_reference(res: Any, ref: Any, config: ExecutionConfig, where: str = "") -> None:
    """The fast engine's result ``res`` equals the reference's ``ref`` to 1e-9 relative:
    equity at every bar, trade count, every trade field (ints and reasons exactly)."""
    from coinbt.domain.trades import ExitReason

    money_atol = 1e-9 * config.initial_investment
    equity = np.asarray(ref.equity)
    assert len(res.equity) == len(equity), f"{where}: equity length"
    bad = ~np.isclose(res.equity, equity, rtol=1e-9, atol=money_atol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AssertionError(
            f"{where}: equity differs first at bar {i}: fast {res.equity[i]!r} "
            f"reference {equity[i]!r} ({int(bad.sum())} bars differ)"
        )
    fast = res.trades
    assert len(fast) == len(ref.trades), (
        f"{where}: {len(fast)} trades (fast) vs {len(ref.trades)} (reference); "
        f"fast entries {fast['entry_bar'].tolist()}, "
        f"reference entries {[t['entry_bar'] for t in ref.trades]}"
    )
    for k, (got, want) in enumerate(zip(fast, ref.trades, strict=True)):
        tag = f"{where}: trade {k}"
        for name in TRADE_INT_FIELDS:
            assert int(got[name]) == want[name], f"{tag} {name}: fast {got[name]} ref {want[name]}"
        reason = ExitReason(int(got["exit_reason"])).label
        assert reason == want["exit_reason"], f"{tag} exit_reason: fast {reason} ref {want}"
        for name in TRADE_PRICE_FIELDS:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, err_msg=f"{tag} {name}")
        for name in TRADE_MONEY_FIELDS:
            np.testing.assert_allclose(
                got[name], want[name], rtol=1e-9, atol=money_atol, err_msg=f"{tag} {name}"
            )
        np.testing.assert_allclose(
            got["return_pct"], want["return_pct"], rtol=1e-9, atol=1e-9, err_msg=f"{tag} return"
        )
