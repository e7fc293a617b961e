"""``coinbt strategies``: the built-in strategy catalogue."""

from __future__ import annotations

import argparse
from typing import Any

from coinbt.cli import render
from coinbt.services import backtests


def register(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``strategies`` command to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "strategies",
        parents=[parent],
        help="list the built-in strategies",
        description="List the built-in strategies with their parameters, defaults and bounds.",
    )
    parser.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalogue."""
    catalogue = [s.to_dict() for s in backtests.list_strategies()]
    if args.json:
        render.print_json(catalogue)
        return 0
    table = render.table("id", "name", "parameters (default, bounds)", "description", right={"id"})
    for item in catalogue:
        table.add_row(
            str(item["id"]), item["name"], _params(item["parameters"]), item["description"]
        )
    render.console().print(table)
    return 0


def _params(params: list[dict[str, Any]]) -> str:
    if not params:
        return "-"
    num = render.number
    return "\n".join(
        f"{p['name']}={num(p['default'])} ({num(p['min'])}..{num(p['max'])})" for p in params
    )
