"""Hand-computed scenarios of a few bars that pin the fill model of docs/execution.md.

Every expected number is worked out by hand in the comments (initial investment 10 000)
and checked against both the fast engine (``coinbt.backtest``) and the reference oracle.
Signals are driven by ``buy_and_hold`` (+1 on bar 0), ``dca`` and ``sma_cross`` with
fast=2, slow=3, whose crosses are computed by hand on the closes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import coinbt
from coinbt.domain.bars import Bars
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.trades import trades_to_dicts
from conftest import make_bars, run_reference

E0 = 10_000.0


def trade(**fields: Any) -> dict[str, Any]:
    """The expected fields of one trade record (fields left out are not checked)."""
    return fields


CROSS = {"fast": 2, "slow": 3}


def _bars(
    o: list[float], c: list[float], h: list[float] | None = None, lo: list[float] | None = None
) -> Bars:
    """Candles whose high/low default to max/min of open and close."""
    h = h or [max(a, b) for a, b in zip(o, c, strict=True)]
    lo = lo or [min(a, b) for a, b in zip(o, c, strict=True)]
    return make_bars(o, h, lo, c)


INT_FIELDS = frozenset({"entry_bar", "exit_bar", "direction", "bars_held"})


def both(
    bars: Bars, strategy: str, params: dict[str, Any], **options: Any
) -> dict[str, tuple[list[float], list[dict[str, Any]]]]:
    """(equity, trades) from the fast engine and from the reference oracle."""
    config = ExecutionConfig(**options)
    res = coinbt.backtest(bars, strategy, params=params, config=config)
    ref = run_reference(bars, strategy, params, config)
    return {
        "fast": (res.equity.tolist(), trades_to_dicts(res.trades)),
        "reference": (list(ref.equity), list(ref.trades)),
    }


def check(
    bars: Bars,
    strategy: str,
    params: dict[str, Any],
    equity: list[float],
    trades: list[dict[str, Any]],
    **options: Any,
) -> None:
    """Both implementations give the hand-computed equity and trades."""
    for who, (got_equity, got_trades) in both(bars, strategy, params, **options).items():
        np.testing.assert_allclose(got_equity, equity, rtol=1e-12, atol=1e-9, err_msg=who)
        assert len(got_trades) == len(trades), f"{who}: {got_trades}"
        for k, (got, want) in enumerate(zip(got_trades, trades, strict=True)):
            for name, value in want.items():
                tag = f"{who} trade {k} {name}"
                if isinstance(value, str) or name in INT_FIELDS:
                    assert got[name] == value, f"{tag}: {got[name]} != {value}"
                else:
                    np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-9, err_msg=tag)


# Flat first bar, then up: buy_and_hold signals +1 on bar 0.
UP_O = [100.0, 100.0, 110.0]
UP_C = [100.0, 110.0, 120.0]


def test_next_open_fill_with_fee() -> None:
    # +1 on bar 0 fills at open[1] = 100 with fee 0.001:
    # qty = 10000 / (100 × 1.001) = 99.9000999…; fee = 0.001 × qty × 100 = 9.99000999…
    # cash = 10000 − qty × 100 − fee = 0.
    qty = E0 / (100 * 1.001)
    fee = 0.001 * qty * 100
    # equity: bar 0 untouched 10000; bar 1 qty × 110; bar 2 qty × 120.
    # Final open trade: exit at close[2] = 120, exit fee 0, reason end;
    # pnl = qty × (120 − 100) − fee = 1988.011988…; return = pnl / (qty×100 + fee) = pnl / 10000.
    pnl = qty * 20 - fee
    check(
        _bars(UP_O, UP_C),
        "buy_and_hold",
        {},
        equity=[E0, qty * 110, qty * 120],
        trades=[
            trade(
                entry_bar=1,
                exit_bar=2,
                direction=1,
                entry_price=100.0,
                exit_price=120.0,
                qty=qty,
                entry_fee=fee,
                exit_fee=0.0,
                pnl=pnl,
                return_pct=100 * pnl / E0,
                bars_held=1,
                exit_reason="end",
            )
        ],
        transaction_fee=0.001,
    )
    assert pnl == pytest.approx(1988.011988011988)


def test_same_bar_close_fill() -> None:
    # fill=close: +1 on bar 0 fills at close[0] = 100; same qty and fee as above, so
    # equity[0] = qty × 100 = 9990.00999… (the fee is gone at once).
    qty = E0 / (100 * 1.001)
    fee = 0.001 * qty * 100
    pnl = qty * 20 - fee
    check(
        _bars(UP_O, UP_C),
        "buy_and_hold",
        {},
        equity=[qty * 100, qty * 110, qty * 120],
        trades=[
            trade(
                entry_bar=0,
                exit_bar=2,
                entry_price=100.0,
                exit_price=120.0,
                qty=qty,
                entry_fee=fee,
                exit_fee=0.0,
                pnl=pnl,
                bars_held=2,
                exit_reason="end",
            )
        ],
        transaction_fee=0.001,
        fill="close",
    )
    assert qty * 100 == pytest.approx(9990.00999000999)


# Closes 10, 10, 10, 12, 13, 11, 9, 8.5 with sma_cross(2, 3):
#   SMA2: t1 10, t2 10, t3 11, t4 12.5, t5 12, t6 10
#   SMA3:        t2 10, t3 10.667, t4 11.667, t5 12, t6 11
#   t3: 11 > 10.667 and t2: 10 ≤ 10 → +1 on bar 3
#   t5: 12 = 12 (not below); t6: 10 < 11 and t5: 12 ≥ 12 → −1 on bar 6
SWING_O = [10.0, 10.0, 10.0, 10.0, 12.5, 13.0, 11.0, 8.0]
SWING_C = [10.0, 10.0, 10.0, 12.0, 13.0, 11.0, 9.0, 8.5]


def test_slippage_on_buy_and_sell() -> None:
    # slippage 0.01, fee 0, next_open:
    # buy at open[4] = 12.5 × 1.01 = 12.625 → qty = 10000 / 12.625 = 792.0792…
    # sell at open[7] = 8 × 0.99 = 7.92 → cash = qty × 7.92 = 6273.2673…
    qty = E0 / 12.625
    pnl = qty * (7.92 - 12.625)  # = −3726.7326…
    check(
        _bars(SWING_O, SWING_C),
        "sma_cross",
        CROSS,
        equity=[E0, E0, E0, E0, qty * 13, qty * 11, qty * 9, qty * 7.92],
        trades=[
            trade(
                entry_bar=4,
                exit_bar=7,
                direction=1,
                entry_price=12.625,
                exit_price=7.92,
                qty=qty,
                entry_fee=0.0,
                exit_fee=0.0,
                pnl=pnl,
                return_pct=-37.26732673267327,
                bars_held=3,
                exit_reason="signal",
            )
        ],
        transaction_fee=0.0,
        slippage=0.01,
    )


# buy_and_hold entering at open[1] = 100 (fee 0): qty = 100, cash 0.
STOP_O = [100.0, 100.0, 101.0, 96.0]
STOP_C = [100.0, 101.0, 96.0, 96.0]
STOP_H = [100.0, 102.0, 103.0, 97.0]


def test_stop_loss_intrabar() -> None:
    # stop 5 % → level 95. Bar 1: low 98 > 95. Bar 2: open 101 > 95, low 94 ≤ 95 → exit at 95.
    # pnl = 100 × (95 − 100) = −500; equity: 10000, 100×101, 9500, 9500 (flat).
    check(
        _bars(STOP_O, STOP_C, STOP_H, [100.0, 98.0, 94.0, 95.0]),
        "buy_and_hold",
        {},
        equity=[E0, 10_100.0, 9_500.0, 9_500.0],
        trades=[
            trade(
                entry_bar=1,
                exit_bar=2,
                entry_price=100.0,
                exit_price=95.0,
                qty=100.0,
                pnl=-500.0,
                return_pct=-5.0,
                bars_held=1,
                exit_reason="stop_loss",
            )
        ],
        transaction_fee=0.0,
        stop_loss_pct=5,
    )


def test_gap_through_stop_fills_at_open() -> None:
    # Bar 2 opens at 93, already below the level 95 → exit at the open 93.
    # pnl = 100 × (93 − 100) = −700; equity after: 9300.
    check(
        _bars(
            [100.0, 100.0, 93.0], [100.0, 101.0, 92.0], [100.0, 102.0, 94.0], [100.0, 98.0, 90.0]
        ),
        "buy_and_hold",
        {},
        equity=[E0, 10_100.0, 9_300.0],
        trades=[
            trade(entry_bar=1, exit_bar=2, exit_price=93.0, pnl=-700.0, exit_reason="stop_loss")
        ],
        transaction_fee=0.0,
        stop_loss_pct=5,
    )


def test_bar_touching_stop_and_take_profit_exits_at_stop() -> None:
    # stop 5 % (95), take profit 5 % (105); bar 2: high 106 ≥ 105 and low 94 ≤ 95 → the stop.
    check(
        _bars(
            [100.0, 100.0, 101.0], [100.0, 101.0, 100.0], [100.0, 102.0, 106.0], [100.0, 98.0, 94.0]
        ),
        "buy_and_hold",
        {},
        equity=[E0, 10_100.0, 9_500.0],
        trades=[trade(exit_bar=2, exit_price=95.0, pnl=-500.0, exit_reason="stop_loss")],
        transaction_fee=0.0,
        stop_loss_pct=5,
        take_profit_pct=5,
    )


def test_take_profit_with_fees() -> None:
    # fee 0.001; entry at open[1] = 100: qty = 10000 / 100.1 = 99.9000999…, entry fee 9.99000999…
    # take profit 10 % → level 110; bar 2: open 101 < 110, high 111 ≥ 110 → exit at 110.
    # exit fee = 0.001 × qty × 110 = 10.989010989…; cash = qty × 110 − exit fee = 10978.021978…
    # pnl = qty × 10 − 9.99000999 − 10.98901099 = 978.021978…; return = pnl / 10000.
    qty = E0 / (100 * 1.001)
    entry_fee, exit_fee = 0.001 * qty * 100, 0.001 * qty * 110
    cash = qty * 110 - exit_fee
    pnl = qty * 10 - entry_fee - exit_fee
    check(
        _bars(
            [100.0, 100.0, 101.0],
            [100.0, 101.0, 108.0],
            [100.0, 102.0, 111.0],
            [100.0, 98.0, 100.0],
        ),
        "buy_and_hold",
        {},
        equity=[E0, qty * 101, cash],
        trades=[
            trade(
                exit_bar=2,
                exit_price=110.0,
                qty=qty,
                entry_fee=entry_fee,
                exit_fee=exit_fee,
                pnl=pnl,
                return_pct=100 * pnl / E0,
                exit_reason="take_profit",
            )
        ],
        transaction_fee=0.001,
        take_profit_pct=10,
    )
    assert cash == pytest.approx(10_978.021978021978)
    assert pnl == pytest.approx(978.021978021978)


def test_trailing_stop_uses_previous_highs_only() -> None:
    # trailing 10 %, entry at open[1] = 100, qty 100; the reference starts at 100 (level 90).
    # Bar 1: low 99 > 90; then the reference becomes high[1] = 120.
    # Bar 2: level 120 × 0.9 = 108, low 108.5 > 108: no exit (its own high 125 would give
    #        112.5 and an exit: a bar's own high must not count); reference → 125.
    # Bar 3: level 125 × 0.9 = 112.5; open 113 > 112.5, low 105 ≤ 112.5 → exit at 112.5.
    # pnl = 100 × 12.5 = 1250; equity: 10000, 11500, 11000, 11250.
    check(
        _bars(
            [100.0, 100.0, 115.0, 113.0],
            [100.0, 115.0, 110.0, 106.0],
            [100.0, 120.0, 125.0, 114.0],
            [100.0, 99.0, 108.5, 105.0],
        ),
        "buy_and_hold",
        {},
        equity=[E0, 11_500.0, 11_000.0, 11_250.0],
        trades=[
            trade(
                entry_bar=1, exit_bar=3, exit_price=112.5, pnl=1250.0, exit_reason="trailing_stop"
            )
        ],
        transaction_fee=0.0,
        trailing_stop_pct=10,
    )


def test_short_with_stop_and_fees() -> None:
    # Closes 10, 10, 10, 8, 8, 8.9: SMA2 t3 9 < SMA3 t3 9.333 (t2 equal) → −1 on bar 3.
    # (t5: SMA2 8.45 > SMA3 8.3 → +1 on the last bar, dropped: no next bar.)
    # longshort, fee 0.001: short at open[4] = 8: qty = 10000 / (8 × 1.001) = 1248.7512…,
    # entry fee 9.99000999…, cash = 10000 + qty × 8 − fee = 19980.01998…
    # equity[4] = cash − qty × 8 = 9990.00999…
    # Stop 10 % above 8 → 8.8; bar 5: open 8.2 < 8.8, high 9 ≥ 8.8 → buy back at 8.8:
    # exit fee = 0.001 × qty × 8.8 = 10.98901…;
    # cash = 19980.01998 − qty × 8.8 − 10.98901 = 8980.01998…
    # pnl = −qty × 0.8 − 9.99001 − 10.98901 = −1019.98001998…; return = pnl / 10000.
    qty = E0 / (8 * 1.001)
    entry_fee, exit_fee = 0.001 * qty * 8, 0.001 * qty * 8.8
    cash = E0 + qty * 8 - entry_fee
    pnl = -qty * 0.8 - entry_fee - exit_fee
    check(
        _bars(
            [10.0, 10.0, 10.0, 10.0, 8.0, 8.2],
            [10.0, 10.0, 10.0, 8.0, 8.0, 8.9],
            [10.0, 10.0, 10.0, 10.0, 8.5, 9.0],
            [10.0, 10.0, 10.0, 8.0, 7.5, 8.0],
        ),
        "sma_cross",
        CROSS,
        equity=[E0, E0, E0, E0, cash - qty * 8, cash - qty * 8.8 - exit_fee],
        trades=[
            trade(
                entry_bar=4,
                exit_bar=5,
                direction=-1,
                entry_price=8.0,
                exit_price=8.8,
                qty=qty,
                entry_fee=entry_fee,
                exit_fee=exit_fee,
                pnl=pnl,
                return_pct=100 * pnl / E0,
                bars_held=1,
                exit_reason="stop_loss",
            )
        ],
        transaction_fee=0.001,
        direction="longshort",
        stop_loss_pct=10,
    )
    assert cash - qty * 8.8 - exit_fee == pytest.approx(8980.01998001998)
    assert pnl == pytest.approx(-1019.98001998002)


def test_long_to_short_reversal_two_fees() -> None:
    # SWING closes for bars 0..6 (+1 on bar 3, −1 on bar 6), fill=close, fee 0.001, longshort.
    # Bar 3: buy at 12: qty1 = 10000 / (12 × 1.001) = 832.50083…, fee1 = 0.001 × qty1 × 12.
    # Bar 6: −1 while long reverses at close 9: sell qty1 (fee2 = 0.001 × qty1 × 9),
    #   cash C = qty1 × 9 − fee2 = 7485.014985…; trade 1 pnl = qty1 × (9 − 12) − fee1 − fee2.
    #   Then short with C: qty2 = C / (9 × 1.001), fee3 = 0.001 × qty2 × 9,
    #   cash = C + qty2 × 9 − fee3; equity[6] = cash − qty2 × 9 = C − fee3.
    # The short is still open: trade 2 ends at close[6] = 9 with exit fee 0, pnl = −fee3.
    qty1 = E0 / (12 * 1.001)
    fee1, fee2 = 0.001 * qty1 * 12, 0.001 * qty1 * 9
    c = qty1 * 9 - fee2
    qty2 = c / (9 * 1.001)
    fee3 = 0.001 * qty2 * 9
    pnl1 = qty1 * (9 - 12) - fee1 - fee2
    check(
        _bars(SWING_O[:7], SWING_C[:7]),
        "sma_cross",
        CROSS,
        equity=[E0, E0, E0, qty1 * 12, qty1 * 13, qty1 * 11, c - fee3],
        trades=[
            trade(
                entry_bar=3,
                exit_bar=6,
                direction=1,
                entry_price=12.0,
                exit_price=9.0,
                qty=qty1,
                entry_fee=fee1,
                exit_fee=fee2,
                pnl=pnl1,
                return_pct=100 * pnl1 / E0,
                bars_held=3,
                exit_reason="signal",
            ),
            trade(
                entry_bar=6,
                exit_bar=6,
                direction=-1,
                entry_price=9.0,
                exit_price=9.0,
                qty=qty2,
                entry_fee=fee3,
                exit_fee=0.0,
                pnl=-fee3,
                return_pct=-100 * fee3 / (qty2 * 9 + fee3),
                bars_held=0,
                exit_reason="end",
            ),
        ],
        transaction_fee=0.001,
        direction="longshort",
        fill="close",
    )
    assert c == pytest.approx(7485.014985014985)
    assert pnl1 == pytest.approx(-2514.984984984985)


def test_dca_weighted_entry_and_final_open_trade() -> None:
    # dca every 1, amount 3000, fee 0.001, fill=close; closes 100, 50, 200, 100.
    # A buy of s at p: qty = s / (p × 1.001), fee = 0.001 × qty × p = s × 0.001 / 1.001,
    # cash falls by exactly s. Spends: 3000, 3000, 3000, then min(3000, 1000) = 1000.
    # qty: (30 + 60 + 15 + 10) / 1.001 = 115 / 1.001; cost Σ qty×p = 10000 / 1.001
    # → weighted entry price 10000 / 115 = 86.9565…; entry fee Σ = 10 / 1.001 = 9.99000999…
    # equity: bar 0 7000 + 30/1.001 × 100; bar 1 4000 + 90/1.001 × 50;
    #         bar 2 1000 + 105/1.001 × 200; bar 3 0 + 115/1.001 × 100.
    # Still open after the last bar: exit at close[3] = 100, exit fee 0, reason end;
    # pnl = 115/1.001 × 100 − 10000/1.001 − 10/1.001 = 1490/1.001 = 1488.5114…
    # return = pnl / (10000/1.001 + 10/1.001) = 100 × 1490 / 10010 = 14.885114…
    k = 1.001
    check(
        _bars([100.0, 50.0, 200.0, 100.0], [100.0, 50.0, 200.0, 100.0]),
        "dca",
        {"every": 1, "amount": 3000},
        equity=[7000 + 3000 / k, 4000 + 4500 / k, 1000 + 21_000 / k, 11_500 / k],
        trades=[
            trade(
                entry_bar=0,
                exit_bar=3,
                direction=1,
                entry_price=10_000 / 115,
                exit_price=100.0,
                qty=115 / k,
                entry_fee=10 / k,
                exit_fee=0.0,
                pnl=1490 / k,
                return_pct=100 * 1490 / 10_010,
                bars_held=3,
                exit_reason="end",
            )
        ],
        transaction_fee=0.001,
        fill="close",
    )


def test_dca_next_open_stops_when_cash_is_spent() -> None:
    # dca every 2, amount 4000, fee 0, next_open; opens 10, 20, 40, 40, 50, 50, closes = opens.
    # Signals on bars 0, 2, 4 fill at open[1] = 20, open[3] = 40, open[5] = 50:
    # 4000/20 = 200, 4000/40 = 100, then min(4000, 2000)/50 = 40 → qty 340, cost 10000,
    # entry 10000/340; end at close[5] = 50: pnl = 340 × 50 − 10000 = 7000.
    o = [10.0, 20.0, 40.0, 40.0, 50.0, 50.0]
    check(
        _bars(o, o),
        "dca",
        {"every": 2, "amount": 4000},
        equity=[E0, E0, 6000 + 200 * 40, 2000 + 300 * 40, 2000 + 300 * 50, 340 * 50],
        trades=[
            trade(
                entry_bar=1,
                exit_bar=5,
                entry_price=10_000 / 340,
                qty=340.0,
                pnl=7000.0,
                return_pct=70.0,
                exit_fee=0.0,
                exit_reason="end",
            )
        ],
        transaction_fee=0.0,
    )


def test_short_liquidation() -> None:
    # Closes 10, 10, 10, 8, 12, 17, 5: −1 on bar 3 (as above); t4: SMA2 10 = SMA3 10;
    # t5: SMA2 14.5 > SMA3 12.33 → +1 on bar 5 (must NOT fill: liquidated first).
    # fee 0.001, next_open: short at open[4] = 8: qty = 10000 / 8.008 = 1248.7512…,
    # cash = 10000 + qty × 8 − 9.99000999 = 19980.01998…
    # equity[4] = cash − qty × 12 = 4995.004995…
    # bar 5: cash − qty × 17 = −1248.75… ≤ 0 → buy back at close 17, fee 0.001 × qty × 17:
    # cash = 19980.01998 − 21228.77123 − 21.22877 = −1269.98001998…; equity stays there.
    qty = E0 / (8 * 1.001)
    entry_fee, exit_fee = 0.001 * qty * 8, 0.001 * qty * 17
    cash = E0 + qty * 8 - entry_fee
    final = cash - qty * 17 - exit_fee
    pnl = -qty * 9 - entry_fee - exit_fee
    check(
        _bars([10.0, 10.0, 10.0, 10.0, 8.0, 12.0, 17.0], [10.0, 10.0, 10.0, 8.0, 12.0, 17.0, 5.0]),
        "sma_cross",
        CROSS,
        equity=[E0, E0, E0, E0, cash - qty * 12, final, final],
        trades=[
            trade(
                entry_bar=4,
                exit_bar=5,
                direction=-1,
                entry_price=8.0,
                exit_price=17.0,
                qty=qty,
                entry_fee=entry_fee,
                exit_fee=exit_fee,
                pnl=pnl,
                return_pct=100 * pnl / E0,
                bars_held=1,
                exit_reason="liquidation",
            )
        ],
        transaction_fee=0.001,
        direction="longshort",
    )
    assert final == pytest.approx(-1269.98001998002)
    assert pnl == pytest.approx(-11269.98001998002)


def test_long_only_ignores_minus_one_when_flat() -> None:
    # Closes 10, 10, 10, 8, 8: −1 on bar 3 while flat in long-only mode: nothing happens.
    bars = _bars([10.0] * 4 + [8.0], [10.0, 10.0, 10.0, 8.0, 8.0])
    check(bars, "sma_cross", CROSS, equity=[E0] * 5, trades=[])


def test_reference_position_curve() -> None:
    # The reference's position at each close for the reversal scenario: 0, 0, 0, +qty1,
    # +qty1, +qty1, −qty2.
    bars = _bars(SWING_O[:7], SWING_C[:7])
    config = ExecutionConfig(transaction_fee=0.0, direction="longshort", fill="close")  # type: ignore[arg-type]
    ref = run_reference(bars, "sma_cross", CROSS, config)
    qty1 = E0 / 12
    qty2 = qty1 * 9 / 9
    np.testing.assert_allclose(ref.position, [0, 0, 0, qty1, qty1, qty1, -qty2], rtol=1e-12)
    assert ref.signals == [0, 0, 0, 1, 0, 0, -1]
