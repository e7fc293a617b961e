"""Dollar-cost averaging: buy a fixed amount every N bars, never sell."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    return signals.every(f.offsets, len(f), int(p["every"]))


STRATEGY = StrategyDef(
    id=8,
    name="dca",
    description="Buy `amount` of quote currency every `every` bars while cash lasts; never sell.",
    params=(
        Param("every", 7, 1, 10_000, description="bars between buys"),
        Param("amount", 500.0, 1.0, 1e9, kind="float", description="quote currency per buy"),
    ),
    signals=_signals,
    order_amount="amount",
)
