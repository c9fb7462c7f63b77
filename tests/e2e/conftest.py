"""The browser tests' world: the real app served by uvicorn on a free port, and a headless Chromium.

The server runs as a separate process exactly as ``make run`` starts it (``tutor migrate``, ``tutor cards
load``, ``tutor serve``), on a temporary SQLite database. Chromium is found at ``CHROMIUM_PATH`` or
/usr/bin/chromium; without one the tests skip, unless ``E2E_REQUIRED=1`` makes a missing browser a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_SECONDS = 30.0


def chromium_path() -> Path:
    """The browser to drive, or a skip (a failure when E2E_REQUIRED=1) saying why there is none."""
    configured = os.environ.get("CHROMIUM_PATH")
    path = Path(configured or "/usr/bin/chromium")
    if path.is_file() and os.access(path, os.X_OK):
        return path
    source = f"CHROMIUM_PATH={configured}" if configured else "/usr/bin/chromium (set CHROMIUM_PATH to use another)"
    reason = f"no Chromium found at {source}: the browser tests need one"
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(f"{reason}, and E2E_REQUIRED=1 makes them required")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tutor(*args: str, env: dict[str, str], cwd: Path) -> None:
    """Run a ``tutor`` command with this interpreter, failing the tests with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.fail(f"tutor {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode} before answering:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz within {STARTUP_SECONDS:.0f} s:\n{log.read_text()}")


@dataclass(frozen=True)
class LiveEnvironment:
    """Where the live server runs and the environment it runs with, for ``tutor`` commands on its database."""

    home: Path
    env: dict[str, str]
    port: int


@pytest.fixture(scope="session")
def live_environment(tmp_path_factory: pytest.TempPathFactory) -> LiveEnvironment:
    """The live server's folder and environment (its DATABASE_URL, SECRET_KEY, port)."""
    chromium_path()  # no browser, no point in preparing a server
    home = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{home / 'tutor.db'}",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SECRET_KEY_FILE": str(home / "secret_key"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    return LiveEnvironment(home=home, env=env, port=port)


@pytest.fixture(scope="session")
def live_tutor(live_environment: LiveEnvironment) -> Callable[..., None]:
    """``live_tutor("users", "create", ...)`` runs a ``tutor`` command on the live server's database."""

    def run(*args: str) -> None:
        tutor(*args, env=live_environment.env, cwd=live_environment.home)

    return run


@pytest.fixture(scope="session")
def live_server(live_environment: LiveEnvironment) -> Iterator[str]:
    """The base URL of the app, migrated and loaded with the built-in cards, served until the run ends."""
    home, env, port = live_environment.home, live_environment.env, live_environment.port
    tutor("migrate", env=env, cwd=home)
    tutor("cards", "load", env=env, cwd=home)
    log = home / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    """A fresh browser profile: a new guest with no cookies."""
    fresh = browser.new_context(base_url=live_server)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go for a look by eye: E2E_SCREENSHOTS if set, else a temporary folder (never the repo)."""
    configured = os.environ.get("E2E_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
