"""Market-data store: one contract (:mod:`coinbt.store.base`), DuckDB and PostgreSQL backends."""
