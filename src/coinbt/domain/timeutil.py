"""Conversions between UTC millisecond timestamps and the text users type."""

from __future__ import annotations

from datetime import UTC, datetime

from coinbt.errors import InputError


def format_ms(ms: int) -> str:
    """``2024-01-01 00:00`` for an open time in UTC milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def parse_time(text: str | int, *, field: str = "time") -> int:
    """UTC milliseconds from ``2024-01-01``, ``2024-01-01T12:00``, an ISO string with an
    offset, or an integer of milliseconds; raises :class:`InputError` otherwise."""
    if isinstance(text, int):
        return text
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"cannot read {field} {text!r}",
            hint="use a date like 2024-01-01, 2024-01-01T12:00 or milliseconds since 1970",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


_DAY_MS = 86_400_000


def parse_end(text: str | int, *, field: str = "end") -> int:
    """Like :func:`parse_time`, but a bare date means the whole day: ``2024-12-31`` is
    ``2024-12-31 23:59:59.999``, so ``--end 2024-12-31`` includes that day's candles."""
    moment = parse_time(text, field=field)
    raw = text.strip() if isinstance(text, str) else ""
    if len(raw) == len("2024-12-31") and raw[4] == "-":
        return moment + _DAY_MS - 1
    return moment
