"""Trend following on two exponential moving averages."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import fused, plan
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, fast_below_slow


def _events(p: Mapping[str, ParamValue]) -> tuple[plan.Event, ...]:
    return (plan.Cross(plan.ema(int(p["fast"])), plan.ema(int(p["slow"]))),)


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    if f.reuse:
        return plan.event_signals(f, _events(p))
    return fused.ema_cross(f.close, f.offsets, int(p["fast"]), int(p["slow"]))


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
    events=_events,
)
