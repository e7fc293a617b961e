"""Mean reversion on Wilder's RSI: buy oversold, sell overbought."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    rsi = f.rsi(int(p["period"]))
    # Entry: RSI crosses below `lower`; exit: RSI crosses above `upper`.
    out = signals.crosses(rsi, f.constant(float(p["lower"])), f.offsets, up=0, down=1)
    exits = signals.crosses(rsi, f.constant(float(p["upper"])), f.offsets, up=-1, down=0)
    out[exits != 0] = -1
    return out


STRATEGY = StrategyDef(
    id=4,
    name="rsi",
    description="Mean reversion: buy when RSI drops below `lower`, sell above `upper`.",
    params=(
        Param("period", 14, 2, 200, description="RSI period, bars"),
        Param("lower", 30, 1, 49, kind="float", description="oversold level"),
        Param("upper", 70, 51, 99, kind="float", description="overbought level"),
    ),
    signals=_signals,
)
