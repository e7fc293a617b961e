"""Slow, obvious reference backtester: the test suite's oracle. NOT for production use.

This module is a second, independent implementation of ``docs/execution.md`` and
``docs/strategies.md``, written from the documents alone in plain Python (lists, loops,
``math.fsum`` for window sums, no numpy, no numba). The test suite checks that the fast
engine agrees with it to 1e-9 on every equity value and every trade field. Nothing in
coinbt calls it; keep it simple rather than fast, and change it only when the docs change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coinbt.domain.execution import Direction, ExecutionConfig, Fill
from coinbt.domain.trades import ExitReason
from coinbt.errors import DataRangeError, ParameterError, UnknownStrategyError

__all__ = ["STRATEGY_DEFAULTS", "ReferenceResult", "reference_backtest", "reference_signals"]

# Optional indicator value: None where the indicator does not exist yet.
Series = list[float | None]

STRATEGY_DEFAULTS: dict[str, dict[str, float]] = {
    "buy_and_hold": {},
    "sma_cross": {"fast": 10, "slow": 30},
    "ema_cross": {"fast": 12, "slow": 26},
    "rsi": {"period": 14, "lower": 30, "upper": 70},
    "bollinger": {"period": 20, "std_dev": 2.0},
    "macd": {"fast": 12, "slow": 26, "signal": 9},
    "breakout": {"entry": 20, "exit": 10},
    "dca": {"every": 7, "amount": 500},
}
"""Default parameters of every strategy of docs/strategies.md."""

_REL_TOL = 1e-12


@dataclass
class ReferenceResult:
    """Equity and position at each bar's close, the trade records and the signals."""

    equity: list[float]
    position: list[float]
    trades: list[dict[str, object]]
    signals: list[int]


# --------------------------------------------------------------------------- comparisons


def _gt(a: float, b: float) -> bool:
    """``a > b`` beyond a relative tolerance of 1e-12 (docs/strategies.md)."""
    return a - b > _REL_TOL * max(abs(a), abs(b))


def _lt(a: float, b: float) -> bool:
    """``a < b`` beyond a relative tolerance of 1e-12 (docs/strategies.md)."""
    return b - a > _REL_TOL * max(abs(a), abs(b))


def _crosses_above(a: Series, b: Series, t: int) -> bool:
    if t < 1:
        return False
    a0, a1, b0, b1 = a[t - 1], a[t], b[t - 1], b[t]
    if a0 is None or a1 is None or b0 is None or b1 is None:
        return False
    return _gt(a1, b1) and not _gt(a0, b0)


def _crosses_below(a: Series, b: Series, t: int) -> bool:
    if t < 1:
        return False
    a0, a1, b0, b1 = a[t - 1], a[t], b[t - 1], b[t]
    if a0 is None or a1 is None or b0 is None or b1 is None:
        return False
    return _lt(a1, b1) and not _lt(a0, b0)


def _constant(value: float, n: int) -> Series:
    return [value] * n


# --------------------------------------------------------------------------- indicators


def sma(x: Sequence[float], w: int) -> Series:
    """Mean of ``x[t-w+1 .. t]``, defined from ``t = w-1``."""
    out: Series = [None] * len(x)
    for t in range(w - 1, len(x)):
        out[t] = math.fsum(x[t - w + 1 : t + 1]) / w
    return out


def ema(x: Sequence[float], w: int) -> Series:
    """EMA with ``alpha = 2/(w+1)``, seeded with SMA(w) at ``t = w-1``."""
    out: Series = [None] * len(x)
    if len(x) < w:
        return out
    alpha = 2.0 / (w + 1)
    prev = math.fsum(x[0:w]) / w
    out[w - 1] = prev
    for t in range(w, len(x)):
        prev = alpha * x[t] + (1.0 - alpha) * prev
        out[t] = prev
    return out


def rsi(x: Sequence[float], p: int) -> Series:
    """Wilder RSI, defined from ``t = p``."""
    n = len(x)
    out: Series = [None] * n
    if n <= p:
        return out
    gains = [0.0] * n
    losses = [0.0] * n
    for t in range(1, n):
        d = x[t] - x[t - 1]
        gains[t] = max(d, 0.0)
        losses[t] = max(-d, 0.0)
    gain = math.fsum(gains[1 : p + 1]) / p
    loss = math.fsum(losses[1 : p + 1]) / p
    out[p] = _rsi_value(gain, loss)
    for t in range(p + 1, n):
        gain = (gain * (p - 1) + gains[t]) / p
        loss = (loss * (p - 1) + losses[t]) / p
        out[t] = _rsi_value(gain, loss)
    return out


def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 50.0 if gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def bollinger(x: Sequence[float], p: int, k: float) -> tuple[Series, Series, Series]:
    """(lower, middle, upper): SMA(p) ± k × population std of the same window."""
    n = len(x)
    lower: Series = [None] * n
    middle: Series = [None] * n
    upper: Series = [None] * n
    for t in range(p - 1, n):
        window = x[t - p + 1 : t + 1]
        mean = math.fsum(window) / p
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in window) / p)
        lower[t] = mean - k * std
        middle[t] = mean
        upper[t] = mean + k * std
    return lower, middle, upper


def macd(x: Sequence[float], f: int, s: int, g: int) -> tuple[Series, Series]:
    """(line, signal): line = EMA(f) - EMA(s) from ``t = s-1``; signal = EMA(g) of the line
    seeded with the mean of its first g values (defined from ``t = s+g-2``)."""
    n = len(x)
    fast, slow = ema(x, f), ema(x, s)
    line: Series = [None] * n
    for t in range(n):
        a, b = fast[t], slow[t]
        if a is not None and b is not None:
            line[t] = a - b
    signal: Series = [None] * n
    start = s - 1
    seed_at = s + g - 2
    if seed_at < n:
        defined = [v for v in line[start : seed_at + 1] if v is not None]
        prev = math.fsum(defined) / g
        signal[seed_at] = prev
        alpha = 2.0 / (g + 1)
        for t in range(seed_at + 1, n):
            value = line[t]
            assert value is not None
            prev = alpha * value + (1.0 - alpha) * prev
            signal[t] = prev
    return line, signal


def donchian_high(high: Sequence[float], w: int) -> Series:
    """Highest high of bars ``t-w .. t-1``, defined from ``t = w``."""
    out: Series = [None] * len(high)
    for t in range(w, len(high)):
        out[t] = max(high[t - w : t])
    return out


def donchian_low(low: Sequence[float], w: int) -> Series:
    """Lowest low of bars ``t-w .. t-1``, defined from ``t = w``."""
    out: Series = [None] * len(low)
    for t in range(w, len(low)):
        out[t] = min(low[t - w : t])
    return out


# --------------------------------------------------------------------------- strategies


def _int_param(params: Mapping[str, float], name: str) -> int:
    value = params[name]
    if value != int(value):
        raise ParameterError(f"{name} must be an integer, not {value!r}", field=name)
    return int(value)


def _cross_signals(a: Series, b: Series) -> list[int]:
    out = [0] * len(a)
    for t in range(1, len(a)):
        if _crosses_above(a, b, t):
            out[t] = 1
        elif _crosses_below(a, b, t):
            out[t] = -1
    return out


def _first_of_runs(cond: list[bool | None], t: int) -> bool:
    """True on the first bar of a run of the condition (a bar whose previous bar has no
    defined value counts as a first bar)."""
    now = cond[t]
    if not now:
        return False
    return t == 0 or not cond[t - 1]


def reference_signals(
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    strategy: str,
    params: Mapping[str, float],
) -> list[int]:
    """One signal event per bar (+1, -1, 0) of ``strategy`` (docs/strategies.md)."""
    n = len(close)
    p = {**STRATEGY_DEFAULTS.get(strategy, {}), **params}
    if strategy == "buy_and_hold":
        out = [0] * n
        if n:
            out[0] = 1
        return out
    if strategy == "sma_cross":
        return _cross_signals(sma(close, _int_param(p, "fast")), sma(close, _int_param(p, "slow")))
    if strategy == "ema_cross":
        return _cross_signals(ema(close, _int_param(p, "fast")), ema(close, _int_param(p, "slow")))
    if strategy == "macd":
        line, signal = macd(
            close, _int_param(p, "fast"), _int_param(p, "slow"), _int_param(p, "signal")
        )
        return _cross_signals(line, signal)
    if strategy == "rsi":
        values = rsi(close, _int_param(p, "period"))
        lower, upper = _constant(float(p["lower"]), n), _constant(float(p["upper"]), n)
        out = [0] * n
        for t in range(1, n):
            if _crosses_below(values, lower, t):
                out[t] = 1
            elif _crosses_above(values, upper, t):
                out[t] = -1
        return out
    if strategy == "bollinger":
        band_lo, middle, _ = bollinger(close, _int_param(p, "period"), float(p["std_dev"]))
        prices: Series = list(close)
        out = [0] * n
        for t in range(1, n):
            if _crosses_below(prices, band_lo, t):
                out[t] = 1
            elif _crosses_above(prices, middle, t):
                out[t] = -1
        return out
    if strategy == "breakout":
        hh = donchian_high(high, _int_param(p, "entry"))
        ll = donchian_low(low, _int_param(p, "exit"))
        up: list[bool | None] = [None] * n
        down: list[bool | None] = [None] * n
        for t in range(n):
            h, lo = hh[t], ll[t]
            if h is not None:
                up[t] = _gt(close[t], h)
            if lo is not None:
                down[t] = _lt(close[t], lo)
        out = [0] * n
        for t in range(n):
            if _first_of_runs(up, t):
                out[t] = 1
            elif _first_of_runs(down, t):
                out[t] = -1
        return out
    if strategy == "dca":
        every = _int_param(p, "every")
        return [1 if t % every == 0 else 0 for t in range(n)]
    raise UnknownStrategyError(f"unknown strategy {strategy!r}")


# --------------------------------------------------------------------------- simulation


@dataclass
class _Position:
    direction: int  # 1 long, -1 short
    qty: float
    entry_price: float  # the fill price; the quantity-weighted mean of the fills for DCA
    entry_fee: float
    entry_bar: int
    trail: float  # highest high (long) / lowest low (short) since entry


@dataclass
class _Sim:
    time: Sequence[int]
    config: ExecutionConfig
    cash: float
    pos: _Position | None = None
    dead: bool = False  # liquidated: no further orders fill
    trades: list[dict[str, object]] = field(default_factory=list)

    # fills -------------------------------------------------------------------------
    def _buy_price(self, price: float) -> float:
        return price * (1.0 + self.config.slippage)

    def _sell_price(self, price: float) -> float:
        return price * (1.0 - self.config.slippage)

    def enter(self, direction: int, ref_price: float, bar: int, amount: float | None) -> None:
        """Open a position (or add to a long when ``amount`` is given)."""
        fee = self.config.transaction_fee
        price = self._buy_price(ref_price) if direction == 1 else self._sell_price(ref_price)
        spend = self.cash if amount is None else min(amount, self.cash)
        if spend <= 0.0:
            return
        qty = spend / (price * (1.0 + fee))
        fee_paid = fee * qty * price
        if direction == 1:
            self.cash -= qty * price + fee_paid
        else:
            self.cash += qty * price - fee_paid
        if self.pos is None:
            self.pos = _Position(direction, qty, price, fee_paid, bar, price)
        else:  # DCA: add to the open long; the trailing reference is kept
            pos = self.pos
            total = pos.qty + qty
            pos.entry_price = (pos.qty * pos.entry_price + qty * price) / total
            pos.qty = total
            pos.entry_fee += fee_paid

    def exit(self, ref_price: float, bar: int, reason: ExitReason, *, slip: bool = True) -> None:
        """Close the open position at ``ref_price`` (before slippage) and record the trade."""
        pos = self.pos
        assert pos is not None
        fee = self.config.transaction_fee
        if not slip:
            price = ref_price
        elif pos.direction == 1:
            price = self._sell_price(ref_price)
        else:
            price = self._buy_price(ref_price)
        fee_paid = 0.0 if reason is ExitReason.END else fee * pos.qty * price
        if reason is not ExitReason.END:
            if pos.direction == 1:
                self.cash += pos.qty * price - fee_paid
            else:
                self.cash -= pos.qty * price + fee_paid
        entry_price = pos.entry_price
        pnl = pos.direction * pos.qty * (price - entry_price) - pos.entry_fee - fee_paid
        committed = pos.qty * entry_price + pos.entry_fee
        self.trades.append(
            {
                "entry_bar": pos.entry_bar,
                "exit_bar": bar,
                "entry_time": int(self.time[pos.entry_bar]),
                "exit_time": int(self.time[bar]),
                "direction": pos.direction,
                "entry_price": entry_price,
                "exit_price": price,
                "qty": pos.qty,
                "entry_fee": pos.entry_fee,
                "exit_fee": fee_paid,
                "pnl": pnl,
                "return_pct": 100.0 * pnl / committed,
                "bars_held": bar - pos.entry_bar,
                "exit_reason": reason.label,
            }
        )
        if reason is not ExitReason.END:
            self.pos = None

    def on_signal(self, signal: int, price: float, bar: int, amount: float | None) -> None:
        """Apply one signal event at reference price ``price``."""
        if self.dead or signal == 0:
            return
        longshort = self.config.direction is Direction.LONGSHORT
        pos = self.pos
        if signal == 1:
            if pos is None:
                self.enter(1, price, bar, amount)
            elif pos.direction == 1:
                if amount is not None:
                    self.enter(1, price, bar, amount)
            else:  # short: reverse (only reachable in long/short mode)
                self.exit(price, bar, ExitReason.SIGNAL)
                self.enter(1, price, bar, amount)
        elif signal == -1:
            if pos is None:
                if longshort:
                    self.enter(-1, price, bar, None)
            elif pos.direction == 1:
                self.exit(price, bar, ExitReason.SIGNAL)
                if longshort:
                    self.enter(-1, price, bar, None)

    # stops ---------------------------------------------------------------------------
    def check_stops(self, o: float, h: float, lo: float) -> tuple[float, ExitReason] | None:
        """The exit (reference price, reason) the stops of the open position take on a bar
        with open ``o``, high ``h`` and low ``lo``, or None."""
        pos = self.pos
        cfg = self.config
        if pos is None:
            return None
        sl, tp, tr = cfg.stop_loss_pct, cfg.take_profit_pct, cfg.trailing_stop_pct
        if sl <= 0 and tp <= 0 and tr <= 0:
            return None
        entry = pos.entry_price
        d = pos.direction
        stop: float | None = None
        stop_reason = ExitReason.STOP_LOSS
        if sl > 0:
            stop = entry * (1.0 - d * sl / 100.0)
        if tr > 0:
            trail_level = pos.trail * (1.0 - d * tr / 100.0)
            # The higher (long) / lower (short) level wins; a tie stays stop_loss.
            if stop is None or d * trail_level > d * stop:
                stop = trail_level
                stop_reason = ExitReason.TRAILING_STOP
        target: float | None = entry * (1.0 + d * tp / 100.0) if tp > 0 else None
        if d == 1:
            if stop is not None and o <= stop:
                return o, stop_reason
            if target is not None and o >= target:
                return o, ExitReason.TAKE_PROFIT
            if stop is not None and lo <= stop:
                return stop, stop_reason
            if target is not None and h >= target:
                return target, ExitReason.TAKE_PROFIT
        else:
            if stop is not None and o >= stop:
                return o, stop_reason
            if target is not None and o <= target:
                return o, ExitReason.TAKE_PROFIT
            if stop is not None and h >= stop:
                return stop, stop_reason
            if target is not None and lo <= target:
                return target, ExitReason.TAKE_PROFIT
        return None

    def stops(self, t: int, o: float, h: float, lo: float) -> None:
        """Step 2 of a bar: stop checks, then the trailing reference update."""
        hit = self.check_stops(o, h, lo)
        if hit is not None:
            self.exit(hit[0], t, hit[1])
        pos = self.pos
        if pos is not None:
            pos.trail = max(pos.trail, h) if pos.direction == 1 else min(pos.trail, lo)

    def position(self) -> float:
        if self.pos is None:
            return 0.0
        return self.pos.direction * self.pos.qty


def reference_backtest(
    time: Sequence[int],
    open: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    strategy: str,
    params: Mapping[str, float],
    config: ExecutionConfig,
) -> ReferenceResult:
    """Run ``strategy`` over one pair's candles bar by bar, exactly as docs/execution.md
    describes. A test oracle only."""
    n = len(close)
    if n == 0:
        raise DataRangeError("no candles")
    o = [float(v) for v in open]
    h = [float(v) for v in high]
    lo = [float(v) for v in low]
    c = [float(v) for v in close]
    signals = reference_signals(h, lo, c, strategy, params)
    amount: float | None = None
    if strategy == "dca":
        amount = float({**STRATEGY_DEFAULTS["dca"], **params}["amount"])

    sim = _Sim(time, config, float(config.initial_investment))
    at_close = config.fill is Fill.CLOSE
    equity: list[float] = []
    position: list[float] = []

    def fill_at(signal: int, t: int) -> None:
        price = c[t] if at_close else o[t]
        sim.on_signal(signal, price, t, amount)

    for t in range(n):
        # 1. the pending order of bar t-1 fills at open[t]
        if not at_close and t > 0:
            fill_at(signals[t - 1], t)
        # 2. stops against bar t
        sim.stops(t, o[t], h[t], lo[t])
        # fill = close: the signal of bar t fills at close[t], before the mark
        if at_close:
            fill_at(signals[t], t)
        # 3. mark
        value = sim.cash + sim.position() * c[t]
        # 4. liquidation
        if value <= 0.0 and sim.pos is not None:
            sim.exit(c[t], t, ExitReason.LIQUIDATION)
            sim.dead = True
            value = sim.cash
        equity.append(value)
        position.append(sim.position())
        # 5. the signal of bar t becomes the pending order (handled at the top of t+1)

    if sim.pos is not None:
        sim.exit(c[n - 1], n - 1, ExitReason.END, slip=False)
    return ReferenceResult(equity=equity, position=position, trades=sim.trades, signals=signals)
