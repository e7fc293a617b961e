"""``coinbt db migrate|refresh|stats|prune``: schema, rollups and upkeep of the store."""

from __future__ import annotations

import argparse
from typing import Any

from coinbt.cli import render
from coinbt.cli.context import market_store
from coinbt.services import upkeep


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``db`` and its subcommands to ``commands``."""
    parser = commands.add_parser(
        "db",
        parents=[parent],
        help="store schema, rollups and statistics",
        description="Manage the market-data store named by COINBT_DATABASE_URL.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    migrate = actions.add_parser(
        "migrate", parents=[parent], help="apply pending schema migrations"
    )
    migrate.set_defaults(handler=run_migrate)
    refresh = actions.add_parser(
        "refresh", parents=[parent], help="rebuild rollups and the dashboard"
    )
    refresh.add_argument("symbols", nargs="*", metavar="SYMBOL", help="only these pairs")
    refresh.set_defaults(handler=run_refresh)
    stats = actions.add_parser("stats", parents=[parent], help="pairs, candles, size and gaps")
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.set_defaults(handler=run_stats)
    prune = actions.add_parser("prune", parents=[parent], help="archive or drop old candles")
    prune.add_argument(
        "--older-than", required=True, metavar="DAYS", type=float, help="age in days"
    )
    prune.add_argument("--interval", default="1h", help="which candles (1h)")
    prune.add_argument("--archive", metavar="DIR", help="write them as CSV here first")
    prune.add_argument("--json", action="store_true", help="print as JSON")
    prune.set_defaults(handler=run_prune)


def run_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (opening the store does too; this says what it did)."""
    with market_store() as store:
        version = store.schema_version()
        render.console().print(
            f"{store.backend} at {store.location}: schema version {version}, up to date"
        )
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    """Rebuild rollups and dashboard rows."""
    with market_store() as store:
        n = store.refresh_rollups(args.symbols or None)
    render.console().print(f"rebuilt rollups and dashboard rows of {n} pair(s)")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    """Print what the store holds."""
    with market_store(read_only=True) as store:
        stats = store.stats()
    if args.json:
        render.print_json(stats.to_dict())
        return 0
    out = render.console()
    out.print(f"{stats.backend} at {stats.location} (schema {stats.schema_version})")
    out.print(f"pairs: {stats.pairs:,}")
    for interval, count in stats.candles.items():
        out.print(f"candles {interval}: {count:,}")
    for interval, count in stats.rollup_rows.items():
        out.print(f"rollup {interval}: {count:,}")
    out.print(f"size on disk: {stats.size_bytes / 1e6:,.1f} MB")
    out.print(f"gaps: {stats.gaps:,} ({stats.missing_bars:,} missing bars)")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    """Archive (optionally) and drop candles older than the given age."""
    with market_store() as store:
        report = upkeep.prune(
            store, older_than_days=args.older_than, interval=args.interval, archive_dir=args.archive
        )
    if args.json:
        render.print_json(report.to_dict())
    else:
        where = f", archived to {args.archive}" if args.archive else ""
        render.console().print(
            f"dropped {report.candles:,} candles of {report.pairs} pair(s){where}"
        )
    return 0
