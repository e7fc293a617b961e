"""Donchian channel breakout: buy new highs, sell new lows."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from coinbt.engine import signals
from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.strategies.base import Param, ParamValue, StrategyDef


def _signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
    out = np.zeros(len(f), dtype=np.int8)
    signals.run_starts(f.close, f.highest(int(p["entry"])), f.offsets, 1, out)
    # lowest > close is "close below the channel"; exits overwrite entries on one bar.
    signals.run_starts(f.lowest(int(p["exit"])), f.close, f.offsets, -1, out)
    return out


STRATEGY = StrategyDef(
    id=7,
    name="breakout",
    description="Buy when close beats the highest high of `entry` bars, sell below the "
    "lowest low of `exit` bars.",
    params=(
        Param("entry", 20, 2, 500, description="entry channel, bars"),
        Param("exit", 10, 2, 500, description="exit channel, bars"),
    ),
    signals=_signals,
)
