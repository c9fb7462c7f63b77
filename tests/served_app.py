"""The real server in a process of its own, for the tests that kill or stop it: ``tutor serve`` on a free port.

::

    url = fresh_database(tmp_path, request)              # SQLite file, or a new PostgreSQL database
    token = prepare(url, monkeypatch, capsys)           # migrated, cards loaded, a learner's API token
    with ServedApp(url, tmp_path) as server:            # started and answering /healthz
        httpx.post(server.url("/api/v1/..."), ...)
        server.process.kill()                           # or .terminate(): what the test is about

``fresh_database`` skips the PostgreSQL variant without TEST_DATABASE_URL (fails when E2E_REQUIRED=1) and drops
the database it made afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.cli import main

POSTGRES_ENV = "TEST_DATABASE_URL"
SECRET_KEY = "served-app-tests"
EMAIL = "learner@example.org"
STARTUP_SECONDS = 20.0  # generous: two cores shared with other test processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of ``kind`` ("sqlite" or "postgresql") that only this test uses."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'tutor.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        reason = f"{POSTGRES_ENV} is not set: the PostgreSQL variant of this test is skipped"
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(f"{reason}, and E2E_REQUIRED=1 makes it required")
        pytest.skip(reason)
    name = f"served_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prepare(url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """Migrate, load the built-in cards and make a learner with an API token, as an operator would; the token."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    assert main(["migrate"]) == 0
    assert main(["cards", "load"]) == 0
    assert main(["users", "create", "--email", EMAIL, "--role", "learner", "--password", "a long enough password"]) == 0
    capsys.readouterr()
    assert main(["tokens", "create", "--user", EMAIL, "--name", "crash test"]) == 0
    return capsys.readouterr().out.splitlines()[0].strip()


class ServedApp:
    """``tutor serve`` on ``port`` (a free one by default), with the outbox worker and rate limits off."""

    def __init__(self, database_url: str, workdir: Path, *, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            "OUTBOX_INTERVAL": "0",
            "RATE_LIMIT_ENABLED": "false",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> ServedApp:
        tutor = Path(sys.executable).with_name("tutor")
        self._log = (self.workdir / f"server-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [str(tutor), "serve", "--port", str(self.port), "--no-access-log"],
            cwd=self.workdir,  # no .env of the checkout is read
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log()}")
                try:
                    if client.get(self.url("/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"the server did not answer within {STARTUP_SECONDS} s:\n{self.log()}")

    def log(self) -> str:
        if self._log is not None:
            self._log.flush()
        path = self.workdir / f"server-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Ends the process if it is still running (SIGTERM, then SIGKILL) and closes its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
