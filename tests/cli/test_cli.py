"""The ``coinbt`` command line, run in-process (and once as a real process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coinbt.cli import main
from coinbt.domain.results import METRIC_NAMES
from coinbt.errors import EngineError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BTC_1D = FIXTURES / "real" / "BTCUSDT-1d.csv"
HEADER = "timestamp_ms,open,high,low,close,volume"
STRATEGY_NAMES = (
    "buy_and_hold",
    "sma_cross",
    "ema_cross",
    "rsi",
    "bollinger",
    "macd",
    "breakout",
    "dca",
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def bad_input(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command expected to fail on its input; return stderr."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    return err


def backtest(*extra: str) -> list[str]:
    return ["backtest", "--data", str(BTC_1D), *extra]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-xdist workers set COLUMNS=80, which would wrap the tables these tests read.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module", autouse=True)
def _fixture_present() -> None:
    assert BTC_1D.exists(), f"missing fixture {BTC_1D}"


# --- backtest ----------------------------------------------------------------------------


def test_backtest_prints_a_metrics_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *backtest("--strategy", "sma_cross"))
    assert code == 0, err
    assert "sma_cross (fast=10, slow=30) on BTCUSDT 1d" in out
    for label in ("Total return", "Buy & hold return", "Sharpe ratio", "Max drawdown"):
        assert label in out
    assert "trade(s)" in out and "won" in out
    assert "fee 0.1 %" in out


def test_backtest_by_strategy_id(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, *backtest("--strategy", "2"))
    assert data["strategy"] == "sma_cross"


def test_backtest_json_holds_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        *backtest("-s", "sma_cross", "--param", "fast=20", "-p", "slow=50", "--fee", "0.0005"),
    )
    assert {"symbol", "strategy", "parameters", "assumptions", "metrics", "trades"} <= set(data)
    assert data["symbol"] == "BTCUSDT"
    assert data["parameters"] == {"fast": 20, "slow": 50}
    assert data["assumptions"]["transaction_fee"] == 0.0005
    assert data["assumptions"]["interval"] == "1d"
    assert list(data["metrics"]) == list(METRIC_NAMES)
    assert data["metrics"]["num_trades"] == len(data["trades"]) > 0
    trade = data["trades"][0]
    assert {"entry_time", "exit_time", "entry_price", "exit_price", "return_pct"} <= set(trade)
    assert trade["exit_reason"] in ("signal", "end")


def test_backtest_execution_flags_reach_the_assumptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = (
        "--direction", "longshort", "--fill", "close", "--slippage", "0.001",
        "--stop-loss", "5", "--take-profit", "20", "--trailing-stop", "8",
        "--initial-investment", "1000",
    )  # fmt: skip
    facts = run_json(capsys, *backtest("-s", "ema_cross", *flags))["assumptions"]
    assert facts["direction"] == "longshort" and facts["fill"] == "close"
    assert facts["slippage"] == 0.001 and facts["initial_investment"] == 1000
    assert (facts["stop_loss_pct"], facts["take_profit_pct"], facts["trailing_stop_pct"]) == (
        5,
        20,
        8,
    )


def test_backtest_start_and_end_slice_the_candles(capsys: pytest.CaptureFixture[str]) -> None:
    args = backtest("-s", "buy_and_hold", "--start", "2022-01-01", "--end", "2022-12-31")
    facts = run_json(capsys, *args)["assumptions"]
    assert facts["start"] == 1_640_995_200_000  # 2022-01-01 00:00 UTC
    assert facts["end"] == 1_672_444_800_000  # 2022-12-31 00:00 UTC
    assert facts["bars"] == 365


def test_backtest_symbol_and_interval_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "candles.csv"
    shutil.copy(BTC_1D, path)
    err = bad_input(capsys, "backtest", "--data", path, "-s", "rsi")
    assert "--symbol" in err and "rename" in err
    data = run_json(
        capsys, "backtest", "--data", path, "-s", "rsi", "--symbol", "XBT", "--interval", "1d"
    )
    assert data["symbol"] == "XBT" and data["assumptions"]["interval"] == "1d"


# --- backtest: bad input exits 2 with a helpful message ------------------------------------


def test_unknown_strategy_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("--strategy", "sma_crossover"))
    assert "unknown strategy 'sma_crossover'" in err
    assert all(name in err for name in STRATEGY_NAMES)


def test_misspelled_param_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "sma_cross", "--param", "fsat=5"))
    assert "fsat" in err and "fast" in err and "slow" in err


def test_param_out_of_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "sma_cross", "--param", "fast=5000"))
    assert "fast" in err and "between 2 and 500" in err


def test_param_not_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "sma_cross", "--param", "fast=ten"))
    assert "fast must be a number" in err and "'ten'" in err


def test_param_rule_fast_below_slow(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "sma_cross", "-p", "fast=40", "-p", "slow=20"))
    assert "fast (40) must be smaller than slow (20)" in err


def test_param_without_equals(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "sma_cross", "--param", "fast"))
    assert "NAME=VALUE" in err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--fee", "lots"), "transaction_fee must be a number"),
        (("--fee", "0.9"), "transaction_fee must be between 0 and 0.5"),
        (("--stop-loss", "150"), "stop_loss_pct must be between"),
    ],
)
def test_bad_execution_options(
    capsys: pytest.CaptureFixture[str], flags: tuple[str, str], expected: str
) -> None:
    assert expected in bad_input(capsys, *backtest("-s", "sma_cross", *flags))


def test_start_after_end(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "rsi", "--start", "2024-01-01", "--end", "2023-01-01"))
    assert "start is after end" in err


def test_unreadable_date(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "rsi", "--start", "last tuesday"))
    assert "cannot read start" in err and "2024-01-01" in err


def test_empty_range(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, *backtest("-s", "rsi", "--start", "2040-01-01"))
    assert "no candles in the requested range" in err and "2017-08-17" in err


def test_malformed_file_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lines = BTC_1D.read_text().splitlines()[:40]
    lines[16] = lines[16].rsplit(",", 2)[0] + ",abc," + lines[16].rsplit(",", 1)[1]
    path = tmp_path / "BTCUSDT-1d.csv"
    path.write_text("\n".join(lines) + "\n")
    err = bad_input(capsys, "backtest", "--data", path, "-s", "sma_cross")
    assert "BTCUSDT-1d.csv: line 17: close is not a number ('abc')" in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1d.csv"
    err = bad_input(capsys, "backtest", "--data", path, "-s", "sma_cross")
    assert str(path) in err and "no such file" in err


def test_unknown_stored_pair_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINBT_DATABASE_URL", f"duckdb:///{tmp_path / 'empty.db'}")
    err = bad_input(capsys, "backtest", "BTCUSDT", "ETHUSDT", "-s", "sma_cross")
    assert "unknown pair 'BTCUSDT'" in err and "coinbt dashboard" in err


def test_nothing_to_backtest(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--data" in bad_input(capsys, "backtest", "-s", "sma_cross")


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--data", "x.csv"],  # --strategy missing
        ["backtest", "--data", "x.csv", "-s", "rsi", "--direction", "sideways"],
        ["backtest", "--bogus"],
        ["nonsense"],
        [],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    err = bad_input(capsys, *argv)
    assert "usage:" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "backtest", "--help")
    assert code == 0 and "--strategy" in out and "--stop-loss" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("coinbt ")


# --- failures that are not the user's fault ------------------------------------------------


def test_unexpected_error_is_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coinbt.services import backtests

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(backtests, "run_file", boom)
    code, _, err = run(capsys, *backtest("-s", "rsi"))
    assert code == 1
    assert "kaput" in err and "--debug" in err and "Traceback" not in err
    code, _, err = run(capsys, "--debug", *backtest("-s", "rsi"))
    assert code == 1 and "Traceback" in err and "RuntimeError: kaput" in err


def test_other_coinbt_errors_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coinbt.services import backtests

    def broken(*args: object, **kwargs: object) -> None:
        raise EngineError("the simulator fell over", hint="please report it")

    monkeypatch.setattr(backtests, "run_file", broken)
    code, _, err = run(capsys, *backtest("-s", "rsi"))
    assert code == 1
    assert "the simulator fell over" in err and "please report it" in err


# --- strategies ----------------------------------------------------------------------------


def test_strategies_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "strategies")
    assert code == 0
    assert all(name in out for name in STRATEGY_NAMES)
    assert "fast=10 (2..500)" in out


def test_strategies_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "strategies")
    assert [s["name"] for s in data] == list(STRATEGY_NAMES)
    assert [s["id"] for s in data] == list(range(1, 9))
    sma = data[1]
    assert sma["description"]
    fast = sma["parameters"][0]
    assert (fast["name"], fast["default"], fast["min"], fast["max"]) == ("fast", 10, 2, 500)
    assert fast["kind"] == "int"


# --- demo ----------------------------------------------------------------------------------


def test_demo_prints_a_table_and_loads_the_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINBT_DATABASE_URL", f"duckdb:///{tmp_path / 'demo.db'}")
    code, out, err = run(capsys, "demo", "--no-serve")
    assert code == 0, err
    assert "sma_cross (fast=10, slow=30)" in out
    for column in ("pair", "return", "buy & hold", "sharpe", "max drawdown", "trades"):
        assert column in out
    assert "best:" in out and "worst:" in out and "sample:" in out and "took" in out
    assert "sample in the store (duckdb" in out and "160 pairs" in out
    rows = run_json(capsys, "dashboard")
    assert len(rows) == 160 and {"BTCUSDT", "ETHUSDT"} <= {r["symbol"] for r in rows}
    code, out, _ = run(capsys, "demo", "--no-serve")
    assert code == 0 and ", 0 new," in out


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "demo", "--strategy", "rsi", "--param", "period=10")
    assert data["strategy"] == "rsi" and data["parameters"]["period"] == 10
    assert len(data["pairs"]) >= 2
    symbols = [p["symbol"] for p in data["pairs"]]
    assert data["best"] == symbols[0] and data["worst"] == symbols[-1]
    returns = [p["metrics"]["total_return_pct"] for p in data["pairs"]]
    assert returns == sorted(returns, reverse=True)
    assert data["provenance"] and "\n" not in data["provenance"]
    assert data["last_candle"] == max(p["end"] for p in data["pairs"])


def test_demo_bad_strategy_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    err = bad_input(capsys, "demo", "--strategy", "nope")
    assert "sma_cross" in err


# --- the real entry point --------------------------------------------------------------------


def test_module_entry_point_runs_in_a_process(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "coinbt.cli"]
    done = subprocess.run(
        [*cmd, "backtest", "--data", str(BTC_1D), "-s", "macd", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["strategy"] == "macd" and data["symbol"] == "BTCUSDT"
    bad = subprocess.run(
        [*cmd, "backtest", "--data", str(BTC_1D), "-s", "macd", "-p", "fast=1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "fast" in bad.stderr
