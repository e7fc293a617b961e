"""Mean reversion on Wilder's RSI: buy oversold, sell overbought."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import plan
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef, event_signals_of


def _events(p: Mapping[str, ParamValue]) -> tuple[plan.Event, ...]:
    line = plan.rsi(int(p["period"]))
    # Entry: RSI crosses below `lower`; exit: RSI crosses above `upper` (wins on one bar).
    return (
        plan.Cross(line, plan.const(float(p["lower"])), up=0, down=1),
        plan.Cross(line, plan.const(float(p["upper"])), up=-1, down=0),
    )


STRATEGY = StrategyDef(
    id=4,
    name="rsi",
    description="Mean reversion: buy when RSI drops below `lower`, sell above `upper`.",
    params=(
        Param("period", 14, 2, 200, description="RSI period, bars"),
        Param("lower", 30, 1, 49, kind="float", description="oversold level"),
        Param("upper", 70, 51, 99, kind="float", description="overbought level"),
    ),
    signals=event_signals_of(_events),
    events=_events,
)
