"""The ``coinbt`` command line; ``main`` is the console script's entry point."""

from __future__ import annotations

# Bound before importing app, which reads it from here (the CLI's one use of the top level).
from coinbt import __version__
from coinbt.cli.app import main

__all__ = ["__version__", "main"]
