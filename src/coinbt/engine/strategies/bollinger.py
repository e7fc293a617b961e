"""Mean reversion on Bollinger bands: buy below the lower band, sell back at the middle."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    w = int(p["period"])
    middle = f.sma(w)
    lower = middle - float(p["std_dev"]) * f.std(w)
    out = signals.crosses(f.close, lower, f.offsets, up=0, down=1)
    exits = signals.crosses(f.close, middle, f.offsets, up=-1, down=0)
    out[exits != 0] = -1
    return out


STRATEGY = StrategyDef(
    id=5,
    name="bollinger",
    description="Mean reversion: buy when close crosses below the lower band, sell at the middle.",
    params=(
        Param("period", 20, 2, 500, description="band window, bars"),
        Param("std_dev", 2.0, 0.1, 5.0, kind="float", description="band width, std devs"),
    ),
    signals=_signals,
)
