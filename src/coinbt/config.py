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
