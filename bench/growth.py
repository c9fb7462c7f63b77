"""How the instructor's and learner's reads grow with the submissions: p95 at 1,000, 100,000 and 1,000,000.

Run: `python bench/growth.py [--database sqlite|postgresql|both] [--requests N] [SIZES ...]`.

The seeding (`bench/analytics.py`'s bulk inserts; the tallies rebuilt after each load): the 16 built-in
cards, 20 decks of 4 of them, and 2,000 learners of varied ability, the same at every size: a course does
not gain students as it ages, it gains answers. Four submissions in five are made inside a deck with
numbered attempts, each with its part rows. The same three reads are timed at each size, through the real app
(an in-process ASGI client with an administrator's API token; the administrator is also learner 1, who has
1/2,000 of the submissions):

- the card list, `GET /api/v1/cards?limit=20`, with learner 1's best score on each card;
- a page of 50 learners of the first deck's gradebook, `GET /api/v1/decks/bench-deck-1/gradebook?limit=50`,
  from a random learner on (the cursor of a random page);
- the statistics of that deck's busiest card, `GET /api/v1/cards/<slug>/stats`.

p95 over `--requests` calls each (after a warm-up), in milliseconds. The machine these run on is shared,
so each call is timed in turn with the same call on a second database holding the smallest size: the ratio
of the two p95s is taken under the same load. The deck's statistics are timed too (median of 5,
informational: they scan the deck). PostgreSQL gets a scratch database, dropped at the end, and
a VACUUM ANALYZE after each seeding as autovacuum would do; SQLite a temporary file, not ANALYZEd (the app
never runs it). Figures go to
bench/results.json under "growth".
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics import Seeder, busiest_card, prepare
from bench_results import merge_results
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db.models import Learner, Submission
from app.db.session import make_sessionmaker
from app.main import create_app
from app.services.paging import encode_cursor
from app.services.tokens import create_token

ROOT = Path(__file__).resolve().parent.parent
LEARNERS = 2_000
DECKS = 20
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "tutor_bench_growth"


@dataclass
class FixedCourse(Seeder):
    """The analytics seeder with a fixed number of learners instead of one per twenty submissions."""

    learners: int = LEARNERS

    def _add_learners(self, connection: Any, wanted: int) -> None:
        super()._add_learners(connection, self.learners)


def _tally_migration() -> Any:
    """The migration that made the tallies: its trigger and backfill statements, loaded from its file."""
    path = next((ROOT / "migrations" / "versions").glob("*_running_tallies_covering_indexes.py"))
    spec = importlib.util.spec_from_file_location("tally_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bulk_load(seeder: Seeder, size: int) -> None:
    """Grow to ``size`` submissions as a bulk load would: the tally triggers set aside, the tallies then rebuilt
    in one grouped pass (the statements the migration runs on an existing database), the triggers put back."""
    migration = _tally_migration()
    dialect = seeder.engine.dialect.name
    with seeder.engine.begin() as connection:
        if dialect == "postgresql":
            connection.execute(text("ALTER TABLE submission DISABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE submission_part DISABLE TRIGGER USER"))
        else:
            for name in ("tally_submission_insert", "tally_part_insert"):
                connection.execute(text(f"DROP TRIGGER {name}"))
    seeder.grow_to(size)
    with seeder.engine.begin() as connection:
        for table in ("answer_tally", "part_tally", "card_learner", "card_tally"):
            connection.execute(text(f"DELETE FROM {table}"))
        for statement in migration.backfill_statements():
            connection.execute(text(statement))
        if dialect == "postgresql":
            connection.execute(text("ALTER TABLE submission ENABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE submission_part ENABLE TRIGGER USER"))
        else:
            for statement in migration.trigger_statements("sqlite"):
                if "_insert " in statement.split("\n")[0]:
                    connection.execute(text(statement))


@contextmanager
def database(kind: str, name: str) -> Iterator[str]:
    """A URL of an empty database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / f'{name}.db'}"
        return
    server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def settle(engine: Engine) -> None:
    """On PostgreSQL, what autovacuum does after a bulk load: statistics for the planner and the visibility map
    index-only scans rely on. SQLite is left as the app leaves it, without ANALYZE statistics."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


class Course:
    """A seeded database with the app in front of it, and the three reads to time."""

    def __init__(self, url: str) -> None:
        base, admin = prepare(url, decks=DECKS)
        self.seeder = FixedCourse(engine=base.engine, cards=base.cards, decks=base.decks)
        self.deck = self.seeder.decks[0]
        settings = Settings(_env_file=None, database_url=url, rate_limit_enabled=False, secret_key="bench-" + "x" * 40)
        self.app = create_app(settings)
        self.client = TestClient(self.app)
        self.factory = make_sessionmaker(self.seeder.engine)
        with self.factory() as session:
            self.user = session.merge(admin)
            secret = create_token(session=session, user=self.user, name="bench").secret
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.rng = random.Random(1)
        self.card_slug = ""

    def grow_to(self, size: int) -> tuple[float, int, int]:
        """Seconds to seed up to ``size``, the timed card's submissions and the timed deck's."""
        started = time.perf_counter()
        bulk_load(self.seeder, size)
        with self.seeder.engine.begin() as connection:
            # The administrator answers as learner 1, so the card list carries real best scores.
            connection.execute(update(Learner).where(Learner.id == 1).values(user_id=self.user.id))
        settle(self.seeder.engine)
        seconds = time.perf_counter() - started
        with self.factory() as session:
            self.card_slug, on_card = busiest_card(session, self.deck)
            in_deck = session.scalar(
                select(func.count()).select_from(Submission).where(Submission.deck_id == self.deck.deck_id)
            )
        return seconds, on_card, in_deck or 0

    def path(self, read: str) -> str:
        if read == "card_list":
            return "/api/v1/cards?limit=20"
        if read == "gradebook_page":
            cursor = encode_cursor([self.rng.randrange(0, LEARNERS - 50)])
            return f"/api/v1/decks/{self.deck.slug}/gradebook?limit=50&cursor={cursor}"
        if read == "card_stats":
            return f"/api/v1/cards/{self.card_slug}/stats"
        return f"/api/v1/decks/{self.deck.slug}/stats"

    def call(self, read: str) -> float:
        """Milliseconds of one GET; it must answer 200."""
        path = self.path(read)
        start = time.perf_counter()
        response = self.client.get(path, headers=self.headers)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return elapsed

    def close(self) -> None:
        self.client.close()
        self.app.state.engine.dispose()
        self.seeder.engine.dispose()


def interleaved(course: Course, baseline: Course, read: str, requests: int) -> tuple[list[float], list[float]]:
    """``requests`` timings of ``read`` on each course, taken in turns so both see the same machine load."""
    mine: list[float] = []
    theirs: list[float] = []
    for index in range(requests + 3):
        first, second = (course, baseline) if index % 2 else (baseline, course)
        a, b = first.call(read), second.call(read)
        if index >= 3:  # a few to warm the caches up
            mine.append(a if first is course else b)
            theirs.append(b if first is course else a)
    return mine, theirs


READS = ("card_list", "gradebook_page", "card_stats")


def run(kind: str, sizes: list[int], requests: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with database(kind, BENCH_DATABASE) as url, database(kind, BENCH_DATABASE + "_baseline") as baseline_url:
        course, baseline = Course(url), Course(baseline_url)
        baseline.grow_to(sizes[0])
        print(f"\n{kind}: {LEARNERS:,} learners, {DECKS} decks of 4 of the 16 cards; p95 in ms over {requests} calls,")
        print(f"each beside the same call on a {sizes[0]:,}-submission copy (in brackets), taken in turns")
        print(
            f"{'submissions':>12}{'seed s':>8}{'card subs':>11}{'deck subs':>11}"
            f"{'card list':>18}{'gradebook page':>18}{'card stats':>18}{'deck stats':>12}"
        )
        for size in sizes:
            seeded, on_card, in_deck = course.grow_to(size)
            row: dict[str, Any] = {
                "submissions": size,
                "seed_s": round(seeded, 1),
                "card_submissions": on_card,
                "deck_submissions": in_deck,
            }
            for read in READS:
                mine, theirs = interleaved(course, baseline, read, requests)
                row[f"{read}_p95_ms"] = round(p95(mine), 2)
                row[f"{read}_baseline_p95_ms"] = round(p95(theirs), 2)
                row[f"{read}_ratio"] = round(p95(mine) / p95(theirs), 2)
            row["deck_stats_median_ms"] = round(statistics.median(course.call("deck_stats") for _ in range(5)), 1)
            row["load_average_1min"] = round(os.getloadavg()[0], 1)  # the machine's load while this row was timed
            rows.append(row)
            cells = "".join(f"{row[f'{read}_p95_ms']:>9.1f} ({row[f'{read}_baseline_p95_ms']:>5.1f})" for read in READS)
            print(f"{size:>12,}{seeded:>8.1f}{on_card:>11,}{in_deck:>11,}{cells}{row['deck_stats_median_ms']:>12.1f}")
        course.close()
        baseline.close()
    ratios = {read: rows[-1][f"{read}_ratio"] for read in READS}
    print(f"p95 at {sizes[-1]:,} / p95 at {sizes[0]:,}, same rounds: {ratios}")
    return {"rows": rows, "ratio_largest_to_smallest": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=200, help="calls per read and size (default 200)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results.json")
    parser.add_argument("sizes", nargs="*", type=lambda s: int(s.replace("_", "")))
    args = parser.parse_args()
    sizes = sorted(args.sizes or [1_000, 100_000, 1_000_000])
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    found = {
        "seeding": f"{LEARNERS} learners, {DECKS} decks of 4 of the 16 built-in cards, 4 in 5 submissions in a deck",
        "requests": args.requests,
        **{kind: run(kind, sizes, args.requests) for kind in kinds},
    }
    if not args.no_save:
        merge_results("growth", found)


if __name__ == "__main__":
    main()
