"""The web dashboard in a real browser: headless Chromium (Debian's) under Playwright,
against a real ``coinbt serve`` over the imported real fixtures.

Each view is checked against the API's own answers for the same request, and a
screenshot of each is kept in ``$COINBT_E2E_ARTIFACTS`` (default ``build/e2e-artifacts``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coinbt.cli import main
from coinbt.services.report import metric_text
from coinbt.web import STATIC_DIR
from support.e2e import PageWatch, Server, artifacts_dir, browser, running_server

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    with browser() as launched:
        yield launched


@pytest.fixture
def page(chrome: Any, server: Server) -> Iterator[Any]:
    context = chrome.new_context(viewport=LAPTOP)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.watch = PageWatch(tab, server.url)
    yield tab
    context.close()


def shot(page: Any, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_clean(page: Any, allow: str | None = None) -> None:
    """No script errors and no request to anywhere but the server (offline)."""
    errors = [e for e in page.watch.errors if not (allow and re.search(allow, e))]
    assert errors == []
    assert page.watch.remote == []


def wait_for_charts(page: Any, *ids: str) -> None:
    """Charts are drawn once plotly.js has loaded (on the first chart of the page)."""
    page.wait_for_function(
        "ids => ids.every(id => document.getElementById(id).data"
        " && document.querySelector('#' + id + ' .main-svg'))",
        arg=list(ids),
    )


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


# -- serving ---------------------------------------------------------------------------------


def test_page_and_assets_are_served_from_the_package(server: Server) -> None:
    with server.api() as api:
        page = api.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs, "the page loads no assets"
        for ref in refs:
            if ref.startswith(("#", "data:")):
                continue
            assert ref.startswith("/static/"), f"{ref} is not served by coinbt"
            assert api.get(ref).status_code == 200, ref
        plotly = api.get("/static/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
        assert plotly.headers["content-type"].startswith("text/javascript")
        assert plotly.headers["content-encoding"] == "gzip"  # 1.5 MB on the wire, not 4.8
        assert "plotly.js v" in plotly.text[:200]
        plain = api.get("/static/vendor/plotly.min.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.text == plotly.text
    for path in [*STATIC_DIR.rglob("*.js"), *STATIC_DIR.rglob("*.css"), STATIC_DIR / "index.html"]:
        assert not re.search(r"https?://", path.read_text()), f"{path.name} names a remote address"


# -- market ----------------------------------------------------------------------------------


def test_market_lists_every_pair_sorts_and_filters(page: Any, server: Server) -> None:
    with server.api() as api:
        rows = api.get("/api/crypto/dashboard").json()
    page.goto(f"{server.url}/#market")
    page.wait_for_selector("#market-table tbody tr")
    symbols = page.eval_on_selector_all(
        "#market-table tbody tr", "rs => rs.map(r => r.dataset.symbol)"
    )
    assert sorted(symbols) == sorted(r["symbol"] for r in rows)
    assert len(rows) == 4

    page.click("#market-table th[data-sort=current_price]")
    assert (
        page.get_attribute("#market-table th[data-sort=current_price]", "aria-sort") == "descending"
    )
    by_price = [r["symbol"] for r in sorted(rows, key=lambda r: r["current_price"], reverse=True)]
    assert _market_symbols(page) == by_price
    page.click("#market-table th[data-sort=current_price]")
    assert _market_symbols(page) == by_price[::-1]

    newest = max(r["last_updated"] for r in rows)
    assert page.get_attribute("#market-meta", "data-newest") == str(newest)
    assert "data up to" in page.inner_text("#market-meta")
    assert "last collected" not in page.inner_text("#market-meta")  # imported, not collected
    _check_movers(page, rows)
    shot(page, "market")

    page.fill("#market-filter", "btc")
    assert _market_symbols(page) == ["BTCUSDT"]
    assert_clean(page)


def test_market_shows_when_the_data_was_last_collected(page: Any, server: Server) -> None:
    finished = 1_717_245_000_000  # 2024-06-01 12:30 UTC
    run = {"id": 7, "kind": "update", "status": "ok", "started_at": finished - 4_000,
           "finished_at": finished, "duration_seconds": 4.0, "pairs": 263,
           "candles_added": 263, "candles_revised": 0, "gaps": 0, "errors": 0}  # fmt: skip

    def with_a_run(route: Any) -> None:  # the server's own health, plus a recorded run
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "last_ingest": run})

    page.route("**/api/health", with_a_run)
    page.goto(f"{server.url}/#market")
    page.wait_for_selector("#market-meta[data-collected]")
    text = page.inner_text("#market-meta")
    assert "last collected 2024-06-01 12:30 UTC" in text and "ago, update)" in text
    assert "data up to" in text  # the newest candle too
    assert page.get_attribute("#market-meta", "data-collected") == str(finished)
    shot(page, "market-collected")
    assert_clean(page)


def test_market_works_without_health(page: Any, server: Server) -> None:
    page.route("**/api/health", lambda route: route.fulfill(status=503, json={}))
    page.goto(f"{server.url}/#market")
    page.wait_for_selector("#market-table tbody tr")
    assert "data up to" in page.inner_text("#market-meta")
    assert_clean(page, allow=r"status of 503")


def _market_symbols(page: Any) -> list[str]:
    return list(
        page.eval_on_selector_all("#market-table tbody tr", "rs => rs.map(r => r.dataset.symbol)")
    )


def _check_movers(page: Any, rows: list[dict[str, Any]]) -> None:
    changes = [r for r in rows if r["change_24h_percent"] is not None]
    up = [
        r["symbol"]
        for r in sorted(changes, key=lambda r: -r["change_24h_percent"])
        if r["change_24h_percent"] > 0
    ]
    down = [
        r["symbol"]
        for r in sorted(changes, key=lambda r: r["change_24h_percent"])
        if r["change_24h_percent"] < 0
    ]
    shown_up = page.eval_on_selector_all(
        "#gainers li[data-symbol]", "ls => ls.map(l => l.dataset.symbol)"
    )
    shown_down = page.eval_on_selector_all(
        "#losers li[data-symbol]", "ls => ls.map(l => l.dataset.symbol)"
    )
    assert shown_up == up[:5]
    assert shown_down == down[:5]


# -- pair ------------------------------------------------------------------------------------


def test_pair_chart_renders_its_candles(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#pair/BTCUSDT")
    with server.api() as api:
        for interval in ("1d", "1w", "1h"):
            expected = api.get("/api/crypto/BTCUSDT/candles", params={"interval": interval}).json()
            page.click(f"#pair-interval button[data-interval='{interval}']")
            page.wait_for_function(
                "n => document.getElementById('pair-chart').dataset.candles == n"
                " && document.querySelector('#pair-chart .main-svg')",
                arg=expected["count"],
            )
            trace = page.evaluate(
                "() => { const d = document.getElementById('pair-chart').data;"
                " return {type: d[0].type, n: d[0].x.length, volume: d[1].y.length}; }"
            )
            assert trace == {
                "type": "candlestick",
                "n": expected["count"],
                "volume": expected["count"],
            }
            if interval == "1d":
                shot(page, "pair")
    summary = page.inner_text("#pair-summary")
    assert "All-time high" in summary and "Days of data" in summary
    assert page.inner_text("#pair-gaps-meta")
    assert_clean(page)


def test_pair_lists_the_gaps_in_its_data(page: Any, server: Server) -> None:
    # USDCUSDT-1h.csv lacks the candles of 2021-09-29 07:00 and 08:00 (the store agrees).
    page.goto(f"{server.url}/#pair/USDCUSDT")
    with page.expect_response("**/api/crypto/USDCUSDT/gaps?interval=1h") as asked:
        page.click("#pair-interval button[data-interval='1h']")
    assert asked.value.ok
    page.wait_for_function("document.getElementById('pair-chart').dataset.candles == 2000")
    assert page.inner_text("#pair-gaps-meta").startswith("1 gap(s), 2 missing 1h candle(s)")
    assert "in the stored history" in page.inner_text("#pair-gaps-meta")
    assert page.get_attribute("#pair-gaps-meta", "data-source") == "store"
    assert (
        page.inner_text("#pair-gaps li") == "2021-09-29 07:00 .. 2021-09-29 08:00 UTC: 2 candle(s)"
    )
    shapes = page.evaluate("document.getElementById('pair-chart').layout.shapes.length")
    assert shapes == 1  # shaded on the chart too
    shot(page, "pair-gaps")
    assert_clean(page)


def test_pair_shows_known_outages_with_their_reason(page: Any, server: Server) -> None:
    with server.api() as api:
        real = api.get("/api/crypto/USDCUSDT/gaps", params={"interval": "1h"}).json()
        times = [c["time"] for c in api.get("/api/crypto/USDCUSDT/candles?interval=1h").json()[
            "candles"]]  # fmt: skip
    (gap,) = real["gaps"]
    assert (gap["missing"], gap["known"], gap["reason"]) == (2, False, None)
    reason = "exchange outage: the exchange serves no candles here"
    hour = 3_600_000
    at = times[10] if times[10] < gap["start"] - 3 * hour else times[-10]  # on the chart
    outage = {"start": at, "end": at + 2 * hour, "missing": 3, "known": True, "reason": reason}
    recorded = {**real, "gaps": sorted([outage, gap], key=lambda g: g["start"])}
    page.route(
        "**/api/crypto/USDCUSDT/gaps?interval=1h", lambda route: route.fulfill(json=recorded)
    )
    page.goto(f"{server.url}/#pair/USDCUSDT")
    page.click("#pair-interval button[data-interval='1h']")
    page.wait_for_function("document.getElementById('pair-chart').dataset.candles == 2000")
    meta = page.inner_text("#pair-gaps-meta")
    assert meta.startswith("2 gap(s), 5 missing 1h candle(s)")
    assert meta.endswith("1 known exchange outage(s)")
    items = page.eval_on_selector_all(
        "#pair-gaps li", "ls => ls.map(l => [l.className, l.innerText])"
    )
    unknown = ["", "2021-09-29 07:00 .. 2021-09-29 08:00 UTC: 2 candle(s)"]
    assert unknown in items and len(items) == 2
    (known,) = [text for kind, text in items if kind == "known"]
    assert known.endswith(f"3 candle(s) (known: {reason})")
    shapes = page.evaluate("document.getElementById('pair-chart').layout.shapes.length")
    assert shapes == 2
    shot(page, "pair-known-gaps")
    assert_clean(page)


def test_pair_falls_back_to_the_candles_when_the_gaps_route_fails(
    page: Any, server: Server
) -> None:
    page.route("**/api/crypto/*/gaps?*", lambda route: route.fulfill(status=500, json={}))
    page.goto(f"{server.url}/#pair/USDCUSDT")
    page.click("#pair-interval button[data-interval='1h']")
    page.wait_for_function("document.getElementById('pair-gaps-meta').dataset.source")
    assert page.get_attribute("#pair-gaps-meta", "data-source") == "candles"
    meta = page.inner_text("#pair-gaps-meta")
    assert meta == "1 gap(s), 2 missing 1h candle(s) between the candles shown"
    assert_clean(page, allow=r"status of 500")


def test_rollup_intervals_find_their_gaps_in_the_candles(page: Any, server: Server) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/gaps" in r.url else None)
    page.goto(f"{server.url}/#pair/USDCUSDT")  # 1d: rollups of its hourly candles
    page.wait_for_function("document.getElementById('pair-gaps-meta').dataset.source")
    assert page.get_attribute("#pair-gaps-meta", "data-source") == "candles"
    assert asked == []
    assert_clean(page)


# -- backtest --------------------------------------------------------------------------------


def test_backtest_form_shows_the_api_metrics(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#backtest/BTCUSDT")
    page.wait_for_selector("#bt-form input[name='parameters.fast']")
    page.select_option("#bt-form select[name=interval]", "1d")
    page.fill("#bt-form input[name='parameters.fast']", "12")
    page.fill("#bt-form input[name='parameters.slow']", "40")
    page.fill("#bt-form input[name='options.transaction_fee']", "0.002")
    page.fill("#bt-form input[name=start_date]", "2020-01-01")
    page.fill("#bt-form input[name=end_date]", "2024-12-31")
    with page.expect_request("**/api/crypto/backtest/run") as sent:
        page.click("#bt-form button[type=submit]")
    page.wait_for_selector("#bt-result:not([hidden]) #bt-metrics [data-metric]")
    request = sent.value.post_data_json
    assert request["parameters"] == {"fast": 12, "slow": 40}
    assert request["options"]["transaction_fee"] == 0.002
    with server.api() as api:
        answer = api.post("/api/crypto/backtest/run", json=request).json()

    shown = page.eval_on_selector_all(
        "#bt-metrics [data-metric]",
        "ds => ds.map(d => [d.dataset.metric, d.querySelector('dd').dataset.value,"
        " d.querySelector('dd').textContent])",
    )
    assert {name for name, _, _ in shown} == set(answer["metrics"])
    for name, raw, text in shown:
        value = answer["metrics"][name]
        assert float(raw) == value, name
        assert _same_display(text, metric_text(name, value)), (name, text, value)

    trades = answer["trades"]
    wait_for_charts(page, "bt-equity", "bt-drawdown", "bt-price")
    assert (
        page.locator("#bt-trades tbody tr").count()
        == len(trades)
        == answer["metrics"]["num_trades"]
    )
    marks = page.evaluate("() => document.getElementById('bt-price').data.map(t => t.x.length)")
    assert marks[1:] == [len(trades), len(trades)]
    assert page.evaluate("() => document.getElementById('bt-equity').data.length") == 2
    assert page.evaluate("() => document.getElementById('bt-drawdown').data[0].y.length") > 0
    shot(page, "backtest")
    assert_clean(page)


def _same_display(text: str, expected: str) -> bool:
    """The page's text equals Python's formatting of the same number; JS and Python may
    round an exact half apart in the last digit, which is accepted."""
    if text == expected:
        return True
    number = re.compile(r"[-\d,.]+")
    a, b = number.search(text), number.search(expected)
    if not (a and b) or number.sub("", text) != number.sub("", expected):
        return False
    return math.isclose(
        float(a[0].replace(",", "")), float(b[0].replace(",", "")), abs_tol=0.0100001
    )


# -- batch -----------------------------------------------------------------------------------

_WATCH_PROGRESS = """() => {
  window.__seen = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id === 'batch-feed') r.addedNodes.forEach(() => window.__seen.push('pair'));
      else if (r.target.id === 'batch-result' && !r.target.hidden) window.__seen.push('result');
      // the text node added at each update keeps the count of that moment
      else if (r.target.id === 'batch-count')
        r.addedNodes.forEach((n) => window.__seen.push(n.textContent));
    }
  }).observe(document.getElementById('batch-live').parentNode, {subtree: true, childList: true,
     attributes: true, attributeFilter: ['hidden'], characterData: true});
}"""


def test_batch_shows_live_progress_then_a_complete_table(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#batch")
    page.wait_for_selector("#batch-form input[name='parameters.fast']")
    page.check("#batch-form input[name=scope][value=all]")
    page.select_option("#batch-form select[name=interval]", "1d")
    page.evaluate(_WATCH_PROGRESS)
    with page.expect_response("**/api/crypto/backtest/batch") as answered:
        page.click("#batch-form button[type=submit]")
    assert answered.value.headers["content-type"].startswith("text/event-stream")
    page.wait_for_selector("#batch-result:not([hidden]) #batch-table tbody tr")

    with server.api() as api:
        body = {"crypto_ids": "all", "interval": "1d", "strategy_id": 2}
        report = api.post("/api/crypto/backtest/batch", json=body).json()
    total = report["summary"]["total_cryptocurrencies"]
    seen = page.evaluate("window.__seen")
    pairs_before_result = seen[: seen.index("result")].count("pair")
    assert pairs_before_result == total == 4, seen
    counts = [int(s.split(" / ")[0]) for s in seen[: seen.index("result")] if " / " in s]
    assert counts[-(total + 1) :] == list(range(total + 1)), seen  # 0, 1, 2, ... one per event
    assert page.inner_text("#batch-count").startswith(f"{total} / {total}")
    assert page.evaluate("document.getElementById('batch-progress').value") == total

    rows = page.eval_on_selector_all("#batch-table tbody tr", "rs => rs.map(r => r.dataset.symbol)")
    expected = sorted(report["results"].values(), key=lambda r: -r["metrics"]["total_return_pct"])
    assert rows == [r["symbol"] for r in expected]
    assert (
        page.get_attribute("#batch-table tbody tr.best", "data-symbol")
        == report["summary"]["best_performing"]["symbol"]
    )
    assert (
        page.get_attribute("#batch-table tbody tr.worst", "data-symbol")
        == report["summary"]["worst_performing"]["symbol"]
    )
    wait_for_charts(page, "batch-chart")
    assert page.evaluate("document.getElementById('batch-chart').data[0].x.length") == total
    shot(page, "batch")
    page.click("#batch-table th[data-sort=symbol]")
    assert page.eval_on_selector_all(
        "#batch-table tbody tr", "rs => rs.map(r => r.dataset.symbol)"
    ) == sorted(rows)
    assert_clean(page)


def test_batch_of_chosen_pairs_and_of_a_quote_asset(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#batch")
    page.wait_for_selector("#batch-form input[name='parameters.fast']")
    page.fill("#batch-form .pair-filter", "sol")
    page.click("#batch-form [data-pick=all]")  # selects the pairs shown: SOLUSDT
    page.fill("#batch-form .pair-filter", "")
    page.check("#batch-form input[name=pair][value=BTCUSDT]")
    page.select_option("#batch-form select[name=interval]", "1h")
    with page.expect_request("**/api/crypto/backtest/batch") as sent:
        page.click("#batch-form button[type=submit]")
    assert sorted(sent.value.post_data_json["crypto_ids"]) == ["BTCUSDT", "SOLUSDT"]
    page.wait_for_selector("#batch-result:not([hidden]) #batch-table tbody tr")
    rows = page.eval_on_selector_all("#batch-table tbody tr", "rs => rs.map(r => r.dataset.symbol)")
    assert sorted(rows) == ["BTCUSDT", "SOLUSDT"]

    page.check("#batch-form input[name=scope][value=quote]")
    page.select_option("#batch-form select[name=quote]", "USDT")
    with page.expect_request("**/api/crypto/backtest/batch") as sent:
        page.click("#batch-form button[type=submit]")
    assert sent.value.post_data_json["crypto_ids"] == "all"
    assert sent.value.post_data_json["quote"] == "USDT"
    page.wait_for_function("document.getElementById('batch-count').textContent.startsWith('3 / 3')")
    page.wait_for_selector("#batch-result:not([hidden]) #batch-table tbody tr")
    assert page.locator("#batch-table tbody tr").count() == 3  # the pairs with 1h candles
    assert_clean(page)


# -- errors ----------------------------------------------------------------------------------


def test_a_bad_parameter_shows_its_error_next_to_the_field(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#backtest/BTCUSDT")
    fast = "#bt-form input[name='parameters.fast']"
    page.wait_for_selector(fast)
    error = "#bt-form [data-error-for='parameters.fast']"

    page.fill(fast, "1")  # below its minimum: caught as you type
    assert "between 2 and 500" in page.inner_text(error)
    assert page.get_attribute(fast, "aria-invalid") == "true"
    page.fill(fast, "abc")
    assert "not a number" in page.inner_text(error)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/backtest/run" in r.url else None)
    page.click("#bt-form button[type=submit]")
    assert "fix the marked fields" in page.inner_text("#bt-form [data-error-for='*']")
    assert requests == []

    page.fill(fast, "10")
    assert page.inner_text(error) == ""
    page.fill("#bt-form input[name=start_date]", "2024-06-01")
    page.fill("#bt-form input[name=end_date]", "2024-01-01")
    page.click("#bt-form button[type=submit]")
    start_error = page.wait_for_selector("#bt-form [data-error-for='start_date']:not(:empty)")
    assert "start_date is after end_date" in start_error.inner_text()
    assert page.get_attribute("#bt-form input[name=start_date]", "aria-invalid") == "true"
    shot(page, "backtest-errors")

    page.fill("#bt-form input[name=start_date]", "")
    page.fill(fast, "50")  # within bounds, but not below slow: only the API knows that rule
    page.click("#bt-form button[type=submit]")
    form_error = page.wait_for_selector("#bt-form [data-error-for='*']:not(:empty)")
    assert "must be smaller than slow" in form_error.inner_text()
    assert_clean(page, allow=r"status of 422")


def test_batch_without_pairs_says_so_at_the_pair_list(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/#batch")
    page.wait_for_selector("#batch-form input[name='parameters.fast']")
    page.click("#batch-form button[type=submit]")
    assert "choose at least one pair" in page.inner_text("#batch-form [data-error-for=crypto_ids]")
    assert_clean(page)


# -- phone width -----------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["market", "backtest", "batch"])
def test_views_fit_a_phone_screen(chrome: Any, server: Server, view: str) -> None:
    context = chrome.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.watch = PageWatch(page, server.url)
    try:
        page.goto(f"{server.url}/#{view}")
        page.wait_for_selector(
            f"#view-{view}:not([hidden]) select, #view-{view}:not([hidden]) tbody tr"
        )
        page.wait_for_timeout(200)
        assert no_sideways_scroll(page)
        shot(page, f"{view}-phone")
        assert_clean(page)
    finally:
        context.close()


# -- report ----------------------------------------------------------------------------------


def test_the_report_opens_from_disk_offline(chrome: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    data = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "BTCUSDT-1d.csv"
    assert main(["backtest", "--data", str(data), "-s", "sma_cross", "--report", str(out)]) == 0
    context = chrome.new_context(viewport=LAPTOP, offline=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    fetched: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(out.as_uri())
        page.wait_for_function("document.querySelectorAll('.chart .main-svg').length >= 3")
        assert page.evaluate("document.querySelectorAll('.chart').length") == 3
        assert page.locator("tr[data-metric=total_return_pct]").count() == 1
        shot(page, "report")
    finally:
        context.close()
    assert errors == []
    assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []
