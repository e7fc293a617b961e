"""``coinbt serve [--host] [--port]``: the HTTP API on uvicorn.

Listening beyond loopback (``--host 0.0.0.0``) without COINBT_API_KEY keeps the API open
but turns the admin routes off; set the key to use them remotely.
"""

from __future__ import annotations

import argparse
from typing import Any

from coinbt.cli import render
from coinbt.config import load_settings
from coinbt.services import wiring

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``serve`` to ``commands``."""
    parser = commands.add_parser(
        "serve",
        parents=[parent],
        help="run the HTTP API",
        description="Serve the REST API (docs at /api/docs) over the store named by "
        "COINBT_DATABASE_URL and the cache named by COINBT_CACHE_URL.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port to listen on (default 8000)")
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS, help="server log")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    overrides = {"api_host": args.host, "api_port": args.port}
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    # Open the store once before serving: a DuckDB file held by another process is then a
    # clear message and exit code, not a failed server start-up with a traceback.
    wiring.open_market_store(settings).close()
    import uvicorn  # noqa: PLC0415 - the server is only needed by this command

    from coinbt.api import create_app  # noqa: PLC0415 - FastAPI loads only for this command

    out = render.console()
    out.print(f"coinbt API on http://{settings.api_host}:{settings.api_port}/api/docs")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=args.log_level,
    )
    return 0


def port_number(text: str) -> int:
    """A TCP port from the command line (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {port}")
    return port
