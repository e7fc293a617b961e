"""Starlette routes serving the dashboard page and its static assets."""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_URL = "/static/vendor/plotly.min.js"
# The page is small and changes with each release: always revalidate it. plotly.js is
# large and fixed per installed version: let the browser keep it for a day.
_NO_CACHE = {"Cache-Control": "no-cache"}
_DAY_CACHE = {"Cache-Control": "public, max-age=86400"}


def plotly_js_path() -> Path | None:
    """``plotly.min.js`` inside the installed ``plotly`` package, or ``None`` without it.

    Found without importing plotly (its Python side is large and unused here)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


async def index(request: Request) -> Response:
    """The single page; its views are chosen by the URL fragment (``#market``)."""
    return FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)


async def plotly_js(request: Request) -> Response:
    """plotly.js from the installed package (no CDN: users may be offline), gzipped
    once per process for clients that accept it (a third of the size)."""
    path = plotly_js_path()
    if path is None:
        return PlainTextResponse(
            "plotly.js is missing: install the plotly package (pip install plotly)",
            status_code=503,
        )
    headers = dict(_DAY_CACHE)  # the API's compression middleware adds Vary
    if "gzip" not in request.headers.get("accept-encoding", ""):
        return FileResponse(path, media_type="text/javascript", headers=headers)
    body = _gzipped(path, path.stat().st_mtime_ns)
    headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="text/javascript", headers=headers)


@lru_cache(maxsize=2)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    """``path`` gzipped (keyed by its modification time, so an upgrade is seen)."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def web_routes() -> list[BaseRoute]:
    """``/`` (the page), ``/static/vendor/plotly.min.js`` and ``/static/...``."""
    return [
        Route("/", index, methods=["GET", "HEAD"], name="web_index"),
        Route(PLOTLY_URL, plotly_js, methods=["GET", "HEAD"], name="web_plotly"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def mount_web(app: Any) -> None:
    """Add the web routes to a Starlette or FastAPI ``app`` (after its API routes)."""
    app.router.routes.extend(web_routes())
