"""Two app servers on one PostgreSQL database and one Redis behave as one.

Two uvicorn processes serving the app, each on a free port, share a fresh PostgreSQL database (made, migrated and loaded
with the built-in cards here, dropped afterwards), the same SECRET_KEY, and one Redis under a key prefix of this
run's own. What one server did, the other sees: a submission, a signed-in session, and the count of a rate
limit. Needs TEST_DATABASE_URL and a Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379/0); without them the
test skips, saying why, unless E2E_REQUIRED=1 makes that a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from redis_support import redis_prefix, redis_url
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import make_engine, make_sessionmaker
from app.services.accounts import create_user
from app.services.bank import load_cards

SLUG = "evaluate-student-models"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
EMAIL, PASSWORD = "ada@example.org", "a long enough test password"
LEARNER_LIMIT = 4  # submissions per learner per minute on both servers together
STARTUP_SECONDS = 20.0
UVICORN_OPTIONS = ("--host", "127.0.0.1", "--no-access-log")


def required(reason: str) -> None:
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(f"{reason}, and E2E_REQUIRED=1 makes this test required")
    pytest.skip(reason)


@pytest.fixture
def shared_database() -> Iterator[str]:
    """A new, empty PostgreSQL database beside TEST_DATABASE_URL's, dropped (connections and all) at the end."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        required("TEST_DATABASE_URL does not name a PostgreSQL database: several servers need one to share")
    name = f"scale_out_{secrets.token_hex(4)}"
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(env: dict[str, str], home: Path, stack: ExitStack) -> tuple[str, subprocess.Popen[bytes], Path]:
    """Start the app under uvicorn (as ``tutor serve`` does) on a free port; stopped when ``stack`` closes."""
    port = free_port()
    log = home / f"server-{port}.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                *UVICORN_OPTIONS,
                "--port",
                str(port),
            ],
            env=env,
            cwd=home,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def stop() -> None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    stack.callback(stop)
    return f"http://127.0.0.1:{port}", server, log


def wait_until_healthy(servers: list[tuple[str, subprocess.Popen[bytes], Path]]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    for url, server, log in servers:
        while True:
            if server.poll() is not None:
                pytest.fail(f"the server at {url} exited with {server.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server at {url} did not answer within {STARTUP_SECONDS:.0f} s:\n{log.read_text()}")
            time.sleep(0.05)


def csrf(client: httpx.Client, server: str) -> dict[str, str]:
    return {"X-CSRF-Token": client.get(f"{server}/api/v1/session").json()["csrf_token"]}


def submit(client: httpx.Client, server: str) -> httpx.Response:
    body = {"seed": 0, "answers": ANSWERS}
    return client.post(f"{server}/api/v1/cards/{SLUG}/submissions", json=body, headers=csrf(client, server))


def prepare(database_url: str) -> None:
    """Migrate, load the one card the test answers (the whole bank takes seconds), and make a learner's account."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            load_cards(session=session, path=Settings(_env_file=None).bank_dir / f"{SLUG}.yaml")
            create_user(session=session, email=EMAIL, password=PASSWORD, role="learner")
    finally:
        engine.dispose()


def test_two_servers_share_submissions_sessions_and_rate_limits(shared_database: str, tmp_path: Path) -> None:
    redis = redis_url()
    with redis_prefix(redis) as prefix, ExitStack() as stack:
        env = {
            **os.environ,
            "DATABASE_URL": shared_database,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "SECRET_KEY_FILE": str(tmp_path / "unused_secret_key"),
            "REDIS_URL": redis,
            "REDIS_KEY_PREFIX": prefix,
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_SUBMISSIONS": f"{LEARNER_LIMIT}/minute",
            "RATE_LIMIT_SUBMISSIONS_IP": "1000/minute",
            "OUTBOX_INTERVAL": "0",
        }
        # The servers start (seconds of imports) while the database is made ready: they touch it only on requests.
        servers = [serve(env, tmp_path, stack) for _ in range(2)]
        prepare(shared_database)
        wait_until_healthy(servers)
        one, two = servers[0][0], servers[1][0]
        # Cookies are kept per host, not per port: one client is one browser talking to both servers.
        guest = stack.enter_context(httpx.Client(timeout=10))
        browser = stack.enter_context(httpx.Client(timeout=10))

        # A guest's submission made through one server is listed through the other.
        made = submit(guest, one)
        assert made.status_code == 201, made.text
        listed = guest.get(f"{two}/api/v1/submissions")
        assert [entry["id"] for entry in listed.json()] == [made.json()["id"]]

        # Signed in on one server, the same session cookie is a signed-in user on the other.
        page = browser.get(f"{one}/signin").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signin = browser.post(f"{one}/signin", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        assert signin.status_code == 303, signin.text
        assert browser.get(f"{two}/api/v1/session").json()["user"]["email"] == EMAIL

        # The learner's limit counts across both: N submissions split over them, then the next is refused on either.
        statuses = [submit(browser, (one, two)[i % 2]).status_code for i in range(LEARNER_LIMIT)]
        refused = [submit(browser, server) for server in (one, two)]
        assert statuses == [201] * LEARNER_LIMIT
        assert [response.status_code for response in refused] == [429, 429]
        assert all(1 <= int(response.headers["retry-after"]) <= 60 for response in refused)
        assert "too many submissions from this learner" in refused[1].json()["detail"][0]["message"]
        assert submit(guest, two).status_code == 201  # another learner still gets through
