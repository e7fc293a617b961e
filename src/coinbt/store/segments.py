"""Runs of equal ids in an array sorted by id: the rows of each pair in a read of many
pairs, found once with numpy instead of a loop over pairs. Pure, no I/O."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.integer]
Rows = npt.NDArray[np.intp]


def first_rows(ids: Ids) -> npt.NDArray[np.bool_]:
    """True on the first row of each run of equal ids (``ids`` must not be empty)."""
    first = np.empty(len(ids), dtype=np.bool_)
    first[0] = True
    np.not_equal(ids[1:], ids[:-1], out=first[1:])
    return first


def run_of(first: npt.NDArray[np.bool_]) -> Rows:
    """The run number (0, 1, …) of every row, from :func:`first_rows`."""
    return np.cumsum(first) - 1


def starts_and_ends(first: npt.NDArray[np.bool_]) -> tuple[Rows, Rows]:
    """The first and last row of every run, from :func:`first_rows`."""
    starts = np.flatnonzero(first)
    return starts, np.append(starts[1:], len(first)) - 1
