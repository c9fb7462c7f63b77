"""Many concurrent requests against a small connection pool complete instead of stalling until the pool timeout.

A request keeps its database connection between the thread-pool hops of its dependencies and its route. With
more threads than connections, threads waiting for a connection could hold every thread the connection holders
need to finish: nothing moved until the pool timeout failed the waiters. Here 50 requests, more than the 40
threads of the default thread pool, share a pool of 2 connections and no overflow.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from accounts_support import SECRET_KEY, MakeUser
from event_loops import run_in_own_loop
from fastapi import FastAPI

from app.config import Settings
from app.services.tokens import create_token

SLUG = "evaluate-student-models"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
CONCURRENT = 50
POOL_TIMEOUT = 8.0  # a stall shows as failed requests after this long


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The web tests' settings with a pool of 2 connections, no overflow, and a short pool timeout."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SECRET_KEY,
        secret_key_file=tmp_path / "secret_key",
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=POOL_TIMEOUT,
        access_log=False,
    )


async def _all_at_once(app: FastAPI, requests: list[tuple[str, str, dict[str, str], object]]) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        responses = await asyncio.gather(
            *(client.request(method, url, headers=headers, json=body) for method, url, headers, body in requests)
        )
    return [response.status_code for response in responses]


def test_fifty_concurrent_requests_share_two_connections_without_stalling(app: FastAPI, make_user: MakeUser) -> None:
    with app.state.sessionmaker() as session:
        secrets = [create_token(session=session, user=make_user("learner"), name="load").secret for _ in range(5)]
    requests: list[tuple[str, str, dict[str, str], object]] = []
    for i in range(CONCURRENT):
        headers = {"Authorization": f"Bearer {secrets[i % len(secrets)]}"}
        if i % 2:
            requests.append(("POST", f"/api/v1/cards/{SLUG}/submissions", headers, {"seed": 0, "answers": ANSWERS}))
        else:
            requests.append(("GET", f"/api/v1/cards/{SLUG}", headers, None))
    started = time.perf_counter()
    statuses = run_in_own_loop(lambda: _all_at_once(app, requests))
    elapsed = time.perf_counter() - started
    assert statuses == [201 if i % 2 else 200 for i in range(CONCURRENT)]
    assert elapsed < POOL_TIMEOUT  # nothing waited out the pool timeout
