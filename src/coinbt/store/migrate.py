"""Versioned schema migrations: numbered SQL files per backend, applied once each, in order."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from coinbt.errors import StoreError
from coinbt.store.candles import now_ms
from coinbt.store.driver import Driver

_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    """One schema step: ``0001_initial.sql`` is version 1."""

    version: int
    name: str
    sql: str


def available(backend: str) -> list[Migration]:
    """The migrations shipped for ``backend``, in version order."""
    folder = resources.files("coinbt.store.migrations").joinpath(backend)
    found = [
        Migration(int(entry.name.split("_", 1)[0]), entry.name, entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda m: m.version)


def current_version(driver: Driver) -> int:
    """The schema version the database is at (0 for an empty database); reads only, from
    the primary (a replica may lag)."""
    with driver.write() as session:
        known = session.rows(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
        )
        if not known[0][0]:
            return 0
        row = session.rows("SELECT max(version) FROM schema_migrations")
    return int(row[0][0] or 0)


def migrate(driver: Driver) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; the ones applied."""
    # Several processes may open a new database at once (server workers): one migrates.
    with driver.lock("coinbt-migrate", wait=True):
        return _apply(driver)


def _apply(driver: Driver) -> list[Migration]:
    steps = available(driver.backend)
    driver.run_script(_TABLE)
    at = current_version(driver)
    newest = steps[-1].version if steps else 0
    if at > newest:
        raise StoreError(
            f"the database is at schema version {at}, newer than this coinbt knows ({newest})",
            hint="upgrade coinbt, or point COINBT_DATABASE_URL at another database",
        )
    pending = [m for m in steps if m.version > at]
    for step in pending:
        with driver.write() as session:
            session.execute(step.sql)
            session.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (step.version, step.name, now_ms()),
            )
    return pending
