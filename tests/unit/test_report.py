"""``coinbt backtest ... --report out.html``: one self-contained HTML file with the charts,
the metrics and the trades, and nothing fetched from elsewhere."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from coinbt.cli import main
from coinbt.errors import InputError
from coinbt.services import backtests, report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"
BTC_1D = FIXTURES / "BTCUSDT-1d.csv"
REMOTE = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def own_markup(page: str) -> str:
    """The page without the inlined plotly.js, which must be the installed file unchanged
    (its code holds attribution links of map tiles that our charts never use)."""
    library = report.plotly_js()
    assert page.count(library) == 1
    return page.replace(library, "")


def figures(page: str) -> dict[str, dict[str, object]]:
    block = re.search(r'<script id="figures" type="application/json">(.*?)</script>', page, re.S)
    assert block is not None
    loaded: dict[str, dict[str, object]] = json.loads(block[1].replace("<\\/", "</"))
    return loaded


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("report")
    out = folder / "out.html"
    code = main(["backtest", "--data", str(BTC_1D), "-s", "sma_cross", "--report", str(out)])
    assert code == 0
    return folder, out.read_text(encoding="utf-8")


def test_the_report_is_one_file_with_no_remote_reference(written: tuple[Path, str]) -> None:
    folder, page = written
    assert [p.name for p in folder.iterdir()] == ["out.html"]
    assert page.startswith("<!doctype html>")
    assert not REMOTE.search(own_markup(page))
    assert "<link" not in page  # no stylesheet to fetch either
    assert "plotly.js v" in page  # inlined, not loaded


def test_the_report_holds_every_metric_and_trade(written: tuple[Path, str]) -> None:
    _, page = written
    result = backtests.run_file(BTC_1D, "sma_cross")
    for name, value in result.metrics.items():
        row = re.search(
            rf'<tr data-metric="{name}"><th>([^<]+)</th><td class="num">([^<]+)</td>', page
        )
        assert row is not None, name
        assert html.unescape(row[1]) == report.METRIC_LABELS[name]
        assert row[2] == report.metric_text(name, value)
    trades = re.search(r'<table class="data trades">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert trades is not None
    assert trades[1].count("<tr>") == len(result.trades) == result.metrics["num_trades"]


def test_the_report_charts_equity_drawdown_and_trades(written: tuple[Path, str]) -> None:
    _, page = written
    result = backtests.run_file(BTC_1D, "sma_cross")
    charts = figures(page)
    assert set(charts) == {"chart-0-equity", "chart-0-drawdown", "chart-0-price"}
    strategy, hold = charts["chart-0-equity"]["data"]  # type: ignore[misc]
    assert strategy["y"][-1] == pytest.approx(result.metrics["final_equity"])
    bh = result.metrics["buy_hold_return_pct"]
    assert hold["y"][-1] == pytest.approx(10_000 * (1 + bh / 100))
    price, entries, exits = charts["chart-0-price"]["data"]  # type: ignore[misc]
    assert price["type"] == "candlestick"
    assert len(entries["x"]) == len(exits["x"]) == len(result.trades)
    for chart in charts:
        assert f'id="{chart}"' in page


def test_json_output_stays_pure_with_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert (
        main(["backtest", "--data", str(BTC_1D), "-s", "rsi", "--json", "--report", str(out)]) == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["strategy"] == "rsi"
    assert "report written to" in captured.err
    assert out.is_file()


def test_a_report_of_stored_pairs_has_an_overview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINBT_DATABASE_URL", f"duckdb:///{tmp_path / 'r.db'}")
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    files = [str(FIXTURES / n) for n in ("BTCUSDT-1h.csv", "SOLUSDT-1h.csv")]
    assert main(["import", *files]) == 0
    out = tmp_path / "two.html"
    args = ["backtest", "BTCUSDT", "SOLUSDT", "-s", "ema_cross", "--interval", "1h"]
    assert main([*args, "--report", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert '<a href="#pair-0">BTCUSDT</a>' in page and '<a href="#pair-1">SOLUSDT</a>' in page
    assert len(figures(page)) == 6
    assert not REMOTE.search(own_markup(page))


def test_a_report_into_a_directory_is_bad_input(tmp_path: Path) -> None:
    code = main(["backtest", "--data", str(BTC_1D), "-s", "sma_cross", "--report", str(tmp_path)])
    assert code == 2


def test_text_is_escaped_and_nothing_is_an_error() -> None:
    result = backtests.run_file(BTC_1D, "buy_and_hold")
    bars = report.file_bars(BTC_1D)
    page = report.render_report([report.ReportItem(result, bars)], title="<b>x</b> & y")
    assert "<title>&lt;b&gt;x&lt;/b&gt; &amp; y</title>" in page
    with pytest.raises(InputError):
        report.render_report([])
