"""How long `tutor regrade` takes: a million stored submissions re-graded after a tolerance change.

Run: `python bench/regrade.py [--database sqlite|postgresql|both] [SIZE]` (default: both, 1,000,000).

The seeding: the built-in card compare-two-students (drawn: two numeric parts and a choice), 2,000 learners
each with their own variant (one seed per learner, as in a deck), and SIZE submissions in bulk. Each numeric
answer is the learner's expected value off by a relative error drawn from a fixed spread (most exact or within
0.4%, 4 in 100 off by 1.5%, 6 in 100 far off), so the tolerance change moves the few near the margin. The
stored results are graded by the domain grader (once per variant, part and answer, then reused). Then a
second version of the card widens the tolerance from rtol 0.01 to 0.02 and `regrade_card` runs: the time of
the whole run (wall clock, split into the checking and the writing stage, and the CPU time of this process,
which includes SQLite's work but not PostgreSQL's), with the counts it reports. Figures go to
bench/results.json under "regrade".
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from bench_results import merge_results
from growth import bulk_load, database, settle
from sqlalchemy import Engine, insert, select, text

from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import Card, CardVersion, Learner, Submission, SubmissionPart
from app.db.session import make_engine, make_sessionmaker
from app.domain.cards import CardSpec, Variant, generate
from app.domain.grading import grade
from app.services.bank import load_cards
from app.services.catalog import stored_spec
from app.services.regrade import regrade_card

SLUG = "compare-two-students"
LEARNERS = 2_000
CHUNK = 20_000
# Relative errors of the numeric answers and how often each is made.
ERRORS = ((0.0, 74), (0.004, 8), (-0.004, 8), (0.015, 2), (-0.015, 2), (0.2, 6))
CHOICES = ("Student A", "Student B")


class RegradeSeeder:
    """Bulk submissions to one card, graded once per (variant, errors, choice) by the domain grader."""

    def __init__(self, engine: Engine, card_id: int, version_id: int, spec: CardSpec) -> None:
        self.engine, self.card_id, self.version_id, self.spec = engine, card_id, version_id, spec
        self.rng = random.Random(0)
        self.errors = [error for error, weight in ERRORS for _ in range(weight)]
        self.seeds = [1_000 + 7_919 * learner for learner in range(1, LEARNERS + 1)]
        self.parts: dict[tuple[int, str, str], tuple[dict[str, Any], tuple[Any, ...]]] = {}
        self.variants: dict[int, Variant] = {}
        self.submissions = 0
        with engine.begin() as connection:
            connection.execute(
                insert(Learner), [{"id": i, "guest_id": f"regrade-guest-{i:06d}"} for i in range(1, LEARNERS + 1)]
            )

    def _part(self, seed: int, key: str, answer: str) -> tuple[dict[str, Any], tuple[Any, ...]]:
        """One part graded by the domain (once per variant and answer): its stored result and its row."""
        cache_key = (seed, key, answer)
        found = self.parts.get(cache_key)
        if found is None:
            variant = self.variants.get(seed) or self.variants.setdefault(seed, generate(self.spec, seed))
            alone = dataclasses.replace(self.spec, parts=tuple(p for p in self.spec.parts if p.key == key))
            part = grade(alone, variant, {key: answer}).parts[0]
            code = part.misconception.code if part.misconception else None
            found = self.parts[cache_key] = (part.to_dict(), (key, part.kind, answer, part.score, part.correct, code))
        return found

    def _graded(self, seed: int, error_a: float, error_b: float, choice: str) -> Any:
        variant = self.variants.get(seed) or self.variants.setdefault(seed, generate(self.spec, seed))
        answers = {
            "loss_a": f"{float(variant.answers['loss_a']) * (1 + error_a):.6g}",  # type: ignore[arg-type]
            "loss_b": f"{float(variant.answers['loss_b']) * (1 + error_b):.6g}",  # type: ignore[arg-type]
            "better": choice,
        }
        graded = [self._part(seed, key, answers[key]) for key in ("loss_a", "loss_b", "better")]
        score = sum(result["score"] for result, _ in graded) / len(graded)
        results = {"score": score, "pending": False, "parts": [result for result, _ in graded]}
        return answers, results, [row for _, row in graded]

    def grow_to(self, total: int) -> None:
        while self.submissions < total:
            count = min(CHUNK, total - self.submissions)
            submissions, part_rows = [], []
            for number in range(self.submissions + 1, self.submissions + count + 1):
                learner = self.rng.randrange(LEARNERS)
                seed = self.seeds[learner]
                answers, results, parts = self._graded(
                    seed, self.rng.choice(self.errors), self.rng.choice(self.errors), self.rng.choice(CHOICES)
                )
                submissions.append(
                    {
                        "id": number,
                        "learner_id": learner + 1,
                        "card_id": self.card_id,
                        "card_version_id": self.version_id,
                        "seed": seed,
                        "answers": answers,
                        "results": results,
                        "score": results["score"],
                        "pending": False,
                    }
                )
                part_rows += [
                    {
                        "submission_id": number,
                        "card_id": self.card_id,
                        "part_key": key,
                        "kind": kind,
                        "answer": answer,
                        "score": score,
                        "correct": correct,
                        "misconception": misconception,
                        "pending": False,
                    }
                    for key, kind, answer, score, correct, misconception in parts
                ]
            with self.engine.begin() as connection:
                connection.execute(insert(Submission), submissions)
                connection.execute(insert(SubmissionPart), part_rows)
            self.submissions += count


def run(kind: str, size: int) -> dict[str, Any]:
    with database(kind, "tutor_bench_regrade") as url:
        upgrade(url)
        engine = make_engine(url)
        bank = Settings(_env_file=None).bank_dir
        factory = make_sessionmaker(engine)
        with factory() as session:
            load_cards(session=session, path=bank / f"{SLUG}.yaml")
            card_id, version_id, spec = session.execute(
                select(Card.id, CardVersion.id, CardVersion.spec)
                .join(CardVersion, CardVersion.id == Card.current_version_id)
                .where(Card.slug == SLUG)
            ).one()
        seeder = RegradeSeeder(engine, card_id, version_id, stored_spec(spec))
        started = time.perf_counter()
        bulk_load(seeder, size)  # type: ignore[arg-type]
        settle(engine)
        seeded = time.perf_counter() - started

        # The new version: every numeric part's rtol doubled.
        data = yaml.safe_load((bank / f"{SLUG}.yaml").read_text(encoding="utf-8"))
        for part in data["parts"]:
            if part["kind"] == "numeric":
                part["tolerance"] = {**part.get("tolerance", {}), "rtol": 0.02}
        with tempfile.TemporaryDirectory() as folder, factory() as session:
            changed = Path(folder) / f"{SLUG}.yaml"
            changed.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
            load_cards(session=session, path=changed)

        with factory() as session:
            stages: dict[str, float] = {}  # when each stage last reported progress

            def progress(stage: str, done: int, total: int) -> None:
                stages[stage] = time.perf_counter()

            started, cpu = time.perf_counter(), time.process_time()
            report = regrade_card(session=session, slug=SLUG, progress=progress)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        checked = stages.get("checking", started) - started
        written = seconds - checked
        with engine.connect() as connection:
            stored = connection.scalar(text("SELECT COUNT(*) FROM submission WHERE score = 1.0"))
        engine.dispose()
    figures = {
        "submissions": report.submissions,
        "numeric_answers": report.parts,
        "now_right": report.now_right,
        "now_wrong": report.now_wrong,
        "changed": report.changed,
        "seconds": round(seconds, 1),
        "checking_s": round(checked, 1),
        "writing_s": round(written, 1),
        "ms_per_changed_submission": round(1000 * written / max(report.changed, 1), 3),
        "cpu_seconds_in_process": round(cpu, 1),  # SQLite's work included; PostgreSQL's server is apart
        "submissions_per_s": round(report.submissions / seconds),
        "seed_s": round(seeded, 1),
        "full_marks_after": stored,
        "load_average_1min": round(os.getloadavg()[0], 1),
    }
    print(
        f"{kind:<11}{report.submissions:>11,}{report.parts:>11,}{report.now_right:>10,}{report.now_wrong:>10,}"
        f"{report.changed:>10,}{seconds:>10.1f}{checked:>8.1f}{written:>8.1f}{cpu:>8.1f}{seeded:>8.1f}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results.json")
    parser.add_argument("size", nargs="?", default=1_000_000, type=lambda s: int(s.replace("_", "")))
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"{'database':<11}{'subs':>11}{'numeric':>11}{'→ right':>10}{'→ wrong':>10}{'changed':>10}"
        f"{'regrade s':>10}{'check s':>8}{'write s':>8}{'cpu s':>8}{'seed s':>8}"
    )
    found = {
        "card": SLUG,
        "change": "rtol 0.01 → 0.02 on both numeric parts",
        **{kind: run(kind, args.size) for kind in kinds},
    }
    if not args.no_save:
        merge_results("regrade", found)


if __name__ == "__main__":
    main()
