"""The DuckDB driver: the embedded default, one file, nothing to start.

DuckDB lets one process write a file at a time. A second process that opens the file while
another holds it gets :class:`~coinbt.errors.StoreLockedError` naming the holder (its PID
and command line) and what to do. Inside one process, writes are serialised by a lock and
every read gets its own cursor, so a threaded server can read concurrently.
"""

from __future__ import annotations

import fcntl
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from coinbt.errors import CoinbtError, StoreError, StoreLockedError
from coinbt.store.driver import Columns, Dtypes

_PID = re.compile(r"PID (\d+)")
MEMORY = ":memory:"


class DuckDBSession:
    """A cursor of the shared DuckDB connection."""

    walks_index = False

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cur = cursor

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        # Without parameters DuckDB runs a script of several statements (migrations).
        if params:
            self._cur.execute(sql, list(params))
        else:
            self._cur.execute(sql)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._cur.execute(sql, list(params)).fetchall()

    def arrays(self, sql: str, params: Sequence[object], dtypes: Dtypes) -> dict[str, Any]:
        raw = self._cur.execute(sql, list(params)).fetchnumpy()
        return {
            name: np.ascontiguousarray(column, dtype=dtypes[name])
            for name, column in zip(dtypes, raw.values(), strict=True)
        }

    def analyze(self, table: str) -> None:
        # DuckDB keeps its statistics current as it writes.
        return

    def lock_pairs(self, crypto_ids: Sequence[int]) -> None:
        # This driver serialises writes in-process, and DuckDB allows one writing process.
        return

    def stage(self, table: str, columns: Columns) -> None:
        # DuckDB scans a dict of numpy arrays in place: no copy through Python rows.
        frame = {name: np.ascontiguousarray(col) for name, col in columns.items()}
        self._cur.register("_coinbt_frame", frame)
        try:
            self._cur.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _coinbt_frame"
            )
        finally:
            self._cur.unregister("_coinbt_frame")


class DuckDBDriver:
    """A DuckDB database file (or ``:memory:``)."""

    backend = "duckdb"

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.location = path
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._con = _connect(path, read_only)
        self._write_lock = threading.Lock()
        self._named: dict[str, threading.Lock] = {}
        self._generation = 0

    @contextmanager
    def write(self, *, records_only: bool = False) -> Iterator[DuckDBSession]:
        step = 0 if records_only else 1
        with self._write_lock, _translated(self.location):
            cursor = self._con.cursor()
            self._generation += step  # odd: a write runs (under the write lock)
            try:
                cursor.execute("BEGIN TRANSACTION")
                yield DuckDBSession(cursor)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                self._generation += step
                cursor.close()

    def write_generation(self) -> int | None:
        # DuckDB lets one process at a time open a file for writing, and none while another
        # has it open: every write to this database goes through write() above.
        return self._generation

    @contextmanager
    def read(self) -> Iterator[DuckDBSession]:
        with _translated(self.location):
            cursor = self._con.cursor()
            try:
                yield DuckDBSession(cursor)
            finally:
                cursor.close()

    def run_script(self, sql: str) -> None:
        with self.write() as session:
            session.execute(sql)

    @contextmanager
    def lock(self, name: str, *, wait: bool) -> Iterator[bool]:
        # A thread lock for this process, a file lock beside the database for the others.
        local = self._named.setdefault(name, threading.Lock())
        if not local.acquire(blocking=wait):
            yield False
            return
        try:
            if self.location == MEMORY:
                yield True
                return
            with open(f"{self.location}.{name}.lock", "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                yield True
        finally:
            local.release()

    def size_bytes(self) -> int:
        if self.location == MEMORY:
            return 0
        files = (Path(self.location), Path(self.location + ".wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    def close(self) -> None:
        self._con.close()


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        raise _locked(path, str(exc)) from None
    except duckdb.Error as exc:
        raise StoreError(
            f"cannot open the database {path}: {exc}",
            hint="check the path in COINBT_DATABASE_URL, or move the damaged file aside",
        ) from None


def _locked(path: str, detail: str) -> CoinbtError:
    match = _PID.search(detail)
    if match is None:
        return StoreError(f"cannot open the database {path}: {detail}")
    pid = int(match[1])
    return StoreLockedError(
        f"the database {path} is held for writing by another process: PID {pid} ({_command(pid)})",
        hint="stop that process (e.g. `coinbt serve`) and retry, use the server's API while it "
        "runs, or point COINBT_DATABASE_URL at PostgreSQL to share data between processes",
    )


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "command unknown"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "command unknown"


@contextmanager
def _translated(location: str) -> Iterator[None]:
    try:
        yield
    except CoinbtError:
        raise
    except duckdb.Error as exc:
        raise StoreError(
            f"database error in {location}: {exc}",
            hint="nothing of this operation was written; retry, or report it if it repeats",
        ) from exc
