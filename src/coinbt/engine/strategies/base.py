"""What a strategy is: named, bounded parameters and a function from candles to signals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from coinbt.engine._types import I8
from coinbt.engine.features import Features
from coinbt.engine.plan import Event, event_signals
from coinbt.errors import ParameterError

ParamValue = int | float


@dataclass(frozen=True)
class Param:
    """One strategy parameter: its default, inclusive bounds, kind and meaning."""

    name: str
    default: ParamValue
    min: ParamValue
    max: ParamValue
    kind: Literal["int", "float"] = "int"
    description: str = ""

    def coerce(self, value: object) -> ParamValue:
        """``value`` as this parameter's kind, checked against the bounds."""
        number = _number(self.name, value)
        if self.kind == "int":
            if number != int(number):
                raise ParameterError(
                    f"{self.name} must be a whole number, not {value!r}",
                    hint=f"{self.name} is an integer between {self.min} and {self.max}",
                    field=self.name,
                )
            number = int(number)
        if not self.min <= number <= self.max:
            raise ParameterError(
                f"{self.name}={value!r} is out of bounds",
                hint=f"{self.name} must be between {self.min} and {self.max}",
                field=self.name,
            )
        return number

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "description": self.description,
        }


SignalFn = Callable[[Features, Mapping[str, ParamValue]], I8]
CheckFn = Callable[[Mapping[str, ParamValue]], str | None]
EventFn = Callable[[Mapping[str, ParamValue]], tuple[Event, ...]]


@dataclass(frozen=True)
class StrategyDef:
    """A built-in strategy: stable ``id`` and ``name``, parameters, and its signal function.

    ``order_amount`` names the parameter holding a fixed buy amount (DCA); strategies
    without it go all-in on each entry. ``events``, when set, gives the signal as one or
    two events on indicator columns (``coinbt.engine.plan``), equal to ``signals``: sweeps
    then run the fused pair-by-pair kernel.
    """

    id: int
    name: str
    description: str
    params: tuple[Param, ...]
    signals: SignalFn = field(repr=False)
    check: CheckFn | None = field(default=None, repr=False)
    order_amount: str | None = None
    events: EventFn | None = field(default=None, repr=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(
            f"{self.name} has no parameter {name!r}",
            hint=f"its parameters are: {', '.join(self.param_names) or 'none'}",
            field=name,
        )

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def resolve(self, values: Mapping[str, object] | None = None) -> dict[str, ParamValue]:
        """Defaults overlaid with ``values``, each coerced and checked."""
        given = dict(values or {})
        resolved = {p.name: p.coerce(given.pop(p.name, p.default)) for p in self.params}
        if given:
            self.param(next(iter(given)))  # raises, naming the valid parameters
        problem = self.check(resolved) if self.check else None
        if problem:
            raise ParameterError(f"{self.name}: {problem}", hint="adjust the parameters")
        return resolved

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "parameters": [p.to_dict() for p in self.params],
        }


def event_signals_of(events: EventFn) -> SignalFn:
    """A signal function that evaluates ``events`` over memoised columns."""

    def signals(f: Features, p: Mapping[str, ParamValue]) -> I8:
        return event_signals(f, events(p))

    return signals


def fast_below_slow(values: Mapping[str, ParamValue]) -> str | None:
    """Check shared by the crossover strategies."""
    if values["fast"] >= values["slow"]:
        return f"fast ({values['fast']}) must be smaller than slow ({values['slow']})"
    return None


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        value = int(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be a number, not {value!r}", hint="give a plain number", field=name
        ) from None
    if not math.isfinite(number):
        raise ParameterError(f"{name} must be finite", hint="give a plain number", field=name)
    return number
