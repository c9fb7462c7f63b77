"""CPU time per request, in process: ``/healthz``, a submission through the API, and a card page.

Run: ``python bench/profile_requests.py [-n 300] [--top 25] [--match REGEX] [--only healthz|submit|page]``,
e.g. ``--match '/app/|sqlalchemy' --only submit`` for the project's own functions and SQLAlchemy's.

Wall-clock throughput (bench/load.py) swings with whatever else runs on a shared machine; the CPU time one
request costs when requests come one at a time does not, so it is the figure to compare before and after a
change. The app runs from ``create_app`` on a temporary SQLite database with the built-in cards loaded, driven
by ``TestClient`` (the same middleware, dependencies and thread-pool hops as under uvicorn, minus the socket):

* ``healthz``: ``GET /healthz``, the floor;
* ``submit``: ``POST /api/v1/cards/{slug}/submissions`` with a learner's API token, cycling over the answer sets
  of bench/load.py (right; a reversed KL and the wrong option; commas; wrong numbers) and 20 seeds;
* ``page``: ``GET /cards/{slug}`` as a returning guest (the same cookie, so the guest's own variant).

Each scenario is warmed up, then timed (mean CPU ms and wall ms per request), then run again under cProfile,
whose top functions by cumulative time are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from load import SLUG, answer_sets

from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import User
from app.db.session import make_engine, make_sessionmaker
from app.domain.cards import generate
from app.main import create_app
from app.services.bank import load_cards
from app.services.catalog import get_card
from app.services.tokens import create_token

SEEDS = range(1_000, 1_020)


def prepare(directory: Path) -> tuple[Settings, str, list[str]]:
    """A migrated database with the bank loaded, one learner's API token, and the submission bodies."""
    url = f"sqlite:///{directory / 'profile.db'}"
    upgrade(url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        secret_key="profile-requests-signing-key",
        secret_key_file=directory / "secret_key",
        access_log=False,
        # Counted as in production, but high enough that one learner answering nonstop is never refused.
        rate_limit_submissions="1000000/minute",
    )
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            load_cards(session=session, path=settings.bank_dir)
            spec = get_card(session=session, slug=SLUG).spec
            # Nobody signs in with this account: a placeholder hash spares argon2's cost.
            user = User(email="learner@profile.example", password_hash="-", role="learner")
            session.add(user)
            session.commit()
            token = create_token(session=session, user=user, name="profile", scopes=["read", "submit"]).secret
    finally:
        engine.dispose()
    bodies = [
        json.dumps({"seed": seed, "answers": answers})
        for seed in SEEDS
        for answers in answer_sets(generate(spec, seed))
    ]
    return settings, token, bodies


def scenarios(client: TestClient, token: str, bodies: list[str]) -> dict[str, Callable[[int], None]]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def healthz(i: int) -> None:
        check(client.get("/healthz"), 200)

    def submit(i: int) -> None:
        check(client.post(f"/api/v1/cards/{SLUG}/submissions", content=bodies[i % len(bodies)], headers=headers), 201)

    def page(i: int) -> None:
        check(client.get(f"/cards/{SLUG}"), 200)

    return {"healthz": healthz, "submit": submit, "page": page}


def check(response: Any, status: int) -> None:
    if response.status_code != status:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")


def measure(run: Callable[[int], None], count: int) -> tuple[float, float]:
    """Mean CPU ms (every thread of the process) and wall ms per request."""
    for i in range(min(30, count)):
        run(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        run(i)
    return (time.process_time() - cpu) * 1000 / count, (time.perf_counter() - wall) * 1000 / count


def profile(settings: Settings, token: str, bodies: list[str], name: str, count: int, top: int, match: str) -> str:
    """The top functions by cumulative time, over every thread that served the requests.

    The app runs in the test client's event-loop thread and in anyio's worker threads, which cProfile does
    not follow: each thread started while the hook is set gets a profiler of its own, merged at the end. So
    the scenario runs on a fresh app and client, whose threads all start under the hook.
    """
    profilers: list[cProfile.Profile] = []

    def start(frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()

    main_profiler = cProfile.Profile()
    threading.setprofile(start)
    try:
        with TestClient(create_app(settings)) as client:
            run = scenarios(client, token, bodies)[name]
            run(0)  # the first request starts the worker threads and fills the caches
            for profiler in profilers:
                profiler.clear()
            main_profiler.enable()
            for i in range(count):
                run(i)
            main_profiler.disable()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]  # None removes the hook
    out = io.StringIO()
    stats = pstats.Stats(main_profiler, stream=out)
    for profiler in profilers:
        profiler.create_stats()
        if profiler.stats:  # type: ignore[attr-defined]  # set by create_stats; a thread that did nothing has none
            stats.add(profiler)
    stats.sort_stats("cumulative").print_stats(*([match] if match else []), top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=300, help="requests per scenario (default 300)")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile (0: no profiles)")
    parser.add_argument("--match", default="", help="only functions whose file:line(name) matches this regex")
    parser.add_argument("--only", choices=("healthz", "submit", "page"), action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings, token, bodies = prepare(Path(scratch))
        figures: dict[str, tuple[float, float]] = {}
        chosen = args.only or ["healthz", "submit", "page"]
        with TestClient(create_app(settings)) as client:
            runs = scenarios(client, token, bodies)
            for name in chosen:
                figures[name] = measure(runs[name], args.n)
        if args.top:
            # Profiled after the timings, so cProfile's own overhead stays out of them.
            for name in chosen:
                print(f"=== {name}: top {args.top} by cumulative time over {args.n} requests, all threads ===")
                print(profile(settings, token, bodies, name, args.n, args.top, args.match))
    print(f"{'scenario':<10}{'cpu ms/req':>12}{'wall ms/req':>13}")
    for name, (cpu, wall) in figures.items():
        print(f"{name:<10}{cpu:>12.2f}{wall:>13.2f}")


if __name__ == "__main__":
    main()
