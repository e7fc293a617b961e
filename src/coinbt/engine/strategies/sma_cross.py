"""Trend following on two simple moving averages."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import fused, signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, fast_below_slow


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    fast, slow = int(p["fast"]), int(p["slow"])
    if f.reuse:
        return signals.crosses(f.sma(fast), f.sma(slow), f.offsets)
    return fused.sma_cross(f.close, f.offsets, fast, slow)


STRATEGY = StrategyDef(
    id=2,
    name="sma_cross",
    description="Long when the fast SMA crosses above the slow SMA, out when it crosses below.",
    params=(
        Param("fast", 10, 2, 500, description="fast SMA window, bars"),
        Param("slow", 30, 3, 1000, description="slow SMA window, bars"),
    ),
    signals=_signals,
    check=fast_below_slow,
)
