"""Signal events from indicator values (docs/strategies.md, docs/execution.md).

A signal column is ``int8``: ``+1`` an entry event, ``-1`` an exit event, ``0`` nothing.
Comparisons treat values within ``REL_TOL`` of each other as equal, so rounding noise in
a flat market never creates a cross.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from coinbt.engine._types import F64, I8, I64

REL_TOL = 1e-12


@njit(cache=True, inline="always", error_model="numpy")
def gt(a: float, b: float) -> bool:
    """``a > b`` beyond rounding noise (False when either is NaN)."""
    return a - b > REL_TOL * max(abs(a), abs(b))


@njit(cache=True, inline="always", error_model="numpy")
def _side(a: float, b: float) -> int:
    # 1: a above b, -1: below, 0: equal within tolerance, 2: undefined (NaN). Branch-free
    # form of gt(a, b) / gt(b, a): b - a is exactly -(a - b) in IEEE arithmetic, and the
    # two tests cannot both hold (the tolerance is never negative).
    d = a - b
    tol = REL_TOL * max(abs(a), abs(b))
    side = int(d > tol) - int(-d > tol)
    return 2 if (np.isnan(a) or np.isnan(b)) else side


@njit(cache=True, error_model="numpy")
def _cross_segment(a: F64, b: F64, out: I8, lo: int, hi: int, up: int, down: int) -> None:
    cross_rows(a[lo:hi], b[lo:hi], out[lo:hi], up, down, 2)


@njit(cache=True, error_model="numpy")
def cross_rows(a: F64, b: F64, out: I8, up: int, down: int, prev: int) -> int:
    """Write the crosses of ``a`` over ``b`` into ``out`` given the side ``prev`` before
    the first row (2: undefined); returns the side after the last row, so a column can
    be processed in consecutive pieces."""
    # Views from row 0: the compiler then drops numba's negative-index checks.
    for t in range(len(a)):
        now = _side(a[t], b[t])
        if prev != 2 and now != prev:
            if now == 1 and up != 0:
                out[t] = up
            elif now == -1 and down != 0:
                out[t] = down
        prev = now
    return prev


@njit(cache=True, parallel=True, error_model="numpy")
def crosses(a: F64, b: F64, offsets: I64, up: int = 1, down: int = -1) -> I8:
    """``up`` where ``a`` crosses above ``b``, ``down`` where it crosses below
    (``0`` disables either)."""
    out = np.zeros(len(a), dtype=np.int8)
    for s in prange(len(offsets) - 1):
        _cross_segment(a, b, out, offsets[s], offsets[s + 1], up, down)
    return out


@njit(cache=True, error_model="numpy")
def _runs_segment(cond_a: F64, cond_b: F64, out: I8, lo: int, hi: int, value: int) -> None:
    run_rows(cond_a[lo:hi], cond_b[lo:hi], out[lo:hi], value, 0)


@njit(cache=True, error_model="numpy")
def run_rows(a: F64, b: F64, out: I8, value: int, prev: int) -> int:
    """Write ``value`` on the first row of each run where ``a > b`` (the first defined row
    counts as a first row), given whether the row before was in a run (``prev`` 1/0);
    returns whether the last row is, so a column can be processed in pieces."""
    for t in range(len(a)):
        now = 1 if _side(a[t], b[t]) == 1 else 0
        if now == 1 and prev == 0:
            out[t] = value
        prev = now
    return prev


@njit(cache=True, parallel=True, error_model="numpy")
def run_starts(a: F64, b: F64, offsets: I64, value: int, out: I8) -> I8:
    """Write ``value`` into ``out`` on the first bar of each run where ``a > b``; keeps
    what ``out`` held elsewhere (so two calls can combine entries and exits)."""
    for s in prange(len(offsets) - 1):
        _runs_segment(a, b, out, offsets[s], offsets[s + 1], value)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def every(offsets: I64, n: int, step: int) -> I8:
    """``+1`` on bars ``0, step, 2·step, …`` of each pair."""
    out = np.zeros(n, dtype=np.int8)
    for s in prange(len(offsets) - 1):
        for t in range(offsets[s], offsets[s + 1], step):
            out[t] = 1
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def first_bar(offsets: I64, n: int) -> I8:
    """``+1`` on the first bar of each pair (buy and hold)."""
    out = np.zeros(n, dtype=np.int8)
    for s in prange(len(offsets) - 1):
        if offsets[s + 1] > offsets[s]:
            out[offsets[s]] = 1
    return out
