"""Trend following on the MACD line and its signal line."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import plan
from coinbt.engine.strategies.base import (
    Param,
    ParamValue,
    StrategyDef,
    event_signals_of,
    fast_below_slow,
)


def _events(p: Mapping[str, ParamValue]) -> tuple[plan.Event, ...]:
    fast, slow, sig = int(p["fast"]), int(p["slow"]), int(p["signal"])
    return (plan.Cross(plan.macd(fast, slow), plan.macd_signal(fast, slow, sig)),)


STRATEGY = StrategyDef(
    id=6,
    name="macd",
    description="Long when MACD crosses above its signal line, out when it crosses below.",
    params=(
        Param("fast", 12, 2, 200, description="fast EMA span, bars"),
        Param("slow", 26, 3, 500, description="slow EMA span, bars"),
        Param("signal", 9, 2, 200, description="signal line EMA span, bars"),
    ),
    signals=event_signals_of(_events),
    check=fast_below_slow,
    events=_events,
)
