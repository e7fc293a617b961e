"""The fill loop: signals to positions, equity and trades (contract: docs/execution.md).

The kernel keeps its state in a small float array so helper functions can change it
without closures (numba has none that mutate). One segment is one pair; segments run in
parallel and write disjoint slices of the outputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from coinbt.engine._types import F64, I8, I64

# Trade buffer columns (converted to TRADE_DTYPE records outside the kernel).
T_ENTRY_BAR, T_EXIT_BAR, T_DIR, T_ENTRY_PX, T_EXIT_PX, T_QTY = 0, 1, 2, 3, 4, 5
T_ENTRY_FEE, T_EXIT_FEE, T_PNL, T_RET, T_REASON = 6, 7, 8, 9, 10
TRADE_COLS = 11

# ExitReason codes (coinbt.domain.trades.ExitReason).
R_SIGNAL, R_STOP, R_TAKE, R_TRAIL, R_LIQ, R_END = 0, 1, 2, 3, 4, 5

# State slots.
CASH, POS, EPX, EFEE, EBAR, TRAIL, NTRADES = 0, 1, 2, 3, 4, 5, 6
STATE_SIZE = 7


@njit(cache=True, error_model="numpy")
def _open(
    st: F64, ref: float, direction: int, spend: float, bar: int, fee: float, slip: float
) -> None:
    """Open or add to a position of ``direction``, spending ``spend`` of cash."""
    if spend <= 0.0:
        return
    px = ref * (1.0 + slip) if direction > 0 else ref * (1.0 - slip)
    qty = spend / (px * (1.0 + fee))
    paid = fee * qty * px
    st[CASH] -= direction * qty * px + paid
    old = abs(st[POS])
    if old == 0.0:
        st[EPX] = px
        st[EFEE] = paid
        st[EBAR] = bar
        st[TRAIL] = px
    else:
        st[EPX] = (old * st[EPX] + qty * px) / (old + qty)
        st[EFEE] += paid
    st[POS] += direction * qty


@njit(cache=True, error_model="numpy")
def _record(
    st: F64, trades: F64, exit_bar: int, exit_px: float, exit_fee: float, reason: int
) -> None:
    qty = abs(st[POS])
    direction = 1.0 if st[POS] > 0 else -1.0
    pnl = direction * qty * (exit_px - st[EPX]) - st[EFEE] - exit_fee
    k = int(st[NTRADES])
    trades[k, T_ENTRY_BAR] = st[EBAR]
    trades[k, T_EXIT_BAR] = exit_bar
    trades[k, T_DIR] = direction
    trades[k, T_ENTRY_PX] = st[EPX]
    trades[k, T_EXIT_PX] = exit_px
    trades[k, T_QTY] = qty
    trades[k, T_ENTRY_FEE] = st[EFEE]
    trades[k, T_EXIT_FEE] = exit_fee
    trades[k, T_PNL] = pnl
    trades[k, T_RET] = 100.0 * pnl / (qty * st[EPX] + st[EFEE])
    trades[k, T_REASON] = reason
    st[NTRADES] = k + 1


@njit(cache=True, error_model="numpy")
def _close(
    st: F64, trades: F64, ref: float, bar: int, reason: int, fee: float, slip: float
) -> None:
    """Close the whole position at reference price ``ref`` and record the trade."""
    long = st[POS] > 0
    px = ref * (1.0 - slip) if long else ref * (1.0 + slip)
    qty = abs(st[POS])
    paid = fee * qty * px
    st[CASH] += st[POS] * px - paid
    _record(st, trades, bar, px, paid, reason)
    st[POS] = 0.0


@njit(cache=True, error_model="numpy")
def _act(
    st: F64,
    trades: F64,
    signal: int,
    ref: float,
    bar: int,
    fee: float,
    slip: float,
    longshort: bool,
    amount: float,
) -> None:
    """Apply one signal event at reference price ``ref``."""
    pos = st[POS]
    if signal > 0:
        if amount > 0.0:
            _open(st, ref, 1, min(amount, st[CASH]), bar, fee, slip)
            return
        if pos > 0:
            return
        if pos < 0:
            _close(st, trades, ref, bar, R_SIGNAL, fee, slip)
        _open(st, ref, 1, st[CASH], bar, fee, slip)
    elif signal < 0:
        if pos < 0:
            return
        if pos > 0:
            _close(st, trades, ref, bar, R_SIGNAL, fee, slip)
        if longshort:
            _open(st, ref, -1, st[CASH], bar, fee, slip)


@njit(cache=True, error_model="numpy")
def _stop_exit(
    st: F64, o: float, h: float, lo: float, sl: float, tp: float, ts: float
) -> tuple[float, int]:
    """The (price, reason) at which a stop or target closes the position on this bar, or
    reason -1 when none does (then the trailing reference moves with the bar)."""
    d = 1.0 if st[POS] > 0 else -1.0
    inf = np.inf
    sl_lvl = st[EPX] * (1.0 - d * sl) if sl > 0.0 else -d * inf
    ts_lvl = st[TRAIL] * (1.0 - d * ts) if ts > 0.0 else -d * inf
    # The binding stop is the one nearer the price; a tie counts as the stop-loss.
    if d * sl_lvl >= d * ts_lvl:
        stop, reason = sl_lvl, R_STOP
    else:
        stop, reason = ts_lvl, R_TRAIL
    target = st[EPX] * (1.0 + d * tp) if tp > 0.0 else d * inf
    worst = lo if d > 0 else h
    best = h if d > 0 else lo
    if d * o <= d * stop:
        return o, reason
    if d * o >= d * target:
        return o, R_TAKE
    if d * worst <= d * stop:
        return stop, reason
    if d * best >= d * target:
        return target, R_TAKE
    if ts > 0.0:
        st[TRAIL] = max(st[TRAIL], best) if d > 0 else min(st[TRAIL], best)
    return 0.0, -1


@njit(cache=True, error_model="numpy")
def _simulate_plain(
    o: F64,
    c: F64,
    sig: I8,
    lo: int,
    hi: int,
    cash0: float,
    fee: float,
    slip: float,
    amount: float,
    equity: F64,
    trades: F64,
) -> tuple[int, int]:
    # The general loop below restricted to long-only, next-open fills and no stops: the
    # common case. Long-only equity can never reach 0, so liquidation cannot happen here.
    # Between signal events the state is constant, so the loop walks from event to event
    # and marks each stretch in a tight loop the compiler vectorises (same arithmetic).
    st = np.zeros(STATE_SIZE)
    st[CASH] = cash0
    cash, pos = cash0, 0.0
    exposed = 0
    i = lo
    while i < hi:
        end = _next_event(sig, i, hi)
        _mark(equity[i : end + 1], c[i : end + 1], cash, pos)
        if pos != 0.0:
            exposed += end + 1 - i
        i = end + 1
        if i < hi:  # the event at ``end`` fills at the next bar's open
            _act(st, trades, sig[end], o[i], i - lo, fee, slip, False, amount)
            cash, pos = st[CASH], st[POS]
    if pos != 0.0:
        _record(st, trades, hi - lo - 1, c[hi - 1], 0.0, R_END)
    return int(st[NTRADES]), exposed


# The two helpers loop over views from index 0: with a start the compiler can prove
# non-negative it drops numba's negative-index check and vectorises (~3x faster).
@njit(cache=True, error_model="numpy")
def _next_event(sig: I8, i: int, hi: int) -> int:
    """The first bar from ``i`` with a signal event, or the last bar when none is left."""
    rest = sig[i : hi - 1]
    for k in range(len(rest)):
        if rest[k] != 0:
            return i + k
    return hi - 1


@njit(cache=True, error_model="numpy")
def _mark(equity: F64, c: F64, cash: float, pos: float) -> None:
    for t in range(len(c)):
        equity[t] = cash + pos * c[t]


@njit(cache=True, error_model="numpy")
def simulate_segment(
    o: F64,
    h: F64,
    lo_: F64,
    c: F64,
    sig: I8,
    lo: int,
    hi: int,
    cash0: float,
    fee: float,
    slip: float,
    longshort: bool,
    fill_close: bool,
    sl: float,
    tp: float,
    ts: float,
    amount: float,
    equity: F64,
    trades: F64,
) -> tuple[int, int]:
    """Simulate rows ``lo:hi`` of one pair; returns (trades written, bars exposed).

    ``equity[lo:hi]`` receives the equity at each close and ``trades[:k]`` the trades.
    Stop percentages come as fractions (5 % → 0.05); ``amount > 0`` buys that much quote
    currency per entry signal (DCA) instead of going all-in.
    """
    stops_on = sl > 0.0 or tp > 0.0 or ts > 0.0
    if not (stops_on or fill_close or longshort):
        return _simulate_plain(o, c, sig, lo, hi, cash0, fee, slip, amount, equity, trades)
    st = np.zeros(STATE_SIZE)
    st[CASH] = cash0
    # cash and pos mirror st[CASH] and st[POS] in registers for the per-bar mark; they are
    # reloaded after every event, the only place the state changes.
    cash = cash0
    pos = 0.0
    pending = 0
    dead = False
    exposed = 0
    for i in range(lo, hi):
        if pending != 0 and not dead:
            _act(st, trades, pending, o[i], i - lo, fee, slip, longshort, amount)
            cash, pos = st[CASH], st[POS]
        pending = 0
        if stops_on and pos != 0.0:
            px, reason = _stop_exit(st, o[i], h[i], lo_[i], sl, tp, ts)
            if reason >= 0:
                _close(st, trades, px, i - lo, reason, fee, slip)
                cash, pos = st[CASH], st[POS]
        if fill_close and sig[i] != 0 and not dead:
            _act(st, trades, sig[i], c[i], i - lo, fee, slip, longshort, amount)
            cash, pos = st[CASH], st[POS]
        eq = cash + pos * c[i]
        if pos != 0.0:
            if eq <= 0.0:
                _close(st, trades, c[i], i - lo, R_LIQ, fee, slip)
                dead = True
                cash, pos = st[CASH], st[POS]
                eq = cash
            else:
                exposed += 1
        equity[i] = eq
        if not fill_close:
            pending = sig[i]
    if pos != 0.0:
        _record(st, trades, hi - lo - 1, c[hi - 1], 0.0, R_END)
    return int(st[NTRADES]), exposed


@njit(cache=True, parallel=True, error_model="numpy")
def simulate_batch(
    o: F64,
    h: F64,
    lo_: F64,
    c: F64,
    sig: I8,
    offsets: I64,
    trade_offsets: I64,
    cash0: float,
    fee: float,
    slip: float,
    longshort: bool,
    fill_close: bool,
    sl: float,
    tp: float,
    ts: float,
    amount: float,
) -> tuple[F64, F64, I64, I64]:
    """Simulate every pair; returns (equity, trade buffer, trades per pair, bars exposed
    per pair). Pair ``s`` writes trades from row ``trade_offsets[s]``."""
    m = len(offsets) - 1
    equity = np.empty(len(c))
    trades = np.empty((trade_offsets[m], TRADE_COLS))
    counts = np.zeros(m, dtype=np.int64)
    exposed = np.zeros(m, dtype=np.int64)
    for s in prange(m):
        block = trades[trade_offsets[s] : trade_offsets[s + 1]]
        k, e = simulate_segment(
            o,
            h,
            lo_,
            c,
            sig,
            offsets[s],
            offsets[s + 1],
            cash0,
            fee,
            slip,
            longshort,
            fill_close,
            sl,
            tp,
            ts,
            amount,
            equity,
            block,
        )
        counts[s] = k
        exposed[s] = e
    return equity, trades, counts, exposed


@njit(cache=True, parallel=True, error_model="numpy")
def trade_capacity(sig: I8, offsets: I64) -> I64:
    """Row offsets for each pair's trades: a trade needs an entry, and an entry needs a
    signal event, so a pair never has more trades than signal events."""
    m = len(offsets) - 1
    sizes = np.zeros(m + 1, dtype=np.int64)
    for s in prange(m):
        k = 1
        for i in range(offsets[s], offsets[s + 1]):
            if sig[i] != 0:
                k += 1
        sizes[s + 1] = k
    return np.cumsum(sizes)


@njit(cache=True, error_model="numpy")
def pack_trades(
    trades: F64, trade_offsets: I64, counts: I64, offsets: I64, time: I64, out: npt.NDArray[np.void]
) -> None:
    """Copy every pair's trades from the kernel's buffer (which leaves unused rows after
    each pair) into ``out``, a TRADE_DTYPE record array of ``counts.sum()`` rows."""
    j = 0
    for s in range(len(counts)):
        for r in range(trade_offsets[s], trade_offsets[s] + counts[s]):
            entry = np.int64(trades[r, T_ENTRY_BAR])
            exit_ = np.int64(trades[r, T_EXIT_BAR])
            rec = out[j]
            rec.pair = s
            rec.entry_bar = entry
            rec.exit_bar = exit_
            rec.entry_time = time[offsets[s] + entry]
            rec.exit_time = time[offsets[s] + exit_]
            rec.direction = np.int8(trades[r, T_DIR])
            rec.entry_price = trades[r, T_ENTRY_PX]
            rec.exit_price = trades[r, T_EXIT_PX]
            rec.qty = trades[r, T_QTY]
            rec.entry_fee = trades[r, T_ENTRY_FEE]
            rec.exit_fee = trades[r, T_EXIT_FEE]
            rec.pnl = trades[r, T_PNL]
            rec.return_pct = trades[r, T_RET]
            rec.bars_held = exit_ - entry
            rec.exit_reason = np.int8(trades[r, T_REASON])
            j += 1
