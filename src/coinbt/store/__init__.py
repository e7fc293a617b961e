"""Market-data store: one contract (:mod:`coinbt.store.base`), DuckDB and PostgreSQL backends.

Open one with :func:`open_store`, from a URL: ``duckdb:///relative.db``,
``duckdb:////absolute/path.db``, ``duckdb:///:memory:`` or ``postgresql://user@host/db``.
"""

from __future__ import annotations

from pathlib import Path

from coinbt.errors import ConfigurationError
from coinbt.store.base import BatchRead, MarketStore, PairKey, RunRecord
from coinbt.store.sql import SqlStore

__all__ = ["BatchRead", "MarketStore", "PairKey", "RunRecord", "SqlStore", "open_store"]


def open_store(
    url: str, *, read_url: str | None = None, read_only: bool = False, migrate: bool = True
) -> SqlStore:
    """The store at ``url`` (reads from ``read_url`` when given), its schema brought up to
    date unless ``migrate`` is false or the store is opened read-only."""
    scheme, _, rest = url.partition("://")
    # Drivers load on demand: psycopg is an optional extra.
    if scheme == "duckdb":
        from coinbt.store.duckdb import DuckDBDriver  # noqa: PLC0415

        path = (rest[1:] if rest.startswith("/") else rest) or ":memory:"
        # A file that does not exist yet cannot be opened read-only: create it instead.
        read_only = read_only and Path(path).exists()
        store = SqlStore(DuckDBDriver(path, read_only=read_only))
    elif scheme in ("postgresql", "postgres"):
        from coinbt.store.postgres import PostgresDriver  # noqa: PLC0415

        store = SqlStore(PostgresDriver(url, read_url=read_url))
    else:
        raise ConfigurationError(
            f"unsupported database URL {url!r}",
            hint="use duckdb:///file.db or postgresql://user@host:5432/db",
        )
    if migrate and not read_only:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
