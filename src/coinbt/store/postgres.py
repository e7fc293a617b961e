"""The PostgreSQL driver: psycopg 3 with a connection pool, binary COPY both ways.

Bulk reads run ``COPY (query) TO STDOUT (FORMAT BINARY)`` and decode the rows with one numpy
structured dtype, and bulk writes build the same binary layout from numpy columns, so
millions of candles move without a Python object per row. Reads go to the replica
(``COINBT_DATABASE_READ_URL``) when one is configured. Plain PostgreSQL ≥ 15; no extension.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from coinbt.errors import CoinbtError, ConfigurationError, StoreError, StoreUnavailableError
from coinbt.store.driver import Columns, Dtypes, sql_type

try:
    import psycopg
    from psycopg import sql as pgsql
    from psycopg_pool import ConnectionPool, PoolTimeout

    from coinbt.store.pgcopy import copy_out
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        "PostgreSQL support is not installed",
        hint="pip install 'coinbt[postgres]'",
    ) from exc

_PAIR_LOCKS = 0x636F  # the advisory-lock namespace of per-pair write locks
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_WIRE = {np.dtype(np.int32): ">i4", np.dtype(np.int64): ">i8", np.dtype(np.float64): ">f8"}


def _wire_dtype(dtypes: Sequence[np.dtype[Any]]) -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, dt in enumerate(dtypes):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _WIRE[np.dtype(dt)])]
    return np.dtype(fields)


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresSession:
    """A cursor on one pooled connection."""

    walks_index = True

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        if params:
            self._conn.execute(_pg(sql), list(params))
        else:
            self._conn.execute(sql.encode())  # a script of several statements (migrations)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(_pg(sql), list(params)).fetchall()

    def arrays(self, sql: str, params: Sequence[object], dtypes: Dtypes) -> dict[str, Any]:
        query = pgsql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(_literal_query(sql, params))
        return _decode(copy_out(self._conn, query.as_bytes(self._conn)), dtypes)

    def lock_pairs(self, crypto_ids: Sequence[int]) -> None:
        # Transaction-level advisory locks, taken in id order so two writers never deadlock,
        # in one round trip: a function scan of an array returns its elements in order.
        keys = sorted({int(k) for k in crypto_ids})
        if keys:
            self._conn.execute(
                "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::integer[]) AS k",
                (_PAIR_LOCKS, keys),
            )

    def stage(self, table: str, columns: Columns) -> None:
        names = list(columns)
        arrays = [np.ascontiguousarray(columns[n]) for n in names]
        ddl = ", ".join(f"{n} {sql_type(a.dtype)}" for n, a in zip(names, arrays, strict=True))
        self._conn.execute(f"DROP TABLE IF EXISTS {table}")
        self._conn.execute(f"CREATE TEMP TABLE {table} ({ddl}) ON COMMIT DROP")
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(_encode(arrays))
        self.analyze(table)

    def analyze(self, table: str) -> None:
        # Without statistics the planner scans whole tables to join a handful of staged rows
        # with millions of candles (and autovacuum is minutes late after a bulk load).
        self._conn.execute(f"ANALYZE {table}")


def _literal_query(sql: str, params: Sequence[object]) -> pgsql.Composed:
    # COPY takes no bind parameters: psycopg quotes each value as a literal instead.
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise StoreError(f"query expects {len(parts) - 1} values, got {len(params)}")
    pieces: list[pgsql.Composable] = [pgsql.SQL(parts[0])]
    for value, text in zip(params, parts[1:], strict=True):
        pieces += [pgsql.Literal(value), pgsql.SQL(text)]
    return pgsql.Composed(pieces)


def _decode(buffer: bytes, dtypes: Dtypes) -> dict[str, Any]:
    wire = _wire_dtype([np.dtype(t) for t in dtypes.values()])
    body = len(buffer) - len(_SIGNATURE) - len(_TRAILER)
    if body % wire.itemsize or not buffer.startswith(_SIGNATURE):
        raise StoreError("unexpected binary COPY layout from PostgreSQL (a NULL in a column?)")
    rows = np.frombuffer(buffer, dtype=wire, count=body // wire.itemsize, offset=len(_SIGNATURE))
    if len(rows) and not np.all(rows["n"] == len(dtypes)):
        raise StoreError("unexpected field count in binary COPY from PostgreSQL")
    return {name: rows[f"v{i}"].astype(dtype) for i, (name, dtype) in enumerate(dtypes.items())}


def _encode(arrays: list[np.ndarray[Any, Any]]) -> bytes:
    wire = _wire_dtype([a.dtype for a in arrays])
    n = len(arrays[0]) if arrays else 0
    rows = np.empty(n, dtype=wire)
    rows["n"] = len(arrays)
    for i, a in enumerate(arrays):
        rows[f"l{i}"] = a.dtype.itemsize
        rows[f"v{i}"] = a
    return _SIGNATURE + rows.tobytes() + _TRAILER


class PostgresDriver:
    """A PostgreSQL database behind a connection pool (and a replica pool for reads)."""

    backend = "postgresql"

    def __init__(self, url: str, *, read_url: str | None = None, max_size: int = 8) -> None:
        self.location = _redact(url)
        self._pool = _open_pool(url, max_size)
        try:
            self._read_pool = (
                _open_pool(read_url, max_size) if read_url and read_url != url else None
            )
        except BaseException:
            self._pool.close()
            raise

    @contextmanager
    def write(self, *, records_only: bool = False) -> Iterator[PostgresSession]:
        # Other processes write here too: nothing read is kept, whatever this write does.
        with _translated(self.location), self._pool.connection() as conn, conn.transaction():
            yield PostgresSession(conn)

    def write_generation(self) -> int | None:
        return None  # other processes write the same database: nothing read may be kept

    @contextmanager
    def read(self) -> Iterator[PostgresSession]:
        pool = self._read_pool or self._pool
        with _translated(self.location), pool.connection() as conn, conn.transaction():
            yield PostgresSession(conn)

    def run_script(self, sql: str) -> None:
        with self.write() as session:
            session.execute(sql)

    @contextmanager
    def lock(self, name: str, *, wait: bool) -> Iterator[bool]:
        # A session advisory lock on a connection held for the block: it is released even
        # when this process dies, because the server ends the session.
        key = zlib.crc32(name.encode()) - 2**31
        with _translated(self.location), self._pool.connection() as conn:
            if wait:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                got = True
            else:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                got = bool(row and row[0])
            try:
                yield got
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def size_bytes(self) -> int:
        with self.read() as s:
            row = s.rows(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        return int(row[0][0])

    def close(self) -> None:
        self._pool.close()
        if self._read_pool is not None:
            self._read_pool.close()


def _probe(url: str) -> None:
    # One plain connection first: a clear cause (refused, unknown database, bad password)
    # in a few seconds, instead of a pool timing out in silence.
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL at {_redact(url)}: {cause}",
            hint="start the server or fix COINBT_DATABASE_URL (postgresql://user@host:5432/db)",
        ) from None


def _open_pool(url: str, max_size: int) -> ConnectionPool[Any]:
    _probe(url)
    # The store's queries are index walks of a few thousand rows whose estimates (a join
    # with a staged table) can look large: compiling them (JIT) costs 30-80 ms each, and
    # starting parallel workers more than the walk itself. Nothing is prepared server-side:
    # a generic plan cannot see how narrow a time bound is (and forcing custom plans
    # server-wide would re-plan the foreign-key check of every inserted candle).
    options = "-c jit=off -c max_parallel_workers_per_gather=0"
    kwargs = {"autocommit": True, "options": options, "prepare_threshold": None}
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=max_size, open=False, kwargs=kwargs, timeout=10.0
    )
    try:
        pool.open(wait=True, timeout=10.0)
    except PoolTimeout:
        pool.close()
        raise _unreachable(url) from None
    return pool


def _unreachable(url: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"cannot connect to PostgreSQL at {_redact(url)}",
        hint="start the server or fix COINBT_DATABASE_URL (postgresql://user@host:5432/db)",
    )


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}@{host}"


@contextmanager
def _translated(location: str) -> Iterator[None]:
    try:
        yield
    except CoinbtError:
        raise
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailableError(
            f"lost the connection to PostgreSQL at {location}: {exc}",
            hint="nothing of this operation was committed; check the server and retry",
        ) from exc
    except psycopg.Error as exc:
        raise StoreError(
            f"PostgreSQL error at {location}: {exc}",
            hint="nothing of this operation was committed; retry, or report it if it repeats",
        ) from exc
