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
