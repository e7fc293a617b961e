"""Mean reversion on Bollinger bands: buy below the lower band, sell back at the middle."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import plan
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, event_signals_of


def _events(p: Mapping[str, ParamValue]) -> tuple[plan.Event, ...]:
    w = int(p["period"])
    # Entry: close crosses below the lower band; exit: above the middle (wins on one bar).
    return (
        plan.Cross(plan.CLOSE, plan.lower_band(w, float(p["std_dev"])), up=0, down=1),
        plan.Cross(plan.CLOSE, plan.sma(w), up=-1, down=0),
    )


STRATEGY = StrategyDef(
    id=5,
    name="bollinger",
    description="Mean reversion: buy when close crosses below the lower band, sell at the middle.",
    params=(
        Param("period", 20, 2, 500, description="band window, bars"),
        Param("std_dev", 2.0, 0.1, 5.0, kind="float", description="band width, std devs"),
    ),
    signals=event_signals_of(_events),
    events=_events,
)
