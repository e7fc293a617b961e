"""DuckDB allows one process per database file: a second process that opens the file while
this one holds it gets StoreLockedError naming the holder's PID (never a traceback), and the
file stays intact for the holder and for whoever opens it next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from coinbt.store import open_store
from conftest import load_real

_PROBE = """
import json, sys
from coinbt.errors import CoinbtError
from coinbt.store import open_store
url, read_only = sys.argv[1], sys.argv[2] == "1"
try:
    with open_store(url, read_only=read_only) as s:
        bars = s.read("SOLUSDT", "1h")
        out = {"ok": True, "candles": len(bars), "last_close": float(bars.close[-1])}
except CoinbtError as exc:
    out = {"ok": False, "type": type(exc).__name__, "code": exc.code,
           "message": str(exc), "hint": exc.hint}
print(json.dumps(out))
"""


def probe(url: str, *, read_only: bool = False) -> dict[str, object]:
    """Open the store in another process; what it saw."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, url, "1" if read_only else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_gets_store_locked_naming_the_holder(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/held.db"
    sol = load_real("SOLUSDT-1h.csv")
    holder = open_store(url)
    try:
        holder.ingest(sol)
        for read_only in (False, True):
            seen = probe(url, read_only=read_only)
            assert seen["ok"] is False, seen
            assert seen["type"] == "StoreLockedError", seen
            assert seen["code"] == "store_locked"
            assert f"PID {os.getpid()}" in str(seen["message"]), seen
            assert seen["hint"], "the message must say what to do"
        # The holder is unaffected and keeps writing.
        assert np.array_equal(holder.read("SOLUSDT", "1h").close, sol.close)
        holder.ingest(load_real("BONKUSDT-1d.csv"))
    finally:
        holder.close()
    # Released: the next process opens the file and finds every candle.
    seen = probe(url)
    assert seen == {"ok": True, "candles": len(sol), "last_close": float(sol.close[-1])}
    with open_store(url, read_only=True) as again:
        assert again.stats().candles == {"1h": len(sol), "1d": 357}
        assert np.array_equal(again.read("SOLUSDT", "1h").time, sol.time)
