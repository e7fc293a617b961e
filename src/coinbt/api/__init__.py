"""The HTTP API (FastAPI on uvicorn): :func:`create_app` builds it from settings.

Routes and shapes: DESIGN.md's HTTP table, and the OpenAPI schema at /api/openapi.json.
"""

from __future__ import annotations

from coinbt.api.app import create_app

__all__ = ["create_app"]
