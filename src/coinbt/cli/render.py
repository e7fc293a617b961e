"""Output of the ``coinbt`` commands: rich tables for people, JSON for programs, errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from coinbt.domain.timeutil import format_ms
from coinbt.errors import CoinbtError

PIPE_WIDTH = 120  # output to a file or a pipe is not wrapped at 80 columns


def console() -> Console:
    """A console on the current stdout that never interprets markup in data."""
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(markup=False, highlight=False, emoji=False, width=width)


def table(*columns: str, right: Collection[str] = ()) -> Table:
    """An empty table; the columns named in ``right`` (numbers) are right-aligned."""
    out = Table(box=box.SIMPLE_HEAD)
    for name in columns:
        out.add_column(name, justify="right" if name in right else "left")
    return out


def print_json(payload: Any) -> None:
    """``payload`` as indented JSON on stdout (strict: no NaN)."""
    sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")


def print_error(exc: CoinbtError) -> None:
    """The message and the hint of an error on stderr."""
    sys.stderr.write(f"error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")


def print_unexpected(exc: BaseException) -> None:
    """A one-line account of a bug, without the traceback."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(f"error: unexpected {type(exc).__name__}: {text}\n")
    sys.stderr.write("hint: rerun with --debug for the traceback, and please report it\n")


def metric(name: str, value: float) -> str:
    """A metric for people: percentages with a % sign, counts as integers."""
    if name.endswith("_pct"):
        return f"{value:,.2f} %"
    if name in ("num_trades", "max_drawdown_bars"):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def price(value: float) -> str:
    """A price readable at any magnitude (BTC in dollars, meme coins in millionths)."""
    size = abs(value)
    if size >= 1000:
        return f"{value:,.2f}"
    if size >= 1:
        return f"{value:,.4f}"
    return f"{value:.8g}"


def when(ms: int | None, *, date_only: bool = False) -> str:
    """An open time as ``2024-01-01 00:00`` (UTC), or ``2024-01-01``; ``-`` for none."""
    if ms is None:
        return "-"
    text = format_ms(int(ms))
    return text[:10] if date_only else text


def number(value: float | int) -> str:
    """A parameter value: whole numbers without a fraction, ``1,000,000`` grouped."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int) else repr(value)


def params_text(params: dict[str, Any]) -> str:
    """``fast=10, slow=30``; ``no parameters`` for none."""
    return ", ".join(f"{k}={number(v)}" for k, v in params.items()) or "no parameters"


def assumptions_text(assumptions: dict[str, Any]) -> str:
    """The execution assumptions of a result on one line."""
    parts = [
        f"fee {100 * assumptions['transaction_fee']:g} %",
        f"slippage {100 * assumptions['slippage']:g} %",
        f"{assumptions['direction']}",
        f"fill at {assumptions['fill']}",
        f"initial {assumptions['initial_investment']:,.2f}",
    ]
    for key, label in (
        ("stop_loss_pct", "stop loss"),
        ("take_profit_pct", "take profit"),
        ("trailing_stop_pct", "trailing stop"),
    ):
        if assumptions.get(key):
            parts.append(f"{label} {assumptions[key]:g} %")
    return ", ".join(parts)
