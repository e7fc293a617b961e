"""Building the adapters from settings: the one place that knows which backend is which."""

from __future__ import annotations

from coinbt.config import Settings
from coinbt.store import SqlStore, open_store


def open_market_store(settings: Settings, *, read_only: bool = False) -> SqlStore:
    """The market store the settings name (DuckDB by default), schema brought up to date
    unless opened read-only."""
    return open_store(
        settings.database_url, read_url=settings.database_read_url, read_only=read_only
    )
