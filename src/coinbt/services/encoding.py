"""The JSON text of answers: compact, on one line, UTF-8, non-finite floats as ``null``.

JSON has no NaN or infinity. The services keep metrics finite, but should a non-finite
float ever slip through it is written as ``null`` rather than failing the answer.
"""

from __future__ import annotations

import json
import math
from typing import Any


def dumps(content: Any) -> str:
    """Compact JSON text of ``content`` on one line, non-finite floats as ``null``."""
    try:
        return _dumps(content)
    except ValueError:  # NaN or infinity somewhere: the rare, slow path
        return _dumps(finite(content))


def encode(content: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes: a response body."""
    return dumps(content).encode()


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _dumps(content: Any) -> str:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
