"""What the rate limits cost a request: switched off, counted in memory, and counted in Redis.

Run: `python bench/rate_limits.py [REQUESTS] [REDIS_URL]` (default 5,000 and redis://127.0.0.1:6379/0; without a
Redis answering, its row is left out). Prints microseconds, best of five rounds:

- ``count``: ``RateLimiter.hit`` with a submission's two checks (learner, then address): the counting alone;
- ``dependency``: the route dependency ``limit_submissions`` awaited on its own, for a returning guest;
- ``POST CPU``: the CPU time of a POST through FastAPI in-process (ASGI, no sockets) to a route that declares
  the dependency, ``without`` it, and the difference ``added``: what a submission pays in all.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from functools import partial

import httpx
import redis
from fastapi import Depends, FastAPI, Request

from app.config import Settings
from app.db.session import make_engine, make_sessionmaker
from app.services.rate_limits import SUBMISSIONS, SUBMISSIONS_IP, Check, RateLimiter
from app.web.auth import OptionalUserDep, SessionSigner
from app.web.db import RequestSessions
from app.web.guest import COOKIE_NAME, GuestSigner
from app.web.rate_limits import install_rate_limits, limit_submissions

ROUNDS = 5
# Far above what the benchmark sends, so every request is counted and let through (the usual case).
GUEST_SIGNER = GuestSigner("bench-signing-key")
ROOMY = {"rate_limit_submissions": "1000000/minute", "rate_limit_submissions_ip": "1000000/minute"}


def best(fn: Callable[[], object], count: int) -> float:
    """Microseconds per call of ``fn``, the best of ``ROUNDS`` rounds of ``count`` calls."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        times.append(time.perf_counter() - start)
    return min(times) / count * 1e6


def app_for(settings: Settings, *, limited: bool) -> FastAPI:
    """A bare app with the limiter installed and one POST route, with or without the dependency.

    The route asks who the caller is, as the submission routes do (a guest here: no query is made), so the
    dependency finds that answered and adds only its own work.
    """
    app = FastAPI()
    app.state.guest_signer = GUEST_SIGNER
    app.state.session_signer = SessionSigner("bench-signing-key")
    app.state.sessionmaker = make_sessionmaker(make_engine("sqlite://"))
    install_rate_limits(app, settings)
    app.add_middleware(RequestSessions)  # closes the session the route's caller lookup opens, as in the app
    dependencies = [Depends(limit_submissions)] if limited else []

    @app.post("/submit", dependencies=dependencies)
    async def submit(user: OptionalUserDep) -> dict[str, bool]:
        return {"guest": user is None}

    return app


async def route_cost(settings: Settings, count: int) -> tuple[float, float]:
    """CPU microseconds per POST without the dependency, and with it: rounds of the two interleaved, best of each.

    CPU time (of every thread of this process) rather than wall time: the machine's other work does not count,
    while the thread pool's work for the request does.
    """
    cookies = {COOKIE_NAME: GUEST_SIGNER.sign("bench-guest")}  # a returning guest: counted as a learner
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_for(settings, limited=limited), client=("10.0.0.1", 1234)),
            base_url="http://bench",
            cookies=cookies,
        )
        for limited in (False, True)
    ]
    best_times = [float("inf"), float("inf")]
    try:
        for client in clients:
            await client.post("/submit")  # warm up
        for _ in range(ROUNDS):
            for index, client in enumerate(clients):
                start = time.process_time()
                for _ in range(count):
                    await client.post("/submit")
                best_times[index] = min(best_times[index], time.process_time() - start)
    finally:
        for client in clients:
            await client.aclose()
    return best_times[0] / count * 1e6, best_times[1] / count * 1e6


async def dependency_cost(app: FastAPI, count: int) -> float:
    """Wall microseconds per call of the dependency itself, for a returning guest (a learner and an address)."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/submit",
        "headers": [(b"cookie", f"{COOKIE_NAME}={GUEST_SIGNER.sign('bench-guest')}".encode())],
        "client": ("10.0.0.1", 1234),
        "app": app,
        "state": {},
    }
    request = Request(scope)
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            await limit_submissions(request, None)
        times.append(time.perf_counter() - start)
    return min(times) / count * 1e6


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def clean(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    redis_url = sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/0"
    prefix = f"tutor-bench-{secrets.token_hex(4)}"
    configs = {
        "off": Settings(_env_file=None, rate_limit_enabled=False, **ROOMY),
        "memory": Settings(_env_file=None, **ROOMY),
    }
    if redis_answers(redis_url):
        configs["redis"] = Settings(_env_file=None, redis_url=redis_url, redis_key_prefix=prefix, **ROOMY)
    else:
        print(f"(no Redis answers at {redis_url}: its rows are left out)")

    print(f"{'limits':<8} {'count µs':>9} {'dependency µs':>14} {'POST CPU µs':>12} {'without':>8} {'added':>6}")
    try:
        for name, settings in configs.items():
            app = app_for(settings, limited=True)
            limiter: RateLimiter = app.state.rate_limiter
            policy = limiter.policy
            checks = (
                Check(SUBMISSIONS, policy.submissions, "guest:bench"),
                Check(SUBMISSIONS_IP, policy.submissions_ip, "10.0.0.1"),
            )
            counting = best(partial(limiter.hit, *checks), count)
            dependency = asyncio.run(dependency_cost(app, count))
            without, with_limits = asyncio.run(route_cost(settings, count // 2))
            print(
                f"{name:<8} {counting:>9.1f} {dependency:>14.1f} {with_limits:>12.0f} {without:>8.0f}"
                f" {with_limits - without:>6.0f}"
            )
    finally:
        if "redis" in configs:
            clean(redis_url, prefix)


if __name__ == "__main__":
    main()
