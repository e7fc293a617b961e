"""The whole coinbt exception tree.

Every error coinbt raises on purpose derives from :class:`CoinbtError` and carries a stable
machine-readable ``code``, the HTTP ``status`` the API answers with, and a ``hint`` that
tells the user what to do. Entry points translate these into one outward shape: a JSON
body for the API, a message and exit code 2 (bad input) or 1 (anything else) for the CLI.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CoinbtError(Exception):
    """Base of every error coinbt raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, hint: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as the one outward JSON shape."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.hint:
            body["hint"] = self.hint
        return body


class InputError(CoinbtError):
    """The caller asked for something invalid; fixing the request fixes it."""

    code = "invalid_input"
    status = 422


class UnknownStrategyError(InputError):
    """No strategy has the given id or name."""

    code = "unknown_strategy"
    status = 404


class ParameterError(InputError):
    """A strategy or execution parameter is unknown, mistyped or out of bounds."""

    code = "invalid_parameter"


class DataRangeError(InputError):
    """The requested time range is inverted or holds no candles."""

    code = "invalid_range"


class DataFormatError(InputError):
    """A candle file or candle arrays are malformed; the message names the rows."""

    code = "invalid_data"


class NotFoundError(CoinbtError):
    """A pair, run or other named thing does not exist."""

    code = "not_found"
    status = 404


class ConfigurationError(CoinbtError):
    """Settings are invalid (a bad URL, a missing extra); fix the environment."""

    code = "configuration"
    status = 500


class EngineError(CoinbtError):
    """The engine failed in a way no input should cause: a bug, please report it."""

    code = "engine"
    status = 500


class ConflictError(CoinbtError):
    """The request clashes with the current state (a run already going, a duplicate)."""

    code = "conflict"
    status = 409


class StoreError(CoinbtError):
    """The market-data store failed; the message says whether anything was written."""

    code = "store"
    status = 503


class StoreLockedError(StoreError):
    """Another process holds the embedded database file for writing."""

    code = "store_locked"


class StoreUnavailableError(StoreError):
    """The database server cannot be reached or went away; nothing was half-written."""

    code = "store_unavailable"


class ExchangeError(CoinbtError):
    """The exchange failed or answered something unusable."""

    code = "exchange"
    status = 502
    #: True when the same request may succeed later (rate limit, 5xx, timeout).
    temporary: ClassVar[bool] = False


class ExchangeUnavailableError(ExchangeError):
    """A temporary fault: a 5xx answer, a timeout or a dropped connection; retry later."""

    code = "exchange_unavailable"
    temporary = True


class RateLimitedError(ExchangeUnavailableError):
    """The exchange answered 429; ``retry_after`` seconds is how long it asked us to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ExchangeBannedError(ExchangeError):
    """The exchange banned this IP (HTTP 418): stop at once and wait before any new run."""

    code = "exchange_banned"


class ExchangeDataError(ExchangeError):
    """The exchange answered malformed, out-of-order or inconsistent data: refused, not stored."""

    code = "exchange_data"
    temporary = True


class CacheError(CoinbtError):
    """The result cache failed; callers treat it as a miss and go on."""

    code = "cache"
    status = 503
