"""The built-in strategy catalogue, by stable id and name."""

from __future__ import annotations

from coinbt.engine.strategies import (
    bollinger,
    breakout,
    buy_and_hold,
    dca,
    ema_cross,
    macd,
    rsi,
    sma_cross,
)
from coinbt.engine.strategies.base import Param, StrategyDef
from coinbt.errors import UnknownStrategyError

__all__ = ["Param", "StrategyDef", "all_strategies", "get_strategy"]

_CATALOGUE: tuple[StrategyDef, ...] = tuple(
    m.STRATEGY for m in (buy_and_hold, sma_cross, ema_cross, rsi, bollinger, macd, breakout, dca)
)


def all_strategies() -> tuple[StrategyDef, ...]:
    """Every built-in strategy, ordered by id."""
    return _CATALOGUE


def get_strategy(key: str | int | StrategyDef) -> StrategyDef:
    """A strategy by id (``2`` or ``"2"``) or name (``"sma_cross"``, any case)."""
    if isinstance(key, StrategyDef):
        return key
    text = str(key).strip().lower()
    for s in _CATALOGUE:
        if text in (s.name, str(s.id)):
            return s
    known = ", ".join(f"{s.id}={s.name}" for s in _CATALOGUE)
    raise UnknownStrategyError(
        f"unknown strategy {key!r}", hint=f"known strategies: {known}", field="strategy"
    )
