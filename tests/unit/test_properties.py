"""Property tests of the engine (hypothesis): no look-ahead, value conservation without
costs, pnl accounting, batch == one-by-one, permutation, sweep == single runs, and
invariance of every return metric to the price scale."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import coinbt
from coinbt.domain.bars import Bars, BarsBatch
from coinbt.domain.execution import ExecutionConfig
from coinbt.domain.results import METRIC_NAMES, BacktestResult
from coinbt.domain.trades import ExitReason
from conftest import random_bars, run_reference

SETTINGS = settings(max_examples=50, deadline=None)

PARAM_CHOICES: dict[str, list[dict[str, Any]]] = {
    "buy_and_hold": [{}],
    "sma_cross": [{"fast": 2, "slow": 3}, {"fast": 5, "slow": 20}, {"fast": 10, "slow": 30}],
    "ema_cross": [{"fast": 2, "slow": 5}, {"fast": 4, "slow": 15}, {"fast": 12, "slow": 26}],
    "rsi": [
        {"period": 3, "lower": 30, "upper": 70},
        {"period": 7, "lower": 35, "upper": 65},
        {"period": 14, "lower": 45.5, "upper": 55.5},
    ],
    "bollinger": [{"period": 5, "std_dev": 1.0}, {"period": 12, "std_dev": 1.5}, {"period": 20}],
    "macd": [{"fast": 3, "slow": 7, "signal": 3}, {"fast": 6, "slow": 13, "signal": 5}, {}],
    "breakout": [{"entry": 2, "exit": 2}, {"entry": 10, "exit": 5}, {"entry": 20, "exit": 10}],
    "dca": [{"every": 1, "amount": 700}, {"every": 6, "amount": 900}, {"every": 3, "amount": 50}],
}
STRATEGIES = list(PARAM_CHOICES)


@st.composite
def strategy_and_params(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(STRATEGIES))
    return name, draw(st.sampled_from(PARAM_CHOICES[name]))


@st.composite
def configs(draw: st.DrawFn, **fixed: Any) -> ExecutionConfig:
    options: dict[str, Any] = {
        "transaction_fee": draw(st.sampled_from([0.0, 0.001, 0.01])),
        "slippage": draw(st.sampled_from([0.0, 0.0005, 0.01])),
        "direction": draw(st.sampled_from(["long", "longshort"])),
        "fill": draw(st.sampled_from(["next_open", "close"])),
        "stop_loss_pct": draw(st.sampled_from([0.0, 1.0, 4.0])),
        "take_profit_pct": draw(st.sampled_from([0.0, 2.0, 8.0])),
        "trailing_stop_pct": draw(st.sampled_from([0.0, 1.5, 5.0])),
    }
    options.update(fixed)
    return ExecutionConfig(**options)


seeds = st.integers(0, 2**32 - 1)


def _bars(seed: int, n: int, symbol: str = "RND", start_price: float = 100.0) -> Bars:
    return random_bars(np.random.default_rng(seed), n, symbol=symbol, start_price=start_price)


def _run(bars: Bars, strategy: str, params: dict[str, Any], config: ExecutionConfig) -> Any:
    return coinbt.backtest(bars, strategy, params=params, config=config)


def _assert_same_result(a: BacktestResult, b: BacktestResult, rtol: float = 1e-12) -> None:
    np.testing.assert_allclose(a.equity, b.equity, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.drawdown, b.drawdown, rtol=rtol, atol=1e-12)
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        np.testing.assert_allclose(a.metrics[name], b.metrics[name], rtol=rtol, err_msg=name)
    assert len(a.trades) == len(b.trades)
    for name in a.trades.dtype.names or ():
        if name == "pair":
            continue
        if a.trades[name].dtype.kind == "f":
            np.testing.assert_allclose(a.trades[name], b.trades[name], rtol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(a.trades[name], b.trades[name], err_msg=name)


# --------------------------------------------------------------------------- look-ahead


def _replace_after(bars: Bars, t: int, seed: int) -> Bars:
    """The same candles up to bar t, different (still consistent) candles after it."""
    n = len(bars)
    other = _bars(seed, n - t - 1, start_price=float(bars.close[t]) * 1.37) if n - t - 1 else None
    if other is None:
        return bars

    def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([a[: t + 1], b])

    return Bars.from_arrays(
        bars.symbol,
        bars.interval,
        bars.time,
        cat(bars.open, other.open),
        cat(bars.high, other.high),
        cat(bars.low, other.low),
        cat(bars.close, other.close),
        cat(bars.volume, other.volume),
    )


@SETTINGS
@given(
    seed=seeds,
    other=seeds,
    n=st.integers(5, 160),
    cut=st.floats(0.0, 1.0),
    sp=strategy_and_params(),
    config=configs(),
)
def test_no_look_ahead(
    seed: int, other: int, n: int, cut: float, sp: tuple[str, dict[str, Any]], config: Any
) -> None:
    strategy, params = sp
    bars = _bars(seed, n)
    t = min(n - 2, int(cut * (n - 1)))
    changed = _replace_after(bars, t, other)
    a, b = _run(bars, strategy, params, config), _run(changed, strategy, params, config)
    # Equity at and before t cannot see candles after t.
    np.testing.assert_array_equal(a.equity[: t + 1], b.equity[: t + 1])
    # Trades closed (not merely marked) at or before t are identical.
    ended = ExitReason.END.value

    def closed(res: Any) -> Any:
        tr = res.trades
        return tr[(tr["exit_bar"] <= t) & (tr["exit_reason"] != ended)]

    np.testing.assert_array_equal(closed(a), closed(b))
    # Positions entered at or before t were entered identically (DCA adds later, skip it).
    if strategy != "dca":
        fields = ["entry_bar", "entry_time", "direction", "entry_price", "qty", "entry_fee"]
        ea = a.trades[a.trades["entry_bar"] <= t][fields]
        eb = b.trades[b.trades["entry_bar"] <= t][fields]
        np.testing.assert_array_equal(ea, eb)
    # The oracle's signals up to t do not depend on later candles either.
    ra = run_reference(bars, strategy, params, config)
    rb = run_reference(changed, strategy, params, config)
    assert ra.signals[: t + 1] == rb.signals[: t + 1]


# --------------------------------------------------------------------------- conservation


def _held_position(res: Any, n: int) -> np.ndarray:
    """Signed quantity held at each bar's close, from the trade records (fill = close)."""
    pos = np.zeros(n)
    for tr in res.trades:
        last = n if int(tr["exit_reason"]) == ExitReason.END else int(tr["exit_bar"])
        pos[int(tr["entry_bar"]) : last] += int(tr["direction"]) * float(tr["qty"])
    return pos


@SETTINGS
@given(
    seed=seeds,
    n=st.integers(2, 200),
    sp=strategy_and_params().filter(lambda s: s[0] != "dca"),
    direction=st.sampled_from(["long", "longshort"]),
)
def test_zero_costs_conserve_value_at_fills(
    seed: int, n: int, sp: tuple[str, dict[str, Any]], direction: str
) -> None:
    """fee = slippage = 0, fill = close, no stops: a fill never changes equity, so
    E[t] − E[t−1] = (position held over t−1 → t) × (close[t] − close[t−1]) at every bar."""
    strategy, params = sp
    bars = _bars(seed, n)
    config = ExecutionConfig(transaction_fee=0.0, slippage=0.0, direction=direction, fill="close")  # type: ignore[arg-type]
    res = _run(bars, strategy, params, config)
    pos = _held_position(res, n)
    expected = np.empty(n)
    expected[0] = config.initial_investment
    expected[1:] = config.initial_investment + np.cumsum(pos[:-1] * np.diff(bars.close))
    np.testing.assert_allclose(res.equity, expected, rtol=1e-9, atol=1e-6)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 200), every=st.integers(1, 9), amount=st.floats(10, 4000))
def test_zero_costs_dca_buys_conserve_value(seed: int, n: int, every: int, amount: float) -> None:
    """Each DCA buy at the close turns cash into coins at the same value: equity = E0 +
    Σ over bars of (coins held) × price change."""
    bars = _bars(seed, n)
    config = ExecutionConfig(transaction_fee=0.0, slippage=0.0, fill="close")  # type: ignore[arg-type]
    res = _run(bars, "dca", {"every": every, "amount": amount}, config)
    coins = np.zeros(n)
    cash = config.initial_investment
    held = 0.0
    for t in range(n):
        if t % every == 0 and cash > 0:
            spend = min(amount, cash)
            held += spend / bars.close[t]
            cash -= spend
        coins[t] = held
    expected = config.initial_investment + np.r_[0.0, np.cumsum(coins[:-1] * np.diff(bars.close))]
    np.testing.assert_allclose(res.equity, expected, rtol=1e-9, atol=1e-6)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 200), sp=strategy_and_params(), config=configs())
def test_trade_pnl_adds_up_to_final_equity(
    seed: int, n: int, sp: tuple[str, dict[str, Any]], config: Any
) -> None:
    """Σ pnl (fees included, the open trade marked at the last close) = E[n−1] − E0."""
    strategy, params = sp
    res = _run(_bars(seed, n), strategy, params, config)
    total = float(np.sum(res.trades["pnl"]))
    e0 = config.initial_investment
    np.testing.assert_allclose(total, res.equity[-1] - e0, rtol=1e-9, atol=1e-9 * e0)
    np.testing.assert_allclose(
        res.trades["pnl"],
        res.trades["direction"]
        * res.trades["qty"]
        * (res.trades["exit_price"] - res.trades["entry_price"])
        - res.trades["entry_fee"]
        - res.trades["exit_fee"],
        rtol=1e-9,
        atol=1e-9 * e0,
    )
    np.testing.assert_array_equal(
        res.trades["bars_held"], res.trades["exit_bar"] - res.trades["entry_bar"]
    )


# --------------------------------------------------------------------------- batches


@SETTINGS
@given(
    seed=seeds,
    lengths=st.lists(st.integers(1, 150), min_size=1, max_size=5),
    sp=strategy_and_params(),
    config=configs(),
    as_batch=st.booleans(),
)
def test_batch_equals_one_by_one(
    seed: int, lengths: list[int], sp: tuple[str, dict[str, Any]], config: Any, as_batch: bool
) -> None:
    strategy, params = sp
    pairs = [_bars(seed + i, n, symbol=f"P{i}") for i, n in enumerate(lengths)]
    source: Any = BarsBatch.from_bars(pairs) if as_batch else pairs
    batch = coinbt.backtest_batch(source, strategy, params=params, config=config)
    assert batch.symbols == tuple(b.symbol for b in pairs)
    assert len(batch.results) == len(pairs)
    for i, (got, bars) in enumerate(zip(batch.results, pairs, strict=True)):
        single = _run(bars, strategy, params, config)
        _assert_same_result(got, single)
        assert got.symbol == bars.symbol
        np.testing.assert_array_equal(got.time, bars.time)
        assert (got.trades["pair"] == i).all(), got.trades["pair"]


@SETTINGS
@given(
    seed=seeds,
    lengths=st.lists(st.integers(2, 120), min_size=2, max_size=5),
    sp=strategy_and_params(),
    config=configs(),
    data=st.data(),
)
def test_permuting_pairs_permutes_results(
    seed: int,
    lengths: list[int],
    sp: tuple[str, dict[str, Any]],
    config: Any,
    data: st.DataObject,
) -> None:
    strategy, params = sp
    pairs = [_bars(seed + i, n, symbol=f"P{i}") for i, n in enumerate(lengths)]
    order = data.draw(st.permutations(range(len(pairs))))
    straight = coinbt.backtest_batch(pairs, strategy, params=params, config=config)
    shuffled = coinbt.backtest_batch(
        [pairs[i] for i in order], strategy, params=params, config=config
    )
    for k, i in enumerate(order):
        _assert_same_result(shuffled.results[k], straight.results[i])
        assert shuffled.results[k].symbol == pairs[i].symbol


@settings(max_examples=15, deadline=None)
@given(seed=seeds, lengths=st.lists(st.integers(5, 120), min_size=1, max_size=3), config=configs())
def test_sweep_equals_single_runs(seed: int, lengths: list[int], config: Any) -> None:
    pairs = [_bars(seed + i, n, symbol=f"P{i}") for i, n in enumerate(lengths)]
    grid = {"fast": [2, 4], "slow": [5, 9, 20]}
    sweep = coinbt.sweep(pairs, "sma_cross", grid, config=config)
    assert len(sweep.combinations) == 6
    assert sweep.values.shape == (len(pairs), 6, len(METRIC_NAMES))
    for p, bars in enumerate(pairs):
        for c, combo in enumerate(sweep.combinations):
            single = _run(bars, "sma_cross", dict(combo), config)
            for m, name in enumerate(METRIC_NAMES):
                np.testing.assert_allclose(
                    sweep.values[p, c, m], single.metrics[name], rtol=1e-12, err_msg=name
                )
                np.testing.assert_allclose(
                    sweep.metric(name)[p, c], single.metrics[name], rtol=1e-12
                )


# --------------------------------------------------------------------------- price scale


@SETTINGS
@given(
    seed=seeds,
    n=st.integers(1, 200),
    sp=strategy_and_params(),
    config=configs(),
    scale=st.sampled_from([1000.0, 0.001]),
)
def test_returns_do_not_depend_on_price_scale(
    seed: int, n: int, sp: tuple[str, dict[str, Any]], config: Any, scale: float
) -> None:
    strategy, params = sp
    bars = _bars(seed, n)
    scaled = Bars.from_arrays(
        bars.symbol,
        bars.interval,
        bars.time,
        bars.open * scale,
        bars.high * scale,
        bars.low * scale,
        bars.close * scale,
        bars.volume,
    )
    a, b = _run(bars, strategy, params, config), _run(scaled, strategy, params, config)
    e0 = config.initial_investment
    np.testing.assert_allclose(a.equity, b.equity, rtol=1e-9, atol=1e-9 * e0)
    for name in METRIC_NAMES:
        np.testing.assert_allclose(
            a.metrics[name], b.metrics[name], rtol=1e-9, atol=1e-9, err_msg=name
        )
    assert len(a.trades) == len(b.trades)
    for name in ("entry_bar", "exit_bar", "direction", "exit_reason", "bars_held"):
        np.testing.assert_array_equal(a.trades[name], b.trades[name], err_msg=name)
    for name in ("pnl", "entry_fee", "exit_fee"):
        np.testing.assert_allclose(a.trades[name], b.trades[name], rtol=1e-9, atol=1e-9 * e0)
    np.testing.assert_allclose(a.trades["return_pct"], b.trades["return_pct"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.trades["entry_price"] * scale, b.trades["entry_price"], rtol=1e-9)
    np.testing.assert_allclose(a.trades["qty"] / scale, b.trades["qty"], rtol=1e-9)
