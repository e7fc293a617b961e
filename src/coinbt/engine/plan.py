"""Strategies whose signal is one or two crosses of indicator columns.

Such a strategy declares its crosses once (``Cross`` of two ``Column`` values). Two
evaluators read the declaration: ``cross_signals`` over whole-batch memoised columns (runs
and the generic sweep), and the fused sweep kernel (``sweeping.sweep_rules``), which
computes the distinct columns pair by pair from the table ``encode`` builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coinbt.engine import signals
from coinbt.engine._types import F64, I8, I64

if TYPE_CHECKING:
    from coinbt.engine.features import Features

# Column kinds (the fused kernel's codes; formulas in sweep_columns.column).
K_CLOSE, K_SMA, K_EMA, K_RSI, K_CONST, K_LOWER_BAND, K_MACD, K_MACD_SIGNAL = range(8)
MAX_WINDOWS = 3
RULE_COLS = 8  # a, b, up, down of the first cross, then of the second (a2 = -1: none)


@dataclass(frozen=True)
class Column:
    """An indicator column: a kind, up to three windows and one float (constant, width)."""

    kind: int
    windows: tuple[int, ...] = ()
    value: float = 0.0


@dataclass(frozen=True)
class Cross:
    """Signal ``up`` where ``a`` crosses above ``b`` and ``down`` where it crosses below
    (0 disables either); see ``signals.crosses``."""

    a: Column
    b: Column
    up: int = 1
    down: int = -1


CLOSE = Column(K_CLOSE)


def sma(w: int) -> Column:
    return Column(K_SMA, (w,))


def ema(w: int) -> Column:
    return Column(K_EMA, (w,))


def rsi(p: int) -> Column:
    return Column(K_RSI, (p,))


def const(value: float) -> Column:
    return Column(K_CONST, value=float(value))


def lower_band(w: int, width: float) -> Column:
    """SMA(w) - width * std(w): the lower Bollinger band."""
    return Column(K_LOWER_BAND, (w,), float(width))


def macd(fast: int, slow: int) -> Column:
    return Column(K_MACD, (fast, slow))


def macd_signal(fast: int, slow: int, span: int) -> Column:
    return Column(K_MACD_SIGNAL, (fast, slow, span))


def cross_signals(f: Features, crosses: tuple[Cross, ...]) -> I8:
    """The signal column of ``crosses`` over memoised whole-batch columns: each later cross
    overwrites the earlier ones on the bars where it fires (exits win over entries)."""
    first = crosses[0]
    out = signals.crosses(f.column(first.a), f.column(first.b), f.offsets, first.up, first.down)
    for x in crosses[1:]:
        more = signals.crosses(f.column(x.a), f.column(x.b), f.offsets, x.up, x.down)
        fired = more != 0
        out[fired] = more[fired]
    return out


@dataclass(frozen=True)
class Table:
    """The fused kernel's inputs: distinct columns and one rule row per combination."""

    kinds: I64
    params: I64
    values: F64
    rules: I64


def encode(plans: list[tuple[Cross, ...]]) -> Table:
    """Number the distinct columns of every combination's crosses (each is then computed
    once per pair) and write each combination's rule row."""
    index: dict[Column, int] = {}
    rules = np.zeros((len(plans), RULE_COLS), dtype=np.int64)
    rules[:, 4] = -1
    for k, crosses in enumerate(plans):
        if not 1 <= len(crosses) <= 2:
            raise ValueError("the fused sweep takes one or two crosses per combination")
        for j, x in enumerate(crosses):
            a = index.setdefault(x.a, len(index))
            b = index.setdefault(x.b, len(index))
            rules[k, 4 * j : 4 * j + 4] = (a, b, x.up, x.down)
    columns = list(index)
    params = np.zeros((len(columns), MAX_WINDOWS), dtype=np.int64)
    for j, col in enumerate(columns):
        params[j, : len(col.windows)] = col.windows
    kinds = np.array([col.kind for col in columns], dtype=np.int64)
    values = np.array([col.value for col in columns], dtype=np.float64)
    return Table(kinds, params, values, rules)
