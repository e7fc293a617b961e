"""``coinbt serve [--host] [--port]``: the web page and the HTTP API on uvicorn.

Listening beyond loopback (``--host 0.0.0.0``) without COINBT_API_KEY keeps the API open
but turns the admin routes off; set the key to use them remotely. With
``COINBT_COLLECT_SCHEDULE=true`` the server also runs the collection schedule (an hourly
update, a weekly full collection: COINBT_COLLECT_UPDATE_CRON, COINBT_COLLECT_FULL_CRON).
"""

from __future__ import annotations

import argparse
from typing import Any

from coinbt.cli import render
from coinbt.config import Settings, load_settings
from coinbt.services import schedule, wiring

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``serve`` to ``commands``."""
    parser = commands.add_parser(
        "serve",
        parents=[parent],
        help="run the web page and the HTTP API",
        description="Serve the dashboard page (at /) and the REST API (docs at /api/docs) "
        "over the store named by COINBT_DATABASE_URL and the cache named by "
        "COINBT_CACHE_URL; with COINBT_COLLECT_SCHEDULE=true also the collection schedule.",
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
    # clear message and exit code, not a failed server start-up with a traceback. The same
    # for a schedule that cannot be built (a bad cron or exchange URL).
    wiring.open_market_store(settings).close()
    if settings.collect_schedule:
        schedule.check_settings(settings)
    import uvicorn  # noqa: PLC0415 - the server is only needed by this command

    from coinbt.api import create_app  # noqa: PLC0415 - FastAPI loads only for this command

    out = render.console()
    page, docs = urls(settings)
    out.print(f"coinbt dashboard on {page}")
    out.print(f"coinbt API docs on {docs}")
    if settings.collect_schedule:
        out.print(
            f"collection schedule on (UTC): update {settings.collect_update_cron!r}, "
            f"full {settings.collect_full_cron!r}"
        )
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=args.log_level,
    )
    return 0


def urls(settings: Settings) -> tuple[str, str]:
    """Where the page and the API docs are served."""
    host = settings.api_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    base = f"http://{host}:{settings.api_port}"
    return f"{base}/", f"{base}/api/docs"


def port_number(text: str) -> int:
    """A TCP port from the command line (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {port}")
    return port
