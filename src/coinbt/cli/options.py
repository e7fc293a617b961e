"""Flags shared by the commands that run backtests: strategy parameters and execution."""

from __future__ import annotations

import argparse

from coinbt.errors import ParameterError

# flag destination -> ExecutionConfig option (docs/execution.md)
EXECUTION_FLAGS: dict[str, str] = {
    "fee": "transaction_fee",
    "slippage": "slippage",
    "direction": "direction",
    "fill": "fill",
    "stop_loss": "stop_loss_pct",
    "take_profit": "take_profit_pct",
    "trailing_stop": "trailing_stop_pct",
    "initial_investment": "initial_investment",
}


def add_strategy_flags(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """``--strategy`` and repeatable ``--param NAME=VALUE``."""
    parser.add_argument(
        "--strategy",
        "-s",
        required=default is None,
        default=default,
        metavar="NAME_OR_ID",
        help="strategy name or id (see `coinbt strategies`)"
        + (f"; default {default}" if default else ""),
    )
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a strategy parameter, e.g. --param fast=10 (repeatable)",
    )


def add_execution_flags(parser: argparse.ArgumentParser) -> None:
    """Fees, slippage, direction, fill timing, stops and starting cash."""
    group = parser.add_argument_group("execution (defaults in docs/execution.md)")
    add = group.add_argument
    add("--fee", metavar="FRACTION", help="fee per fill, fraction of traded value (0.001)")
    add("--slippage", metavar="FRACTION", help="fraction the fill price moves against you (0)")
    add("--direction", choices=("long", "longshort"), help="long-only or long/short (long)")
    add("--fill", choices=("next_open", "close"), help="when signals fill (next_open)")
    add("--stop-loss", metavar="PCT", help="stop loss in percent below entry (off)")
    add("--take-profit", metavar="PCT", help="take profit in percent above entry (off)")
    add("--trailing-stop", metavar="PCT", help="trailing stop in percent (off)")
    add("--initial-investment", metavar="CASH", help="starting cash in quote currency (10000)")


def strategy_params(items: list[str]) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` as ``{"fast": "10", "slow": "30"}`` (last one wins)."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ParameterError(
                f"--param expects NAME=VALUE, not {item!r}",
                hint="e.g. --param fast=10 --param slow=30",
                field="param",
            )
        params[name.strip()] = value.strip()
    return params


def execution_options(args: argparse.Namespace) -> dict[str, str]:
    """The execution flags that were given, keyed by their ExecutionConfig names."""
    return {
        option: value
        for flag, option in EXECUTION_FLAGS.items()
        if (value := getattr(args, flag, None)) is not None
    }
