"""Buy on the first bar, hold to the end: the benchmark every strategy is held against."""

from __future__ import annotations

from collections.abc import Mapping

from coinbt.engine import signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import ParamValue, StrategyDef


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    return signals.first_bar(f.offsets, len(f))


STRATEGY = StrategyDef(
    id=1,
    name="buy_and_hold",
    description="Buy with all cash on the first bar and hold to the end.",
    params=(),
    signals=_signals,
)
