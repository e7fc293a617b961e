"""Candle columns plus memoised indicators, shared by the strategies' signal functions.

A parameter sweep reuses one ``Features`` across combinations, so SMA(20) is computed once
however many combinations use it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coinbt.engine import indicators, plan
from coinbt.engine._types import F64, I64


class Features:
    """Columns of one or many pairs (``offsets`` delimit pairs) and cached indicators."""

    def __init__(self, o: F64, h: F64, lo: F64, c: F64, offsets: I64, *, reuse: bool) -> None:
        self.reuse = reuse
        """True when several parameter sets will read these features (a sweep): strategies
        then build signals from memoised whole-batch indicators instead of fused kernels."""
        self.open = o
        self.high = h
        self.low = lo
        self.close = c
        self.offsets = offsets
        self._memo: dict[tuple[object, ...], F64] = {}

    def __len__(self) -> int:
        return len(self.close)

    def _get(self, key: tuple[object, ...], make: Callable[[], F64]) -> F64:
        found = self._memo.get(key)
        if found is None:
            found = make()
            self._memo[key] = found
        return found

    def sma(self, w: int) -> F64:
        return self._get(("sma", w), lambda: indicators.sma(self.close, self.offsets, w))

    def ema(self, w: int) -> F64:
        return self._get(("ema", w), lambda: indicators.ema(self.close, self.offsets, w))

    def rsi(self, p: int) -> F64:
        return self._get(("rsi", p), lambda: indicators.rsi(self.close, self.offsets, p))

    def std(self, w: int) -> F64:
        return self._get(
            ("std", w), lambda: indicators.rolling_std(self.close, self.offsets, w, self.sma(w))
        )

    def macd(self, fast: int, slow: int) -> F64:
        return self._get(("macd", fast, slow), lambda: self.ema(fast) - self.ema(slow))

    def macd_signal(self, fast: int, slow: int, signal: int) -> F64:
        return self._get(
            ("macd_signal", fast, slow, signal),
            lambda: indicators.ema(self.macd(fast, slow), self.offsets, signal),
        )

    def highest(self, w: int) -> F64:
        return self._get(("hh", w), lambda: indicators.prior_max(self.high, self.offsets, w))

    def lowest(self, w: int) -> F64:
        return self._get(("ll", w), lambda: indicators.prior_min(self.low, self.offsets, w))

    def constant(self, value: float) -> F64:
        return self._get(("const", value), lambda: np.full(len(self.close), float(value)))

    def lower_band(self, w: int, width: float) -> F64:
        return self._get(("lower", w, width), lambda: self.sma(w) - width * self.std(w))

    def column(self, col: plan.Column) -> F64:
        """The column ``col`` describes (kinds: ``plan.K_*``), memoised."""
        w = col.windows
        makers: dict[int, Callable[[], F64]] = {
            plan.K_CLOSE: lambda: self.close,
            plan.K_SMA: lambda: self.sma(w[0]),
            plan.K_EMA: lambda: self.ema(w[0]),
            plan.K_RSI: lambda: self.rsi(w[0]),
            plan.K_CONST: lambda: self.constant(col.value),
            plan.K_LOWER_BAND: lambda: self.lower_band(w[0], col.value),
            plan.K_MACD: lambda: self.macd(w[0], w[1]),
            plan.K_MACD_SIGNAL: lambda: self.macd_signal(w[0], w[1], w[2]),
            plan.K_HIGHEST: lambda: self.highest(w[0]),
            plan.K_LOWEST: lambda: self.lowest(w[0]),
        }
        return makers[col.kind]()
