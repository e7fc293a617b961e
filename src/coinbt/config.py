"""Settings from the environment (prefix ``COINBT_``) and an optional ``.env`` file.

Entry points build one :class:`Settings` and pass it down as a value; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coinbt.errors import ConfigurationError

_SCHEMES = ("duckdb", "postgresql", "postgres")


def default_database_url() -> str:
    """A DuckDB file in the user data directory (``duckdb:////abs/path/coinbt.db``)."""
    return f"duckdb:///{Path(user_data_dir('coinbt')) / 'coinbt.db'}"


class Settings(BaseSettings):
    """Every setting coinbt reads; see DESIGN.md's configuration table."""

    model_config = SettingsConfigDict(env_prefix="COINBT_", env_file=".env", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    database_read_url: str | None = None
    cache_url: str = "memory://"
    api_key: str | None = None
    exchange: str = "binance"
    exchange_url: str | None = None
    # The API server (``coinbt serve``): where it listens decides whether admin routes need
    # COINBT_API_KEY (beyond loopback they always do).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    max_batch_pairs: int = Field(default=500, ge=1)
    """Most pairs one batch backtest may cover (the seed's universe was 263 pairs)."""
    slow_query_ms: float = Field(default=250.0, gt=0)
    """Store calls slower than this are counted as slow queries in /api/metrics."""
    batch_job_ttl_seconds: float = Field(default=900.0, gt=0)
    """How long a finished streamed batch stays replayable (Last-Event-ID)."""
    # Collection from the exchange (``coinbt collect``, the schedule of ``coinbt serve``).
    collect_quote: str = "USDT"
    """The quote asset whose active spot pairs a collection covers."""
    collect_intervals: str = "1h"
    """Comma-separated intervals a collection fetches (``1h`` or ``1h,1d``)."""
    collect_concurrency: int = Field(default=8, ge=1, le=64)
    """Exchange requests in flight during a collection."""
    collect_rate_limit: bool = True
    """Throttle requests to the exchange's published rate limit (off only for a stand-in)."""
    collect_schedule: bool = False
    """Run the collection schedule inside ``coinbt serve``."""
    collect_update_cron: str = "30 * * * *"
    """When the update runs (crontab fields, UTC; day names, not numbers: APScheduler 3
    counts weekdays from Monday = 0)."""
    collect_full_cron: str = "0 2 * * sun"
    """When the full collection runs (crontab fields, UTC)."""

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and value.split(":", 1)[0] not in _SCHEMES:
            raise ValueError(
                f"unsupported database URL {value!r}: use duckdb:///file.db or "
                "postgresql://user@host:5432/db"
            )
        return value

    @property
    def read_url(self) -> str:
        """Where queries go: the read replica when one is set."""
        return self.database_read_url or self.database_url


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with ``overrides`` on top; a bad value raises
    :class:`ConfigurationError` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigurationError(
            f"invalid setting: {exc}", hint="fix the COINBT_* environment variables or .env"
        ) from None
