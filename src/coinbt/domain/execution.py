"""Execution settings of a backtest: the assumptions every result carries."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import Enum, StrEnum
from typing import Any

from coinbt.errors import ParameterError


class Direction(StrEnum):
    """Which positions a strategy may take."""

    LONG = "long"
    LONGSHORT = "longshort"


class Fill(StrEnum):
    """When a signal computed on a bar's close is filled."""

    NEXT_OPEN = "next_open"
    CLOSE = "close"


@dataclass(frozen=True)
class ExecutionConfig:
    """How orders are filled and costed (see docs/execution.md).

    Percent options are in percent (``5`` means 5 %); ``0`` turns a stop off.
    """

    initial_investment: float = 10_000.0
    transaction_fee: float = 0.001
    slippage: float = 0.0
    direction: Direction = Direction.LONG
    fill: Fill = Fill.NEXT_OPEN
    stop_loss_pct: float = 0.0
    take_profit_pct: float = 0.0
    trailing_stop_pct: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", _enum(Direction, self.direction, "direction"))
        object.__setattr__(self, "fill", _enum(Fill, self.fill, "fill"))
        _bounded("initial_investment", self.initial_investment, 1e-9, 1e15)
        _bounded("transaction_fee", self.transaction_fee, 0.0, 0.5)
        _bounded("slippage", self.slippage, 0.0, 0.5)
        _bounded("stop_loss_pct", self.stop_loss_pct, 0.0, 99.99)
        _bounded("take_profit_pct", self.take_profit_pct, 0.0, 1e6)
        _bounded("trailing_stop_pct", self.trailing_stop_pct, 0.0, 99.99)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names accepted by :meth:`from_mapping`."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ExecutionConfig:
        """A config from loose values (strings from a command line or JSON)."""
        known = set(cls.option_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(
                f"unknown execution option(s): {', '.join(unknown)}",
                hint=f"valid options: {', '.join(sorted(known))}",
                field=unknown[0],
            )
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            kwargs[name] = value if name in ("direction", "fill") else _number(name, value)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = asdict(self)
        out["direction"] = self.direction.value
        out["fill"] = self.fill.value
        return out


def _enum(kind: type[Enum], value: object, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(str(m.value) for m in kind)
        raise ParameterError(
            f"{name} must be one of {valid}, not {value!r}", hint=f"use {valid}", field=name
        ) from None


def _number(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be a number, not {value!r}", hint="give a plain number", field=name
        ) from None


def _bounded(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or not lo <= value <= hi:
        raise ParameterError(
            f"{name}={value!r} is out of bounds",
            hint=f"{name} must be between {lo:g} and {hi:g}",
            field=name,
        )
