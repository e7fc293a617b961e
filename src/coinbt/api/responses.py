"""JSON responses written straight from the services' plain data.

Routes return :class:`JSONBody` themselves rather than letting FastAPI walk the data
through its encoder and the response models: results carry tens of thousands of floats
(equity curves), and the models exist to document the shapes, not to copy them.

JSON has no NaN or infinity. The services keep metrics finite, but should a non-finite
float ever slip through it is written as ``null`` rather than failing the response.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import JSONResponse


class JSONBody(JSONResponse):
    """``application/json``, compact, UTF-8, non-finite floats as ``null``."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def dumps(content: Any) -> str:
    """Compact JSON text of ``content`` on one line, non-finite floats as ``null``."""
    try:
        return _dumps(content)
    except ValueError:  # NaN or infinity somewhere: the rare, slow path
        return _dumps(finite(content))


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
