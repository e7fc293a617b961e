"""The core install (``pip install coinbt``, what ``make demo`` installs) has none of the
extras: the command line, the demo and the server must work without ccxt, its HTTP client,
psycopg or redis, and a collection must say which extra to install.

Each check runs in a fresh interpreter where importing those packages fails, as it would
on a machine that never installed them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXTRAS = ("ccxt", "aiohttp", "psycopg", "psycopg_pool", "redis")

BLOCK = f"""
import importlib.abc, sys
class NoExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, NoExtras())
"""


def _run(body: str, tmp_path: Path) -> dict[str, object]:
    script = BLOCK + body
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_server_and_the_demo_need_no_extra(tmp_path: Path) -> None:
    body = f"""
import json, os
from starlette.testclient import TestClient
from coinbt.api import create_app
from coinbt.cli import main
from coinbt.config import load_settings
url = "duckdb:///{tmp_path}/core.db"
os.environ["COINBT_DATABASE_URL"] = url
code = main(["demo", "--no-serve", "--json"])
settings = load_settings(database_url=url)
main(["import", "{Path(__file__).resolve().parents[1] / "fixtures/real/SOLUSDT-1h.csv"}"])
with TestClient(create_app(settings)) as client:
    health = client.get("/api/health").status_code
    page = client.get("/").status_code
loaded = sorted(m for m in {EXTRAS!r} if m in sys.modules)
print(json.dumps({{"demo": code, "health": health, "page": page, "loaded": loaded}}))
"""
    assert _run(body, tmp_path) == {"demo": 0, "health": 200, "page": 200, "loaded": []}


def test_collecting_without_the_exchange_extra_says_what_to_install(tmp_path: Path) -> None:
    body = """
import json
from coinbt.collector.exchange_types import ExchangeConfig
from coinbt.errors import ConfigurationError
from coinbt.services.collect import collect
from coinbt.store import open_store
store = open_store("duckdb:///:memory:")
try:
    collect(store, ExchangeConfig(), mode="update")
except ConfigurationError as exc:
    print(json.dumps({"message": str(exc), "hint": exc.hint, "runs": len(store.ingest_runs())}))
"""
    found = _run(body, tmp_path)
    assert "needs 'ccxt'" in str(found["message"]) or "needs 'aiohttp'" in str(found["message"])
    assert found["hint"] == "install the exchange extra: pip install 'coinbt[exchange]'"
    assert found["runs"] == 0  # refused before the run started: nothing recorded
