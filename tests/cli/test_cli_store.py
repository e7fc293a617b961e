"""The store commands end to end, in-process: import, export, dashboard, db, backtest SYMBOL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coinbt.cli import main

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
HOURLY = ("BTCUSDT-1h.csv", "SOLUSDT-1h.csv", "USDCUSDT-1h.csv")


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-xdist workers set COLUMNS=80, which would wrap the tables these tests read.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store.db"
    monkeypatch.setenv("COINBT_DATABASE_URL", f"duckdb:///{path}")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: object) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_import_twice_changes_nothing(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [REAL / name for name in HOURLY]
    first = run_json(capsys, "import", *files)
    rows = sum(len(f.read_text().splitlines()) - 1 for f in files)
    assert first["files"] == 3 and first["pairs"] == 3
    assert first["candles"] == first["inserted"] == rows
    again = run_json(capsys, "import", *files)
    assert again["inserted"] == again["revised"] == 0
    assert again["unchanged"] == rows


def test_import_then_export_gives_back_the_same_candles(
    db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = REAL / "BTCUSDT-1d.csv"
    assert run(capsys, "import", source)[0] == 0
    out = tmp_path / "out.csv"
    code, _, err = run(capsys, "export", "btcusdt", "--interval", "1d", "--output", out)
    assert code == 0, err
    assert out.read_text() == source.read_text()


def test_export_range_to_stdout(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "import", REAL / "BTCUSDT-1d.csv")
    code, out, _ = run(
        capsys,
        "export",
        "BTCUSDT",
        "--interval",
        "1d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-31",
    )
    lines = out.splitlines()
    assert code == 0 and lines[0] == "timestamp_ms,open,high,low,close,volume"
    assert len(lines) == 32
    assert lines[1].startswith("1704067200000,")


def test_a_bad_file_is_refused_whole_and_earlier_files_stay(
    db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "a" / "AAAUSDT-1d.csv"
    bad = tmp_path / "b" / "BBBUSDT-1d.csv"
    good.parent.mkdir()
    bad.parent.mkdir()
    shutil.copy(REAL / "BTCUSDT-1d.csv", good)
    lines = (REAL / "BONKUSDT-1d.csv").read_text().splitlines()
    lines[5] = lines[5].replace(",", ",x", 1)
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "import", good, bad)
    assert code == 2
    assert "BBBUSDT-1d.csv" in err and "line 6" in err
    pairs = {row["symbol"] for row in run_json(capsys, "dashboard")}
    assert pairs == {"AAAUSDT"}


def test_binance_archive_zip_imports(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = Path(__file__).resolve().parents[1] / "fixtures" / "archive"
    zips = sorted(archive.glob("*.zip"))
    assert zips, "the archive fixture is missing"
    with zipfile.ZipFile(zips[0]) as z:
        rows = sum(len(z.read(n).decode().splitlines()) for n in z.namelist())
    summary = run_json(capsys, "import", zips[0])
    assert summary["inserted"] == rows


def test_dashboard_json_and_gainers(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "import", *(REAL / name for name in HOURLY))
    rows = run_json(capsys, "dashboard")
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "SOLUSDT", "USDCUSDT"]
    btc = np.loadtxt(REAL / "BTCUSDT-1h.csv", delimiter=",", skiprows=1)
    assert rows[0]["current_price"] == btc[-1, 4]
    assert rows[0]["high_7d"] == btc[-168:, 2].max()
    gainers = run_json(capsys, "dashboard", "--gainers", "--limit", "2")
    changes = [r["change_24h_percent"] for r in rows]
    assert [r["change_24h_percent"] for r in gainers] == sorted(changes, reverse=True)[:2]
    code, out, _ = run(capsys, "dashboard")
    assert code == 0 and "SOLUSDT" in out


def test_db_stats_and_refresh(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "import", REAL / "BTCUSDT-1h.csv")
    stats = run_json(capsys, "db", "stats")
    assert stats["pairs"] == 1 and stats["candles"] == {"1h": 2000}
    assert stats["rollup_rows"]["1d"] > 80 and stats["size_bytes"] > 0
    assert run(capsys, "db", "refresh")[0] == 0
    assert run_json(capsys, "db", "stats")["rollup_rows"] == stats["rollup_rows"]
    code, out, _ = run(capsys, "db", "migrate")
    assert code == 0 and "schema version 2" in out


def test_backtest_stored_pairs_equals_backtest_of_the_file(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", REAL / "BTCUSDT-1d.csv")
    args = ("-s", "sma_cross", "-p", "fast=10", "-p", "slow=30", "--start", "2023-01-01")
    stored = run_json(capsys, "backtest", "BTCUSDT", "--interval", "1d", *args)
    from_file = run_json(capsys, "backtest", "--data", REAL / "BTCUSDT-1d.csv", *args)
    assert stored["metrics"] == from_file["metrics"]
    assert stored["trades"] == from_file["trades"]


def test_backtest_hourly_pair_on_daily_rollups(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", REAL / "SOLUSDT-1h.csv", REAL / "BTCUSDT-1h.csv")
    results = run_json(
        capsys, "backtest", "SOLUSDT", "BTCUSDT", "-s", "buy_and_hold", "--interval", "1d"
    )
    assert [r["symbol"] for r in results] == ["SOLUSDT", "BTCUSDT"]
    assert all(r["assumptions"]["interval"] == "1d" for r in results)
    assert 80 <= results[0]["assumptions"]["bars"] <= 84


def test_prune_archives_then_reimport_restores(
    db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "import", REAL / "BTCUSDT-1h.csv")
    before = run_json(capsys, "db", "stats")
    report = run_json(capsys, "db", "prune", "--older-than", "0.001", "--archive", tmp_path / "old")
    assert report["candles"] == 2000 and len(report["archives"]) == 1
    after = run_json(capsys, "db", "stats")
    assert after["candles"] == {} and after["rollup_rows"] == before["rollup_rows"]
    restored = run_json(capsys, "import", *report["archives"])
    assert restored["inserted"] == 2000


def test_second_process_is_told_who_holds_the_file(db: Path, tmp_path: Path) -> None:
    run_holder = (
        "import sys, time; from coinbt.store import open_store; "
        f"s = open_store('duckdb:///{db}'); print('ready', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", run_holder], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        done = subprocess.run(
            [sys.executable, "-m", "coinbt.cli", "import", str(REAL / "BTCUSDT-1d.csv")],
            check=False,
            capture_output=True,
            text=True,
            env={**_env(), "COINBT_DATABASE_URL": f"duckdb:///{db}"},
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert f"PID {holder.pid}" in done.stderr and "Traceback" not in done.stderr
    assert "coinbt serve" in done.stderr


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
