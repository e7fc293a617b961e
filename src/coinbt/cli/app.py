"""The ``coinbt`` command: argument parsing, dispatch, and the one error policy.

Exit codes: 0 success, 2 bad input (usage errors, every :class:`InputError`, and names of
pairs or runs that do not exist), 1 anything else. Bad input never prints a traceback;
``--debug`` prints one for any failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable

from coinbt.cli import (
    __version__,
    backtest,
    catalogue,
    collect,
    data,
    db,
    demo,
    market,
    render,
    serve,
)
from coinbt.errors import CoinbtError, InputError, NotFoundError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]

_COMMANDS = (backtest, catalogue, data, market, db, demo, serve, collect)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="coinbt",
        description="Crypto backtesting: store candles, keep a market dashboard, run strategies.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    parser.add_argument("--version", action="version", version=f"coinbt {__version__}")
    # Subcommands take --debug too; SUPPRESS keeps them from resetting the global flag.
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        module.register(commands, parent)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``coinbt`` with ``argv`` (default: the process arguments); the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (2) and --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    handler: Handler = args.handler
    return dispatch(handler, args)


def dispatch(handler: Handler, args: argparse.Namespace) -> int:
    """Call ``handler`` and turn every failure into a message and an exit code."""
    debug = bool(getattr(args, "debug", False))
    try:
        return handler(args)
    except (InputError, NotFoundError) as exc:
        _trace(debug)
        render.print_error(exc)
        return EXIT_BAD_INPUT
    except CoinbtError as exc:
        _trace(debug)
        render.print_error(exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `coinbt ... | head`: the reader left; stay quiet
        _silence_stdout()
        return EXIT_FAILURE
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            render.print_unexpected(exc)
        return EXIT_FAILURE


def _trace(debug: bool) -> None:
    if debug:
        traceback.print_exc()


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output)
        pass
