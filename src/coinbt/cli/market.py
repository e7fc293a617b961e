"""``coinbt dashboard``: the market summary of every pair."""

from __future__ import annotations

import argparse
from typing import Any

from coinbt.cli import render
from coinbt.cli.context import market_store
from coinbt.domain.market import DashboardRow
from coinbt.services import market
from coinbt.store.base import DASHBOARD_SORTS


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``dashboard`` to ``commands``."""
    parser = commands.add_parser(
        "dashboard",
        parents=[parent],
        help="print the market summary",
        description="Price, 24 h change, 7 and 30 day high, low and volume, all-time high and "
        "low of every stored pair.",
    )
    parser.add_argument("--sort", default="symbol", choices=DASHBOARD_SORTS, help="order by")
    parser.add_argument("--desc", action="store_true", help="largest first")
    parser.add_argument("--limit", type=int, help="show at most this many pairs")
    parser.add_argument("--quote", help="only pairs quoted in this asset (USDT)")
    parser.add_argument("--gainers", action="store_true", help="top gainers by 24 h change")
    parser.add_argument("--losers", action="store_true", help="top losers by 24 h change")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary."""
    with market_store(read_only=True) as store:
        if args.gainers or args.losers:
            rows = market.movers(store, limit=args.limit or 10, losers=args.losers)
        else:
            rows = market.dashboard(
                store, sort=args.sort, descending=args.desc, limit=args.limit, quote=args.quote
            )
    if args.json:
        render.print_json([r.to_dict() for r in rows])
    elif not rows:
        render.console().print("no pairs yet: load candles with `coinbt import PATH...`")
    else:
        render.console().print(table(rows))
    return 0


def table(rows: list[DashboardRow]) -> Any:
    """One line per pair."""
    columns = (
        "pair",
        "price",
        "24h",
        "7d high",
        "7d low",
        "30d volume",
        "ATH",
        "ATL",
        "days",
        "last candle",
    )
    out = render.table(*columns, right=set(columns) - {"pair", "last candle"})
    for r in rows:
        change = "-" if r.change_24h_percent is None else f"{r.change_24h_percent:+.2f} %"
        out.add_row(
            r.symbol,
            render.price(r.current_price),
            change,
            render.price(r.high_7d),
            render.price(r.low_7d),
            f"{r.volume_30d:,.0f}",
            render.price(r.all_time_high),
            render.price(r.all_time_low),
            f"{r.total_days:,}",
            render.when(r.last_updated),
        )
    return out
