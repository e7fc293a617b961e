"""The small protocol between the SQL store and a database driver.

:class:`~coinbt.store.sql.SqlStore` holds every query and rule of the store once; a driver
(DuckDB, PostgreSQL) only runs SQL, moves numpy columns in and out in bulk, and translates
its library's errors into :mod:`coinbt.errors`. SQL is written with ``?`` placeholders (a list
of values is one parameter: ``crypto_id = ANY(?)``, one statement text for any count) and
in the dialect both databases share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Columns = Mapping[str, npt.NDArray[Any]]
"""Named numpy columns of equal length (int32, int64 or float64)."""

Dtypes = Mapping[str, type[np.generic]]
"""The column names and numpy types a bulk read returns, in select-list order."""


class Session(Protocol):
    """One connection for the duration of a read or a transaction."""

    walks_index: bool
    """True where a read of each pair's own time range is fastest as a walk of the primary
    key per pair (PostgreSQL: fenced LATERAL subqueries, constant bounds); false where a
    scan with a hash join is (DuckDB, a column store)."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run one statement."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a query; its rows as tuples (for small results)."""

    def arrays(self, sql: str, params: Sequence[object], dtypes: Dtypes) -> dict[str, Any]:
        """Run a query; its columns as numpy arrays of ``dtypes`` (no per-row objects)."""

    def stage(self, table: str, columns: Columns) -> None:
        """Replace the temporary table ``table`` with ``columns`` (bulk, no per-row SQL)."""

    def analyze(self, table: str) -> None:
        """Bring the planner's statistics of ``table`` up to date (after a bulk change)."""

    def lock_pairs(self, crypto_ids: Sequence[int]) -> None:
        """Hold the given pairs until the transaction ends, so concurrent writes of one pair
        run one after the other (a no-op where writes are serialised anyway)."""


class Driver(Protocol):
    """A database the SQL store runs on."""

    backend: str
    location: str

    def write(self, *, records_only: bool = False) -> AbstractContextManager[Session]:
        """A transaction: committed on success, rolled back on any error. ``records_only``
        promises it changes no pair, candle or series (it stores a run record), so what
        was read of those before it stays true (the write generation does not move)."""

    def write_generation(self) -> int | None:
        """A counter that changes when a write of this process begins and again when it
        ends (odd while one runs), where no other process can write the database while
        this driver has it open; ``None`` where other processes may write (then nothing
        read may be kept)."""

    def read(self) -> AbstractContextManager[Session]:
        """A read session (the replica when one is configured)."""

    def run_script(self, sql: str) -> None:
        """Run several statements in one transaction (migrations)."""

    def lock(self, name: str, *, wait: bool) -> AbstractContextManager[bool]:
        """Hold the named lock across threads and processes for the ``with`` block; yields
        False at once, holding nothing, when another holder has it and ``wait`` is false."""

    def size_bytes(self) -> int:
        """Space the store takes on disk."""

    def close(self) -> None:
        """Release connections and files."""


def sql_type(dtype: np.dtype[Any]) -> str:
    """The SQL column type both databases spell the same way for a staged numpy column."""
    if dtype == np.int32:
        return "INTEGER"
    if dtype == np.int64:
        return "BIGINT"
    if dtype == np.float64:
        return "DOUBLE PRECISION"
    raise TypeError(f"cannot stage a column of {dtype}")


def among(session: Session, column: str, ids: Sequence[int]) -> tuple[str, tuple[object, ...]]:
    """``column`` among ``ids``, as SQL and its parameters. On PostgreSQL one array
    parameter, so that one statement text serves any count; on DuckDB a placeholder each
    (an equality for one id): there an array comparison costs more per query (a one-pair
    lookup in the series table: 1.0 ms with ``= ANY(?)``, 0.6 ms with ``= ?``)."""
    values = tuple(int(i) for i in ids)
    if not values:
        return "FALSE", ()
    if session.walks_index:
        return f"{column} = ANY(?)", (list(values),)
    if len(values) == 1:
        return f"{column} = ?", values
    return f"{column} IN ({', '.join('?' * len(values))})", values


def since_clause(starts: dict[int, int]) -> tuple[str, list[object]]:
    """``(crypto_id = ANY(?) AND open_time >= ?) OR …``: each pair's rows from its own start,
    one term per distinct start. Constant bounds let PostgreSQL walk the primary key, where
    a join with staged starts misjudges the range and scans the whole table."""
    groups: dict[int, list[int]] = {}
    for cid, start in starts.items():
        groups.setdefault(start, []).append(cid)
    terms = ["(crypto_id = ANY(?) AND open_time >= ?)"] * len(groups)
    params: list[object] = []
    for start, ids in groups.items():
        params += [ids, start]
    return " OR ".join(terms) or "FALSE", params
