"""Trend following on two exponential moving averages."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import fused, signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, fast_below_slow


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    fast, slow = int(p["fast"]), int(p["slow"])
    if f.reuse:
        return signals.crosses(f.ema(fast), f.ema(slow), f.offsets)
    return fused.ema_cross(f.close, f.offsets, fast, slow)


STRATEGY = StrategyDef(
    id=3,
    name="ema_cross",
    description="Long when the fast EMA crosses above the slow EMA, out when it crosses below.",
    params=(
        Param("fast", 12, 2, 500, description="fast EMA span, bars"),
        Param("slow", 26, 3, 1000, description="slow EMA span, bars"),
    ),
    signals=_signals,
    check=fast_below_slow,
)
