"""Candle intervals, in Binance spelling."""

from __future__ import annotations

from enum import StrEnum

from coinbt.errors import InputError

_MINUTE = 60_000
_DAY = 1440 * _MINUTE


class Interval(StrEnum):
    """A candle interval; its value is the Binance spelling (``"1h"``)."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"

    @property
    def ms(self) -> int:
        """Duration of one candle in milliseconds."""
        return _DURATION_MS[self]

    @property
    def days(self) -> float:
        """Duration of one candle in days (1/24 for ``1h``)."""
        return self.ms / _DAY

    @property
    def bars_per_year(self) -> float:
        """Candles in a 365-day year: the annualisation factor of the metrics."""
        return 365 * _DAY / self.ms

    @classmethod
    def parse(cls, text: str | Interval) -> Interval:
        """The interval spelled ``text``; raises :class:`InputError` listing valid spellings."""
        if isinstance(text, Interval):
            return text
        try:
            return cls(text)
        except ValueError:
            valid = ", ".join(i.value for i in cls)
            raise InputError(
                f"unknown interval {text!r}", hint=f"use one of {valid}", field="interval"
            ) from None


_DURATION_MS: dict[Interval, int] = {
    Interval.M1: _MINUTE,
    Interval.M5: 5 * _MINUTE,
    Interval.M15: 15 * _MINUTE,
    Interval.M30: 30 * _MINUTE,
    Interval.H1: 60 * _MINUTE,
    Interval.H4: 240 * _MINUTE,
    Interval.D1: _DAY,
    Interval.W1: 7 * _DAY,
}
