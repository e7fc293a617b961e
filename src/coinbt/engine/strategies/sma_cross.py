"""Trend following on two simple moving averages."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import fused, plan
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, fast_below_slow


def _events(p: Mapping[str, ParamValue]) -> tuple[plan.Event, ...]:
    return (plan.Cross(plan.sma(int(p["fast"])), plan.sma(int(p["slow"]))),)


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    if f.reuse:
        return plan.event_signals(f, _events(p))
    return fused.sma_cross(f.close, f.offsets, int(p["fast"]), int(p["slow"]))


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
    events=_events,
)
