"""What commands share: the settings and the store they name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from coinbt.config import load_settings
from coinbt.services import wiring
from coinbt.store import SqlStore


@contextmanager
def market_store(*, read_only: bool = False) -> Iterator[SqlStore]:
    """The store of COINBT_DATABASE_URL (the embedded DuckDB file by default), closed after."""
    store = wiring.open_market_store(load_settings(), read_only=read_only)
    try:
        yield store
    finally:
        store.close()
