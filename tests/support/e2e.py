"""Helpers of the browser tests: a real ``coinbt serve`` over fixture data, and Debian's
Chromium driven by Playwright.

The browser is the system one (``/usr/bin/chromium``, Debian's ``chromium`` package):
Playwright's own browser download does not work on machines without general network
access. When it is missing the tests fail (never skip) with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "real"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "install Debian's Chromium: `apt-get install -y chromium` (as root), and the Python "
    "driver: `pip install playwright` (Playwright's own browser download is not used); "
    "or point COINBT_CHROMIUM at a Chromium binary"
)
SERVER_START_SECONDS = 60.0


def artifacts_dir() -> Path:
    """Where screenshots go: ``$COINBT_E2E_ARTIFACTS``, else ``build/e2e-artifacts``."""
    path = Path(os.environ.get("COINBT_E2E_ARTIFACTS") or ROOT / "build" / "e2e-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str:
    """The system Chromium, or a test failure saying how to install it."""
    candidates = [os.environ.get("COINBT_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    pytest.fail(f"Chromium is not installed, so the browser tests cannot run: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def coinbt(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``coinbt`` command of this interpreter to completion."""
    command = [sys.executable, "-m", "coinbt.cli", *args]
    return subprocess.run(
        command, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@dataclass
class Server:
    """A running ``coinbt serve`` over an imported copy of the real fixtures."""

    url: str
    process: subprocess.Popen[str]
    log: Path

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


def server_env(workdir: Path) -> dict[str, str]:
    """The environment of the server: its own DuckDB file and an in-process cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINBT_")}
    env["COINBT_DATABASE_URL"] = f"duckdb:///{workdir / 'e2e.db'}"
    env["COINBT_CACHE_URL"] = "memory://"
    return env


@contextmanager
def running_server(workdir: Path) -> Iterator[Server]:
    """Import the fixtures, start the server on a free loopback port, stop it after."""
    env = server_env(workdir)
    done = coinbt("import", *sorted(str(p) for p in FIXTURES.glob("*.csv")), env=env, cwd=workdir)
    assert done.returncode == 0, f"coinbt import failed:\n{done.stdout}\n{done.stderr}"
    port = free_port()
    log = workdir / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coinbt.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"coinbt serve exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/api/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"coinbt serve did not answer in {SERVER_START_SECONDS} s:\n{server.log.read_text()}"
    )


@contextmanager
def browser() -> Iterator[Any]:
    """Headless Chromium (the system one) under Playwright."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the playwright package is missing: {INSTALL_HINT}")
    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chrome
        finally:
            chrome.close()


class PageWatch:
    """What a page did wrong: script errors, console errors, requests leaving the host."""

    def __init__(self, page: Any, origin: str) -> None:
        self.errors: list[str] = []
        self.remote: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on("request", lambda req: self._request(req.url, origin))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _request(self, url: str, origin: str) -> None:
        if not url.startswith((origin, "data:", "blob:", "about:")):
            self.remote.append(url)
