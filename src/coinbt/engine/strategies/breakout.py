"""Donchian channel breakout: buy new highs, sell new lows."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import plan
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, event_signals_of


def _events(p: Mapping[str, ParamValue]) -> tuple[plan.Event, ...]:
    # lowest > close is "close below the channel"; exits overwrite entries on one bar.
    return (
        plan.RunStart(plan.CLOSE, plan.highest(int(p["entry"])), 1),
        plan.RunStart(plan.lowest(int(p["exit"])), plan.CLOSE, -1),
    )


STRATEGY = StrategyDef(
    id=7,
    name="breakout",
    description="Buy when close beats the highest high of `entry` bars, sell below the "
    "lowest low of `exit` bars.",
    params=(
        Param("entry", 20, 2, 500, description="entry channel, bars"),
        Param("exit", 10, 2, 500, description="exit channel, bars"),
    ),
    signals=event_signals_of(_events),
    events=_events,
)
