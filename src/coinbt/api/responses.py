"""JSON responses written straight from the services' plain data, or from bytes they
already encoded.

Routes return :class:`JSONBody` (or :class:`EncodedJSON` for a body the services encoded,
off the event loop) rather than letting FastAPI walk the data through its encoder and the
response models: results carry tens of thousands of floats (equity curves), and the models
exist to document the shapes, not to copy them.

JSON has no NaN or infinity: a non-finite float is written as ``null``
(:mod:`coinbt.services.encoding`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from coinbt.services.encoding import dumps, finite

__all__ = ["EncodedJSON", "JSONBody", "dumps", "finite"]


class JSONBody(JSONResponse):
    """``application/json``, compact, UTF-8, non-finite floats as ``null``."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


class EncodedJSON(Response):
    """An ``application/json`` body that is already encoded."""

    media_type = "application/json"
