"""Trade records: one numpy structured array row per position."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt


class ExitReason(IntEnum):
    """Why a position was closed (stored as ``int8`` in trade records)."""

    SIGNAL = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    LIQUIDATION = 4
    END = 5

    @property
    def label(self) -> str:
        """The lower-case name used in JSON and tables (``stop_loss``)."""
        return self.name.lower()


TRADE_DTYPE = np.dtype(
    [
        ("pair", np.int32),
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
        ("entry_time", np.int64),
        ("exit_time", np.int64),
        ("direction", np.int8),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("qty", np.float64),
        ("entry_fee", np.float64),
        ("exit_fee", np.float64),
        ("pnl", np.float64),
        ("return_pct", np.float64),
        ("bars_held", np.int64),
        ("exit_reason", np.int8),
    ]
)
"""Fields of a trade record (see docs/execution.md, "Trades"). ``pair`` indexes the batch."""

TradeArray = npt.NDArray[np.void]


def trades_to_dicts(trades: TradeArray) -> list[dict[str, Any]]:
    """Trade records as JSON-ready dicts (``pair`` dropped, ``exit_reason`` as its label)."""
    names = [n for n in TRADE_DTYPE.names or () if n != "pair"]
    # Whole columns to Python at once: per-element conversion costs ten times as much.
    columns = [trades[name].tolist() for name in names]
    labels = {int(r): ExitReason(int(r)).label for r in np.unique(trades["exit_reason"])}
    reason = names.index("exit_reason")
    columns[reason] = [labels[r] for r in columns[reason]]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
