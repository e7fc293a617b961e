"""What only the PostgreSQL backend promises: a clear StoreUnavailableError when the server
cannot be reached or drops the store's connections (and recovery once it is back), and reads
routed to the replica URL. The server itself is never stopped: an unreachable server is a
closed port, and a server going away is its backends being terminated (only those of the
test database this module created)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import store_fixtures as sf
from store_fixtures import assert_bars_equal, real, take

from coinbt.errors import StoreError, StoreUnavailableError
from coinbt.store import SqlStore, open_store

pg_databases = sf.pg_databases
pg_module_db = sf.pg_module_db


@pytest.fixture
def pg_url(pg_databases: sf.PgDatabases, pg_module_db: str) -> Iterator[str]:
    pg_databases.terminate_connections(pg_module_db)
    sf.empty_tables(pg_module_db)
    yield sf.database_url(pg_module_db)
    pg_databases.terminate_connections(pg_module_db)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    s = open_store(pg_url)
    try:
        yield s
    finally:
        s.close()


def test_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        open_store("postgresql://postgres@127.0.0.1:1/coinbt_test_unreachable")
    err = caught.value
    assert "127.0.0.1:1" in str(err)
    assert err.hint and "COINBT_DATABASE_URL" in err.hint
    assert err.code == "store_unavailable" and err.status == 503


def _until_it_works(action: object, attempts: int = 5) -> list[BaseException]:
    """Run ``action`` until it succeeds; the StoreUnavailableErrors on the way. Any other
    exception (a raw driver error) fails the test."""
    seen: list[BaseException] = []
    for _ in range(attempts):
        try:
            action()  # type: ignore[operator]
            return seen
        except StoreUnavailableError as exc:
            assert exc.hint, "an outage must say what to do"
            seen.append(exc)
    raise AssertionError(f"the store did not recover after {attempts} attempts: {seen}")


def test_dropped_connections_raise_unavailable_then_recover(
    pg_store: SqlStore, pg_databases: sf.PgDatabases, pg_module_db: str
) -> None:
    sol = real("SOLUSDT-1h.csv")
    pg_store.ingest(take(sol, slice(0, 1000)))
    version = pg_store.data_version("SOLUSDT", "1h")

    pg_databases.terminate_connections(pg_module_db)  # the server goes away and comes back
    _until_it_works(
        lambda: assert_bars_equal(pg_store.read("SOLUSDT", "1h"), take(sol, slice(0, 1000)))
    )

    pg_databases.terminate_connections(pg_module_db)
    update = take(sol, slice(1000, 1200))
    failures = _until_it_works(lambda: pg_store.ingest(update))
    # Whatever failed wrote nothing; the retry wrote everything exactly once.
    assert_bars_equal(pg_store.read("SOLUSDT", "1h"), take(sol, slice(0, 1200)))
    assert pg_store.data_version("SOLUSDT", "1h") > version
    assert len(failures) <= 4


def test_reads_go_to_the_replica(pg_url: str, pg_databases: sf.PgDatabases) -> None:
    replica = sf.database_url(pg_databases.create())
    open_store(replica).close()  # an empty, migrated "replica"
    with open_store(pg_url, read_url=replica) as s:
        (report,) = s.ingest(real("BONKUSDT-1d.csv"))
        assert report.inserted == len(real("BONKUSDT-1d.csv"))
        assert s.pairs() == []  # the replica has not caught up
        assert s.dashboard() == []
    with open_store(pg_url) as primary:
        assert_bars_equal(primary.read("BONKUSDT", "1d"), real("BONKUSDT-1d.csv"))


def test_a_bulk_read_failing_midway_is_a_store_error_and_the_store_goes_on(
    pg_store: SqlStore,
) -> None:
    sol = take(real("SOLUSDT-1h.csv"), slice(0, 500))
    pg_store.ingest(sol)
    zero_at = int(sol.time[300])  # the server fails after streaming 300 rows
    with pytest.raises(StoreError), pg_store._db.read() as s:  # white box: the bulk read path
        s.arrays(
            "SELECT open_time, 1 / (open_time - ?) AS x FROM candles ORDER BY open_time",
            (zero_at,),
            {"open_time": np.int64, "x": np.int64},
        )
    for _ in range(3):
        assert_bars_equal(pg_store.read("SOLUSDT", "1h"), sol)
