"""Speed, memory and start-up of the coinbt engine, against a bare numba loop and peers.

Run ``.venv/bin/python benchmarks/bench_engine.py`` (``--quick`` for a seconds-long smoke
run, ``--help`` for the options). It prints one markdown table of medians (and minima) over
several repeats, then how the data set was built and how every peer was configured.

Cases (full mode): SMA cross 10/30 over 263 pairs × 8,760 hourly bars with
``coinbt.backtest_batch`` (signals, simulation, metrics and trade records), one pair with
``coinbt.backtest``, a 100-combination ``coinbt.sweep`` pinned to one thread, the peak
memory of the batch call over the candles' own size, the first-call cost in a fresh
process, a bare numba loop as the floor, and vectorbt / backtesting.py when installed
(``make bench-peers``), configured to coinbt's execution model and checked to agree.

Data: the real Binance hourly files of ``--data-dir`` (default: the shared data set), else
the bundled sample (``coinbt.sample``), else synthetic random walks.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba import njit, prange

DEFAULT_DATA_DIR = Path("/work/shared/data/real/binance_spot/1h")
FAST, SLOW = 10, 30
FEE = 0.001
CASH = 10_000.0
REL_TOL = 1e-12  # docs/strategies.md: values within 1e-12 relative compare as equal
AGREE_TOL = 1e-6
SWEEP_GRID = {"fast": list(range(5, 51, 5)), "slow": list(range(60, 241, 20))}
BT_UNIT_COUNT = 1e13  # backtesting.py: whole units per all-in entry (see _bt_unit)


@dataclass(frozen=True)
class Mode:
    """Sizes and repeat counts of one run."""

    pairs: int
    bars: int
    repeats: int
    single_repeats: int
    sweep_repeats: int
    peer_repeats: int
    bt_pairs: int
    bt_repeats: int
    cold_start: bool
    full_size: bool  # the targets are set for the full sizes only


FULL = Mode(263, 8_760, 21, 201, 3, 7, 5, 3, True, True)
QUICK = Mode(20, 2_000, 5, 21, 2, 2, 2, 1, False, False)


@dataclass(frozen=True)
class Timing:
    """Wall-clock statistics of repeated calls, in milliseconds."""

    median_ms: float
    min_ms: float
    repeats: int

    def text(self) -> str:
        return f"{_fmt_ms(self.median_ms)} (min {_fmt_ms(self.min_ms)})"


@dataclass
class Row:
    """One line of the result table."""

    case: str
    coinbt: str
    target: str = ""
    peer: str = ""
    peer_value: str = ""
    ratio: str = ""
    agreement: str = ""


@dataclass
class Report:
    """The table plus the notes printed under it."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Agreement:
    """How a peer's per-pair final equity and trade counts compare with coinbt's."""

    pairs: int
    agreeing: int
    trades_equal: int
    max_rel: float
    worst: int

    def text(self) -> str:
        return (
            f"{self.agreeing}/{self.pairs} pairs within {AGREE_TOL:g} "
            f"(max rel diff {self.max_rel:.1e}); trades equal {self.trades_equal}/{self.pairs}"
        )


# --------------------------------------------------------------------------------------
# Data: real hourly files, else the bundled sample, else synthetic random walks.


def _read_tail(path: Path, n: int) -> np.ndarray | None:
    """The last ``n`` candle rows of a CSV file as an (n, 6) float array, or None."""
    size = path.stat().st_size
    chunk = min(size, (n + 2) * 80)
    while True:
        with path.open("rb") as fh:
            fh.seek(size - chunk)
            lines = [ln for ln in fh.read().decode().splitlines()[1:] if ln.strip()]
        if len(lines) >= n:
            return np.loadtxt(lines[-n:], delimiter=",", dtype=np.float64, ndmin=2)
        if chunk == size:
            return None
        chunk = min(size, chunk * 2)


def _bars_from_rows(symbol: str, rows: np.ndarray) -> Any:
    import coinbt

    return coinbt.Bars.from_arrays(symbol, "1h", rows[:, 0].astype(np.int64), *rows[:, 1:6].T)


def _load_dir(data_dir: Path, bars: int, limit: int) -> tuple[list[Any], str]:
    from coinbt import CoinbtError

    files = sorted(data_dir.glob("*-1h.csv"))
    pairs, short, bad = [], 0, 0
    for path in files:
        if len(pairs) >= limit:
            break
        rows = _read_tail(path, bars)
        if rows is None:
            short += 1
            continue
        try:
            pairs.append(_bars_from_rows(path.name.split("-")[0], rows))
        except CoinbtError:
            bad += 1
    how = (
        f"{len(files)} files in {data_dir}, read in name order up to {limit} usable: "
        f"{len(pairs)} with >= {bars:,} bars (last {bars:,} bars of each taken), {short} "
        f"shorter, {bad} refused by validation"
    )
    return pairs, how


def _load_sample(bars: int) -> tuple[list[Any], str]:
    import coinbt
    from coinbt import sample

    pairs = [
        coinbt.Bars.from_arrays(s.symbol, "1h", s.time, s.open, s.high, s.low, s.close, s.volume)
        for s in sample.load_all("1h")
    ]
    pairs = [p.take(slice(len(p) - bars, len(p))) for p in pairs if len(p) >= bars]
    return pairs, f"bundled coinbt.sample 1h: {len(pairs)} pairs with >= {bars:,} bars"


def _synthetic(count: int, bars: int) -> tuple[list[Any], str]:
    rng = np.random.default_rng(42)
    pairs = []
    for k in range(count):
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
        open_ = np.concatenate(([100.0], close[:-1]))
        wick = 1.0 + np.abs(rng.normal(0.0, 0.003, (2, bars)))
        high, low = np.maximum(open_, close) * wick[0], np.minimum(open_, close) / wick[1]
        rows = np.column_stack(
            [np.arange(bars) * 3_600_000.0, open_, high, low, close, rng.random(bars)]
        )
        pairs.append(_bars_from_rows(f"SYN{k:03d}USDT", rows))
    return pairs, f"synthetic random walks (seed 42): {count} pairs × {bars:,} bars"


def _fill_to(pairs: list[Any], count: int) -> tuple[list[Any], str]:
    """Reuse pairs with prices × 10^(round) and a new symbol until there are ``count``."""
    base = len(pairs)
    out = list(pairs[:count])
    k = 0
    while len(out) < count:
        src, factor = pairs[k % base], 10.0 ** (1 + k // base)
        out.append(_scaled(src, factor, f"{src.symbol}X{factor:g}"))
        k += 1
    if k == 0:
        return out, f"{len(out)} pairs used as they are"
    return out, (
        f"{base} distinct pairs + {k} reused (the first {min(k, base)} by name; prices × 10 on "
        f"the first reuse, × 100 on a second, …; symbol + 'X<factor>') = {len(out)} pairs"
    )


def _scaled(bars: Any, factor: float, symbol: str) -> Any:
    import coinbt

    cols = [bars.open, bars.high, bars.low, bars.close]
    return coinbt.Bars(symbol, bars.interval, bars.time, *(c * factor for c in cols), bars.volume)


def load_batch(data_dir: Path, mode: Mode) -> tuple[Any, str]:
    """The benchmark's BarsBatch and a sentence saying how it was built."""
    import coinbt

    pairs: list[Any] = []
    how = ""
    if data_dir.is_dir():
        pairs, how = _load_dir(data_dir, mode.bars, mode.pairs)
    if not pairs:
        pairs, how = _load_sample(mode.bars)
    if not pairs:
        pairs, how = _synthetic(mode.pairs, mode.bars)
    pairs, filled = _fill_to(pairs, mode.pairs)
    return coinbt.BarsBatch.from_bars(pairs), f"{how}; {filled}"


def save_batch(batch: Any, path: Path) -> None:
    cols = {n: getattr(batch, n) for n in ("offsets", "time", "open", "high", "low", "close")}
    np.savez(path, symbols=np.array(batch.symbols), volume=batch.volume, **cols)


def read_batch(path: str) -> Any:
    import coinbt

    with np.load(path) as z:
        cols = {n: z[n] for n in ("offsets", "time", "open", "high", "low", "close", "volume")}
        symbols = tuple(str(s) for s in z["symbols"])
    return coinbt.BarsBatch(symbols, coinbt.Interval("1h"), **cols)


# --------------------------------------------------------------------------------------
# Timing helpers and the coinbt cases run in this process.


def measure(
    fn: Callable[[], Any], repeats: int, warmup: int = 1, *, collect: bool = True
) -> tuple[Timing, Any]:
    """Median and minimum of ``repeats`` timed calls after ``warmup`` untimed ones. The
    cyclic garbage collector is off while timing (as in ``timeit``); with ``collect`` it
    runs before each call, else once before back-to-back calls."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    gc.collect()
    for _ in range(repeats):
        out = None
        if collect:
            gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - t0) * 1e3)
        finally:
            gc.enable()
    return Timing(statistics.median(times), min(times), repeats), out


def run_batch(batch: Any) -> Any:
    import coinbt

    return coinbt.backtest_batch(batch, "sma_cross", fast=FAST, slow=SLOW, transaction_fee=FEE)


def coinbt_finals(result: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair final equity and number of trades of a BatchResult."""
    eq = np.array([r.metrics["final_equity"] for r in result.results])
    n = np.array([r.metrics["num_trades"] for r in result.results])
    return eq, n


def case_batch(batch: Any, mode: Mode) -> tuple[Row, Timing, Any]:
    timing, result = measure(lambda: run_batch(batch), mode.repeats)
    shape = f"{len(batch)} pairs × {mode.bars:,} bars"
    row = Row(
        f"1. SMA 10/30 batch, {shape}",
        timing.text(),
        _target(timing.median_ms, 25.0, "ms", mode.full_size),
    )
    return row, timing, result


def case_single(batch: Any, mode: Mode) -> tuple[Row, str]:
    import coinbt

    i = batch.symbols.index("BTCUSDT") if "BTCUSDT" in batch.symbols else 0
    bars = batch.pair(i)

    def call() -> Any:
        return coinbt.backtest(bars, "sma_cross", fast=FAST, slow=SLOW, transaction_fee=FEE)

    timing, _ = measure(call, mode.single_repeats, collect=False)
    idle, _ = measure(call, mode.single_repeats, collect=True)
    case = f"2. one pair ({bars.symbol}) × {len(bars):,} bars"
    row = Row(case, timing.text(), _target(timing.median_ms, 1.0, "ms", mode.full_size))
    note = (
        f"One pair: back-to-back calls (table) {timing.text()}; with gc.collect() before each "
        f"call {idle.text()} (each call then starts with cold CPU caches)."
    )
    return row, note


def _target(value: float, limit: float, unit: str = "ms", checked: bool = True) -> str:
    if not checked:
        return f"≤ {limit:g} {unit} at full size"
    mark = "✓" if value <= limit else "✗"
    return f"≤ {limit:g} {unit} {mark}"


def _fmt_ms(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1e3:,.1f} s"
    return f"{ms:,.1f} ms" if ms >= 1 else f"{ms:.3f} ms"


# --------------------------------------------------------------------------------------
# Bare numba floor: fused SMA cross + all-in long-only next-open fills with fees.


@njit(cache=True, inline="always", error_model="numpy")
def _neumaier(total: float, comp: float, value: float) -> tuple[float, float]:
    t = total + value
    if abs(total) >= abs(value):
        comp += (total - t) + value
    else:
        comp += (value - t) + total
    return t, comp


@njit(cache=True, inline="always", error_model="numpy")
def _side(f: float, s: float) -> int:
    tol = REL_TOL * max(abs(f), abs(s))
    return 1 if f - s > tol else (-1 if s - f > tol else 0)


@njit(cache=True, error_model="numpy")
def _bare_pair(o, c, lo, hi, fast, slow, fee, cash0):
    # One pass: both SMAs as compensated rolling sums (as coinbt), the docs cross rule, and
    # the pending order of bar t-1 filled all-in at open[t]; only the final equity is kept.
    ft = fc = st = sc = 0.0
    cash, qty, trades, prev, pending = cash0, 0.0, 0, 2, 0
    for i in range(lo, hi):
        if pending == 1 and qty == 0.0:
            qty = cash / (o[i] * (1.0 + fee))
            cash -= qty * o[i] * (1.0 + fee)
            trades += 1
        elif pending == -1 and qty > 0.0:
            cash += qty * o[i] * (1.0 - fee)
            qty = 0.0
        pending, k = 0, i - lo
        ft, fc = _neumaier(ft, fc, c[i])
        st, sc = _neumaier(st, sc, c[i])
        if k >= fast:
            ft, fc = _neumaier(ft, fc, -c[i - fast])
        if k >= slow:
            st, sc = _neumaier(st, sc, -c[i - slow])
        if k >= slow - 1:
            now = _side((ft + fc) / fast, (st + sc) / slow)
            pending = now if prev != 2 and now != prev else 0
            prev = now
    return cash + qty * c[hi - 1], trades


@njit(cache=True, parallel=True, error_model="numpy")
def _bare_batch(o, c, offsets, fast, slow, fee, cash0):
    m = len(offsets) - 1
    final = np.empty(m)
    trades = np.empty(m, dtype=np.int64)
    for s in prange(m):
        final[s], trades[s] = _bare_pair(o, c, offsets[s], offsets[s + 1], fast, slow, fee, cash0)
    return final, trades


def case_bare(batch: Any, mode: Mode, ref: Timing, finals: Sequence[np.ndarray]) -> Row:
    args = (batch.open, batch.close, batch.offsets, FAST, SLOW, FEE, CASH)
    timing, (eq, n) = measure(lambda: _bare_batch(*args), mode.repeats)
    agree = compare(finals[0], finals[1], eq, n)
    return Row(
        "1. same batch",
        "",
        "",
        "bare numba loop (fused SMA + cross + fills; no curves/records/metrics)",
        timing.text(),
        f"{timing.median_ms / ref.median_ms:.2f}",
        agree.text(),
    )


def compare(ref_eq: np.ndarray, ref_n: np.ndarray, eq: np.ndarray, n: np.ndarray) -> Agreement:
    """Per-pair relative difference of final equity, and equal trade counts."""
    rel = np.abs(np.asarray(eq, float) - ref_eq) / np.abs(ref_eq)
    same_n = np.asarray(n) == ref_n
    ok = (rel <= AGREE_TOL) & same_n
    worst = int(np.argmax(rel))
    return Agreement(len(ref_eq), int(ok.sum()), int(same_n.sum()), float(rel.max()), worst)


# --------------------------------------------------------------------------------------
# Cases run in fresh subprocesses: sweep on one thread, peak memory, first-call cost.


def _child(kind: str, npz: Path, env: dict[str, str] | None = None, *extra: str) -> dict:
    """Run this script as ``--child kind`` in a fresh process; its last stdout line is JSON."""
    cmd = [sys.executable, __file__, "--child", kind, "--npz", str(npz), *extra]
    done = subprocess.run(
        cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_sweep(npz: str, repeats: int) -> dict:
    """(In the child.) Time the 100-combination sweep; check one combination."""
    import coinbt

    batch = read_batch(npz)
    coinbt.sweep(batch.pair(0), "sma_cross", SWEEP_GRID, transaction_fee=FEE)  # compile/load
    timing, grid = measure(
        lambda: coinbt.sweep(batch, "sma_cross", SWEEP_GRID, transaction_fee=FEE), repeats, 0
    )
    first = grid.combinations[0]
    one = coinbt.backtest_batch(batch, "sma_cross", params=first, transaction_fee=FEE)
    names = list(one.results[0].metrics)
    rows = np.array([[r.metrics[k] for k in names] for r in one.results])
    swept = np.column_stack([grid.metric(k)[:, 0] for k in names])
    diff = float(np.max(np.abs(swept - rows) / np.maximum(np.abs(rows), 1.0)))
    return {
        "median_ms": timing.median_ms,
        "min_ms": timing.min_ms,
        "combos": len(grid.combinations),
        "threads": numba.get_num_threads(),
        "check": {"combo": first, "max_rel_diff": diff},
    }


def child_memory(npz: str) -> dict:
    """(In the child.) Peak RSS of one batch call over the candles' own bytes."""
    batch = read_batch(npz)
    run_batch(batch.pair(0))  # load the compiled kernels before the baseline
    gc.collect()
    reset = _reset_peak()
    base = _rss_kb("VmRSS")
    result = run_batch(batch)
    peak = _rss_kb("VmHWM") if reset else _maxrss_kb()
    held = _rss_kb("VmRSS")
    del result
    return {
        "method": "VmHWM after clear_refs" if reset else "ru_maxrss (includes loading)",
        "baseline_mb": base / 1024,
        "peak_mb": peak / 1024,
        "held_mb": (held - base) / 1024,
        "candle_mb": batch.nbytes / 2**20,
        "ratio": (peak - base) * 1024 / batch.nbytes,
        "held_ratio": (held - base) * 1024 / batch.nbytes,
    }


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _rss_kb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return _maxrss_kb()


def _maxrss_kb() -> float:
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# Runs with ``python -c`` so that nothing but numpy is imported before the clock starts.
FIRST_CALL_CODE = """
import sys, time, json
import numpy as np
z = np.load(sys.argv[1])
cols = {n: z[n] for n in ("offsets", "time", "open", "high", "low", "close", "volume")}
symbols = tuple(str(s) for s in z["symbols"])
t0 = time.perf_counter()
import coinbt
t1 = time.perf_counter()
batch = coinbt.BarsBatch(symbols, coinbt.Interval("1h"), **cols)
coinbt.backtest_batch(batch, "sma_cross", fast=10, slow=30, transaction_fee=0.001)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "total_s": t2 - t0}))
"""


def _first_call(npz: Path, env: dict[str, str]) -> dict:
    cmd = [sys.executable, "-c", FIRST_CALL_CODE, str(npz)]
    done = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"first-call child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def case_sweep(npz: Path, mode: Mode, threads: int | None) -> Row:
    """The sweep in a fresh process: ``threads`` pins numba's pool, None keeps its default."""
    env = {"NUMBA_NUM_THREADS": str(threads)} if threads else {}
    res = _child("sweep", npz, env, str(mode.sweep_repeats))
    timing = Timing(res["median_ms"], res["min_ms"], mode.sweep_repeats)
    check = res["check"]
    combo = ",".join(f"{k}={v}" for k, v in check["combo"].items())
    label = f"3. sweep {res['combos']} combos, {res['threads']} thread(s)"
    target = _target(timing.median_ms / 1e3, 1.5, "s", mode.full_size) if threads == 1 else "(info)"
    diff = check["max_rel_diff"]
    agreement = f"sweep[{combo}] vs backtest_batch: 20 metrics, max rel diff {diff:.1e}"
    return Row(label, timing.text(), target, agreement=agreement)


def case_memory(npz: Path) -> tuple[Row, str]:
    res = _child("memory", npz)
    value = f"{res['ratio']:.2f}× ({res['peak_mb'] - res['baseline_mb']:.0f} MB)"
    row = Row("4. peak memory of case 1 / candle bytes", value, _target(res["ratio"], 3.0, "×"))
    note = (
        f"Memory (fresh process, {res['method']}): baseline {res['baseline_mb']:.0f} MB after "
        f"loading the candles and one warm-up call on one pair, peak +"
        f"{res['peak_mb'] - res['baseline_mb']:.0f} MB during the call; candles "
        f"{res['candle_mb']:.0f} MB (BarsBatch.nbytes); still held with the result alive: "
        f"+{res['held_mb']:.0f} MB ({res['held_ratio']:.2f}×)."
    )
    return row, note


def case_first_call(npz: Path, mode: Mode) -> tuple[list[Row], str]:
    if not mode.cold_start:
        res = _first_call(npz, {})
        row = _first_call_row(res, "default cache", _target(res["total_s"], 2.0, "s"))
        return [row], "First call: a fresh `python -c` process, numba's default cache."
    with tempfile.TemporaryDirectory(prefix="coinbt-numba-cache-") as cache:
        cold = _first_call(npz, {"NUMBA_CACHE_DIR": cache})
        warm = _first_call(npz, {"NUMBA_CACHE_DIR": cache})
    rows = [
        _first_call_row(cold, "cold (empty cache: compiles)", "(info)"),
        _first_call_row(warm, "cached (2nd run)", _target(warm["total_s"], 2.0, "s")),
    ]
    return rows, "First call: fresh `python -c` processes sharing a new empty NUMBA_CACHE_DIR."


def _first_call_row(res: dict, label: str, target: str) -> Row:
    value = f"{res['total_s']:.2f} s (import {res['import_s']:.2f} s)"
    return Row(f"5. import + first batch call, {label}", value, target)


# --------------------------------------------------------------------------------------
# Peers: the same model (signal on t's close fills at t+1's open, fee 0.001 of traded value
# per fill, all-in fractional, long-only, SMA = rolling mean of close, docs' cross events).


@njit(cache=True, error_model="numpy")
def cross_events(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit events (bars × pairs booleans) by the rule of docs/strategies.md."""
    n, m = fast.shape
    entries = np.zeros((n, m), dtype=np.bool_)
    exits = np.zeros((n, m), dtype=np.bool_)
    for j in range(m):
        prev = 2
        for t in range(n):
            f, s = fast[t, j], slow[t, j]
            now = 2 if np.isnan(f) or np.isnan(s) else _side(f, s)
            if prev != 2 and now != prev:
                entries[t, j] = now == 1
                exits[t, j] = now == -1
            prev = now
    return entries, exits


def next_bar(events: np.ndarray) -> np.ndarray:
    """Events moved one bar later: a close's signal becomes the next bar's order."""
    out = np.zeros_like(events)
    out[1:] = events[:-1]
    return out


def frames(batch: Any, bars: int) -> dict[str, Any]:
    """Open and close of every pair as bars × pairs DataFrames (bar number index)."""
    import pandas as pd

    m = len(batch)
    cols = list(batch.symbols)
    return {
        name: pd.DataFrame(getattr(batch, name).reshape(m, bars).T, columns=cols)
        for name in ("open", "close")
    }


def vbt_signals(vbt: Any, close: Any) -> tuple[np.ndarray, np.ndarray]:
    fast = vbt.MA.run(close, FAST).ma.to_numpy()
    slow = vbt.MA.run(close, SLOW).ma.to_numpy()
    entries, exits = cross_events(fast, slow)
    return next_bar(entries), next_bar(exits)


def vbt_portfolio(vbt: Any, df: dict[str, Any], entries: Any, exits: Any) -> Any:
    return vbt.Portfolio.from_signals(
        df["close"],
        entries,
        exits,
        price=df["open"],
        fees=FEE,
        init_cash=CASH,
        size=np.inf,
        direction="longonly",
        freq="1h",
    )


def vbt_full(vbt: Any, df: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    entries, exits = vbt_signals(vbt, df["close"])
    pf = vbt_portfolio(vbt, df, entries, exits)
    return pf.final_value().to_numpy(), pf.trades.count().to_numpy()


def peer_vectorbt(batch: Any, mode: Mode, ref: Timing, finals: Sequence[np.ndarray]) -> Report:
    report = Report()
    try:
        import vectorbt as vbt
    except ImportError:
        row = Row("1. same batch", "", "", "vectorbt", "not installed (make bench-peers)")
        report.rows.append(row)
        return report
    df = frames(batch, mode.bars)
    full, (eq, n) = measure(lambda: vbt_full(vbt, df), mode.peer_repeats)
    entries, exits = vbt_signals(vbt, df["close"])
    sim, _ = measure(lambda: vbt_portfolio(vbt, df, entries, exits), mode.peer_repeats)
    agree = compare(finals[0], finals[1], eq, n)
    name = f"vectorbt {vbt.__version__}"
    report.rows += [
        Row("1. same batch", "", "", f"{name}: MA + signals + from_signals + results",
            full.text(), f"{full.median_ms / ref.median_ms:.1f}", agree.text()),
        Row("1. same batch", "", "", f"{name}: from_signals only", sim.text(),
            f"{sim.median_ms / ref.median_ms:.1f}", "(same run)"),
    ]  # fmt: skip
    report.notes.append(_vbt_note(vbt, agree, batch) + " " + _vbt_native_check(vbt, df))
    return report


def _vbt_note(vbt: Any, agree: Agreement, batch: Any) -> str:
    try:
        from vectorbt._engine import is_rust_available
    except ImportError:  # vectorbt < 1.0 has only the numba engine
        engine = "numba"
    else:
        engine = "rust" if is_rust_available() else "numba (vectorbt-rust not installed)"
    return (
        f"vectorbt: one call over {len(batch)} columns; vbt.MA.run(close, 10/30) (rolling mean), "
        "cross events by the docs rule, then the ADJUSTMENT for next-open fills: entries/exits "
        "shifted one bar later and price=open (vectorbt fills at the signal bar's close by "
        "default; the last bar's signal falls off, as in coinbt); "
        "Portfolio.from_signals(close, price=open, fees=0.001, init_cash=10000, size=inf, "
        f"direction='longonly'); engine {engine}. Compared: final_value() and trades.count() "
        "(open trade included, as coinbt's num_trades); only those two results are in its "
        "timing, while coinbt's call also builds 20 metrics, curves and trade records per pair. "
        "Worst pair: "
        f"{batch.symbols[agree.worst]} ({agree.max_rel:.1e})."
    )


def _vbt_native_check(vbt: Any, df: dict[str, Any]) -> str:
    """Why the docs cross rule is used instead of vectorbt's own crossover helpers."""
    fast, slow = vbt.MA.run(df["close"], FAST), vbt.MA.run(df["close"], SLOW)
    native = (fast.ma_crossed_above(slow).to_numpy(), fast.ma_crossed_below(slow).to_numpy())
    f, s = fast.ma.to_numpy(), slow.ma.to_numpy()
    docs = cross_events(f, s)
    diff = (native[0] != docs[0]) | (native[1] != docs[1])
    tie = np.abs(f - s) <= REL_TOL * np.maximum(np.abs(f), np.abs(s))
    near = tie | np.vstack([tie[:1], tie[:-1]])
    return (
        f"ADJUSTMENT for signals: vectorbt's own ma_crossed_above/below compare exactly; they "
        f"differ from the docs rule on {int(diff.any(axis=0).sum())} pairs ({int(diff.sum())} "
        f"events, {int((diff & near).sum())} of them where the SMAs are equal within 1e-12 at "
        "t or t-1: rounding noise in flat stretches), so both peers use the docs rule."
    )


def _bt_unit(close: np.ndarray) -> float:
    """A power of two (so scaling is exact) making an all-in entry ~1e13 whole units."""
    return 2.0 ** round(math.log2(CASH / (float(np.median(close)) * BT_UNIT_COUNT)))


def _bt_strategy(bt: Any) -> type:
    import pandas as pd

    def sma(values: np.ndarray, w: int) -> np.ndarray:
        return pd.Series(values).rolling(w).mean().to_numpy()

    def side(f: float, s: float) -> int:
        if math.isnan(f) or math.isnan(s):
            return 2
        tol = REL_TOL * max(abs(f), abs(s))
        return 1 if f - s > tol else (-1 if s - f > tol else 0)

    class SmaCross(bt.Strategy):
        def init(self) -> None:
            self.f = self.I(sma, self.data.Close, FAST)
            self.s = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            now, prev = side(self.f[-1], self.s[-1]), side(self.f[-2], self.s[-2])
            if prev == 2 or now == prev:
                return
            if now == 1 and not self.position:
                self.buy()
            elif now == -1 and self.position:
                self.position.close()

    return SmaCross


def _bt_frame(bars: Any, divide: float = 1.0) -> Any:
    import pandas as pd

    cols = {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close}
    frame = pd.DataFrame({k: v / divide for k, v in cols.items()})
    frame["Volume"] = bars.volume
    frame.index = pd.to_datetime(bars.time, unit="ms")
    return frame


def bt_run(bt_lib: Any, strategy: type, bars: Any) -> tuple[float, int]:
    test = bt_lib.FractionalBacktest(
        _bt_frame(bars), strategy, cash=CASH, commission=FEE,
        fractional_unit=_bt_unit(bars.close), trade_on_close=False, exclusive_orders=False,
        finalize_trades=False,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "trades remain open": intended, marked to market
        stats = test.run()
    return float(stats["Equity Final [$]"]), int(stats["# Trades"]) + len(stats._strategy.trades)


def _import_backtesting() -> tuple[Any, Any, str]:
    """(backtesting, backtesting.lib, "") or (None, None, why it cannot run)."""
    try:
        import backtesting
        import backtesting.lib as bt_lib
    except ImportError:
        return None, None, "not installed (make bench-peers)"
    if not hasattr(bt_lib, "FractionalBacktest"):
        return None, None, f"{backtesting.__version__} is too old: needs >= 0.6.5"
    return backtesting, bt_lib, ""


def peer_backtesting(batch: Any, mode: Mode, ref: Timing, finals: Sequence[np.ndarray]) -> Report:
    report = Report()
    backtesting, bt_lib, why = _import_backtesting()
    if why:
        report.rows.append(Row("1. same batch", "", "", "backtesting.py", why))
        return report
    strategy = _bt_strategy(backtesting)
    picks = np.linspace(0, len(batch) - 1, mode.bt_pairs).round().astype(int)
    subset = [batch.pair(int(i)) for i in picks]

    def run_all() -> list[tuple[float, int]]:
        return [bt_run(bt_lib, strategy, b) for b in subset]

    timing, out = measure(run_all, mode.bt_repeats)
    scale = len(batch) / len(subset)
    est = Timing(timing.median_ms * scale, timing.min_ms * scale, timing.repeats)
    eq, n = np.array([o[0] for o in out]), np.array([o[1] for o in out])
    agree = compare(finals[0][picks], finals[1][picks], eq, n)
    name = f"backtesting.py {backtesting.__version__}: {len(subset)} pairs, × {scale:.1f}"
    report.rows.append(Row("1. same batch", "", "", name, est.text(),
                           f"{est.median_ms / ref.median_ms:.0f}", agree.text()))  # fmt: skip
    check = _bt_whole_units(backtesting, strategy, batch, finals)
    report.notes.append(_bt_note(batch, picks, agree) + " " + check)
    return report


def _bt_whole_units(bt: Any, strategy: type, batch: Any, finals: Sequence[np.ndarray]) -> str:
    """What plain whole-unit Backtest gives on the priciest pair, unscaled and prices / 1e6."""
    i = int(np.argmax([np.median(p.close) for p in batch]))
    bars, want = batch.pair(i), finals[0][i]
    got = []
    for div in (1.0, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "prices larger than initial cash": the point
            stats = bt.Backtest(_bt_frame(bars, div), strategy, cash=CASH, commission=FEE).run()
        got.append((float(stats["Equity Final [$]"]), len(stats["_trades"])))
    rel = abs(got[1][0] / want - 1.0)
    return (
        f"Whole units matter: on {bars.symbol} plain Backtest makes {got[0][1]} closed trades "
        f"(final {got[0][0]:,.2f} vs coinbt {want:,.2f}); with prices / 1e6 (the FAQ "
        f"workaround) it is off by {rel:.1e} relative, hence the finer unit above."
    )


def _bt_note(batch: Any, picks: np.ndarray, agree: Agreement) -> str:
    names = ", ".join(batch.symbols[int(i)] for i in picks)
    return (
        f"backtesting.py: pairs {names}, one Backtest per pair, timed and multiplied by "
        f"{len(batch)}/{len(picks)}. It trades whole units only, so it runs as "
        "lib.FractionalBacktest with fractional_unit = a power of two near "
        f"cash / (median close × {BT_UNIT_COUNT:g}) (prices scale exactly; whole-unit rounding "
        "< 1e-12 of an entry); commission=0.001 (charged on entry and exit value), "
        "trade_on_close=False (market orders fill at the next open), buy() = all available "
        "cash, long-only, finalize_trades=False (an open trade stays marked at the last close, "
        "counted with the closed ones). SMA = pandas rolling mean in self.I; next() applies "
        f"the docs cross rule. Worst pair: {batch.symbols[int(picks[agree.worst])]} "
        f"({agree.max_rel:.1e})."
    )


# --------------------------------------------------------------------------------------
# Output and main.


def print_table(report: Report) -> None:
    head = ["case", "coinbt median (min)", "target", "peer / floor", "peer median (min)",
            "peer ÷ coinbt", "agreement with coinbt"]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in report.rows:
        cells = [r.case, r.coinbt, r.target, r.peer, r.peer_value, r.ratio, r.agreement]
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        "- peer ÷ coinbt: the peer's median over coinbt's case-1 median (> 1: coinbt is faster; "
        "for the bare loop: the floor's share of coinbt's time). Agreement: per-pair final "
        f"equity within {AGREE_TOL:g} relative and the same number of trades. Timing: "
        "wall clock, warm (one untimed call first), garbage collector off during timed calls "
        "and run before each (but case 2)."
    )
    for note in report.notes:
        print(f"- {note}")


def environment() -> str:
    import coinbt

    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"coinbt {coinbt.__version__}, Python {platform.python_version()}, numpy "
        f"{np.__version__}, numba {numba.__version__} ({numba.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs), {platform.machine()}, load average {load}"
    )


def load_warning() -> list[str]:
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load <= 0.5 * cpus:
        return []
    return [
        f"WARNING: 1-minute load average {load:.1f} on {cpus} CPUs: other processes compete "
        "for the cores and numba's parallel regions stall waiting for descheduled threads; "
        "rerun when `uptime` shows a low load."
    ]


def run_cases(args: argparse.Namespace, mode: Mode, report: Report, npz: Path) -> None:
    batch, how = load_batch(args.data_dir, mode)
    report.notes += [f"Data: {how}.", f"Environment at start: {environment()}.", *load_warning()]
    save_batch(batch, npz)
    row, ref, result = case_batch(batch, mode)
    finals = coinbt_finals(result)
    del result
    report.rows += [row, case_bare(batch, mode, ref, finals)]
    single, single_note = case_single(batch, mode)  # before peers' imports grow the heap
    report.notes.append(single_note)
    if args.peers:
        for peer in (peer_vectorbt, peer_backtesting):
            sub = peer(batch, mode, ref, finals)
            report.rows += sub.rows
            report.notes += sub.notes
    else:
        report.notes.append("Peers skipped (--quick without --peers, or --no-peers).")
    report.rows += [single, case_sweep(npz, mode, 1), case_sweep(npz, mode, None)]
    mem_row, mem_note = case_memory(npz)
    first_rows, first_note = case_first_call(npz, mode)
    report.rows += [mem_row, *first_rows]
    report.notes += [mem_note, first_note, f"Environment at end: {environment()}."]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20 pairs × 2,000 bars, few repeats")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="*-1h.csv files")
    peers = p.add_mutually_exclusive_group()
    peers.add_argument(
        "--peers", dest="peers", action="store_true", default=None, help="default unless --quick"
    )
    peers.add_argument("--no-peers", dest="peers", action="store_false", help="skip the peers")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--npz", help=argparse.SUPPRESS)
    p.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.peers is None:
        args.peers = not args.quick
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars
    if args.child == "sweep":
        print(json.dumps(child_sweep(args.npz, int(args.child_args[0]))))
        return 0
    if args.child == "memory":
        print(json.dumps(child_memory(args.npz)))
        return 0
    mode = QUICK if args.quick else FULL
    report = Report()
    with tempfile.TemporaryDirectory(prefix="coinbt-bench-") as tmp:
        run_cases(args, mode, report, Path(tmp) / "batch.npz")
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
