"""Trend following on the MACD line and its signal line."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, fast_below_slow


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    fast, slow, sig = int(p["fast"]), int(p["slow"]), int(p["signal"])
    return signals.crosses(f.macd(fast, slow), f.macd_signal(fast, slow, sig), f.offsets)


STRATEGY = StrategyDef(
    id=6,
    name="macd",
    description="Long when MACD crosses above its signal line, out when it crosses below.",
    params=(
        Param("fast", 12, 2, 200, description="fast EMA span, bars"),
        Param("slow", 26, 3, 500, description="slow EMA span, bars"),
        Param("signal", 9, 2, 200, description="signal line EMA span, bars"),
    ),
    signals=_signals,
    check=fast_below_slow,
)
