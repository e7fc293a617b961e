"""Strategies whose signal is one or two events on indicator columns.

Such a strategy declares its events once (a ``Cross`` or ``RunStart`` of two ``Column``
values). Two evaluators read the declaration: ``event_signals`` over whole-batch memoised
columns (runs and the generic sweep), and the fused sweep kernel (``sweeping.sweep_rules``),
which computes the distinct columns pair by pair from the table ``encode`` builds.
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
K_HIGHEST, K_LOWEST = 8, 9
MAX_WINDOWS = 3
# A rule row: (mode, a, b, up, down) of the first event, then of the second (mode -1: none).
MODE_NONE, MODE_CROSS, MODE_RUNS = -1, 0, 1
EVENT_COLS = 5
MAX_EVENTS = 2
RULE_COLS = EVENT_COLS * MAX_EVENTS


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


@dataclass(frozen=True)
class RunStart:
    """Signal ``value`` on the first bar of each run where ``a > b``; see
    ``signals.run_starts``."""

    a: Column
    b: Column
    value: int


Event = Cross | RunStart

CLOSE = Column(K_CLOSE)


def sma(w: int) -> Column:
    """Simple moving average of the close over ``w`` bars."""
    return Column(K_SMA, (w,))


def ema(w: int) -> Column:
    """Exponential moving average of the close, span ``w``."""
    return Column(K_EMA, (w,))


def rsi(p: int) -> Column:
    """Wilder's RSI of the close, period ``p``."""
    return Column(K_RSI, (p,))


def const(value: float) -> Column:
    """``value`` on every bar (a fixed level to cross)."""
    return Column(K_CONST, value=float(value))


def lower_band(w: int, width: float) -> Column:
    """SMA(w) - width * std(w): the lower Bollinger band."""
    return Column(K_LOWER_BAND, (w,), float(width))


def macd(fast: int, slow: int) -> Column:
    """The MACD line: EMA(fast) - EMA(slow) of the close."""
    return Column(K_MACD, (fast, slow))


def macd_signal(fast: int, slow: int, span: int) -> Column:
    """The MACD signal line: EMA(span) of the MACD line."""
    return Column(K_MACD_SIGNAL, (fast, slow, span))


def highest(w: int) -> Column:
    """The highest high of the ``w`` bars before each bar."""
    return Column(K_HIGHEST, (w,))


def lowest(w: int) -> Column:
    """The lowest low of the ``w`` bars before each bar."""
    return Column(K_LOWEST, (w,))


def event_signals(f: Features, events: tuple[Event, ...]) -> I8:
    """The signal column of ``events`` over memoised whole-batch columns: each later event
    overwrites the earlier ones on the bars where it fires (exits win over entries)."""
    out = _evaluate(f, events[0])
    for event in events[1:]:
        more = _evaluate(f, event)
        fired = more != 0
        out[fired] = more[fired]
    return out


def _evaluate(f: Features, e: Event) -> I8:
    a, b = f.column(e.a), f.column(e.b)
    if isinstance(e, Cross):
        return signals.crosses(a, b, f.offsets, e.up, e.down)
    return signals.run_starts(a, b, f.offsets, e.value, np.zeros(len(f), dtype=np.int8))


@dataclass(frozen=True)
class Table:
    """The fused kernel's inputs: distinct columns and one rule row per combination."""

    kinds: I64
    params: I64
    values: F64
    rules: I64


def encode(plans: list[tuple[Event, ...]]) -> Table:
    """Number the distinct columns of every combination's events (each is then computed
    once per pair) and write each combination's rule row."""
    index: dict[Column, int] = {}
    rules = np.zeros((len(plans), RULE_COLS), dtype=np.int64)
    rules[:, ::EVENT_COLS] = MODE_NONE
    for k, events in enumerate(plans):
        if not 1 <= len(events) <= MAX_EVENTS:
            raise ValueError("the fused sweep takes one or two events per combination")
        for j, e in enumerate(events):
            a = index.setdefault(e.a, len(index))
            b = index.setdefault(e.b, len(index))
            row = (
                (MODE_CROSS, a, b, e.up, e.down)
                if isinstance(e, Cross)
                else (MODE_RUNS, a, b, e.value, 0)
            )
            rules[k, EVENT_COLS * j : EVENT_COLS * (j + 1)] = row
    columns = list(index)
    params = np.zeros((len(columns), MAX_WINDOWS), dtype=np.int64)
    for j, col in enumerate(columns):
        params[j, : len(col.windows)] = col.windows
    kinds = np.array([col.kind for col in columns], dtype=np.int64)
    values = np.array([col.value for col in columns], dtype=np.float64)
    return Table(kinds, params, values, rules)
