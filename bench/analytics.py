"""How fast the analytics are: a card's statistics, a deck's statistics and its gradebook, as submissions grow.

Run: `python bench/analytics.py [--decks N] [SIZES ...]` (default: 20 decks; 1000 100000 1000000 submissions).
A temporary SQLite database is migrated and given the built-in cards and N decks of four of them, then filled
with bulk inserts up to each size in turn: learners of varied ability (one per twenty submissions), four
submissions in five inside a deck with numbered attempts, each with its part rows (wrong numbers drawn from the
usual mistakes, written parts half graded). The first deck and the busiest card are timed, the best of three
calls, in seconds. `--decks 1` puts four in five of all submissions in one deck: the worst case for a deck.
Seeding a million submissions takes a few minutes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import Card, CardVersion, Deck, DeckCard, Learner, Submission, SubmissionPart, User
from app.db.session import make_engine, make_sessionmaker
from app.services.analytics import card_stats, deck_stats
from app.services.bank import load_cards
from app.services.catalog import stored_spec
from app.services.gradebook import deck_gradebook

CHUNK = 20_000
CARDS_PER_DECK = 4
START = datetime(2026, 9, 1, tzinfo=UTC)
TEXT_ANSWER = "Because its divergence from the teacher is lower."
# Wrong numbers as learners give them, with the mistake each would be recognised as.
WRONG_NUMBERS = (("0.0291", "reverse_kl"), ("0.0387", "log_base_2"), ("-0.0268", "sign_flipped"), ("0.5", None))

PartOutcome = tuple[str, str, str, float | None, bool | None, str | None]  # key, kind, answer, score, correct, code


@dataclass(frozen=True)
class BenchCard:
    card_id: int
    slug: str
    version_id: int
    parts: tuple[tuple[str, str], ...]  # (key, kind)


@dataclass(frozen=True)
class BenchDeck:
    deck_id: int
    slug: str
    cards: tuple[BenchCard, ...]


@dataclass
class Seeder:
    """Adds submissions (and learners, one per twenty submissions) to the database, in bulk."""

    engine: Engine
    cards: list[BenchCard]
    decks: list[BenchDeck]
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    abilities: list[tuple[int, float]] = field(default_factory=list)  # (learner id, chance of a right part)
    attempts: dict[tuple[int, int, int], int] = field(default_factory=dict)
    submissions: int = 0

    def _add_learners(self, connection: Any, wanted: int) -> None:
        first = len(self.abilities)
        if wanted <= first:
            return
        ids = range(first + 1, wanted + 1)
        connection.execute(insert(Learner), [{"id": i, "guest_id": f"bench-guest-{i:08d}"} for i in ids])
        self.abilities += [(i, 0.2 + 0.7 * self.rng.random()) for i in ids]

    def _part(self, key: str, kind: str, ability: float) -> PartOutcome:
        right = self.rng.random() < ability
        if kind == "text":
            if self.rng.random() < 0.5:
                return key, kind, TEXT_ANSWER, None, None, None
            score = round(min(1.0, max(0.0, ability + self.rng.uniform(-0.3, 0.3))), 1)
            return key, kind, TEXT_ANSWER, score, score == 1.0, None
        if kind == "numeric":
            if right:
                return key, kind, "0.0268", 1.0, True, None
            answer, misconception = self.rng.choice(WRONG_NUMBERS)
            return key, kind, answer, 0.0, False, misconception
        return (key, kind, "Option one", 1.0, True, None) if right else (key, kind, "Option two", 0.0, False, None)

    def _submission(self, number: int) -> tuple[dict[str, Any], list[PartOutcome]]:
        learner_id, ability = self.rng.choice(self.abilities)
        deck: BenchDeck | None = self.rng.choice(self.decks) if self.rng.random() < 0.8 else None
        card = self.rng.choice(deck.cards if deck is not None else self.cards)
        attempt = 1
        if deck is not None:
            attempt = self.attempts.get((deck.deck_id, learner_id, card.card_id), 0) + 1
            self.attempts[(deck.deck_id, learner_id, card.card_id)] = attempt
        parts = [self._part(key, kind, ability) for key, kind in card.parts]
        scores = [score for _, _, _, score, _, _ in parts if score is not None]
        score = sum(scores) / len(scores) if scores else 0.0
        pending = any(score is None for _, _, _, score, _, _ in parts)
        row = {
            "id": number,
            "learner_id": learner_id,
            "card_id": card.card_id,
            "card_version_id": card.version_id,
            "deck_id": None if deck is None else deck.deck_id,
            "attempt": attempt,
            "seed": number,
            "answers": {key: answer for key, _, answer, _, _, _ in parts},
            "results": {"score": score, "pending": pending, "parts": []},
            "score": score,
            "pending": pending,
            "created_at": START + timedelta(seconds=number),
        }
        return row, parts

    def grow_to(self, total: int) -> None:
        while self.submissions < total:
            count = min(CHUNK, total - self.submissions)
            with self.engine.begin() as connection:
                self._add_learners(connection, max(10, (self.submissions + count) // 20))
                submissions, part_rows = [], []
                for number in range(self.submissions + 1, self.submissions + count + 1):
                    row, parts = self._submission(number)
                    submissions.append(row)
                    part_rows += [
                        {
                            "submission_id": number,
                            "card_id": row["card_id"],
                            "part_key": key,
                            "kind": kind,
                            "answer": answer,
                            "score": score,
                            "correct": correct,
                            "misconception": misconception,
                            "pending": score is None,
                        }
                        for key, kind, answer, score, correct, misconception in parts
                    ]
                connection.execute(insert(Submission), submissions)
                connection.execute(insert(SubmissionPart), part_rows)
            self.submissions += count


def prepare(url: str, *, decks: int) -> tuple[Seeder, User]:
    """The migrated database with the built-in cards, ``decks`` decks of four of them, and an administrator."""
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        load_cards(session=session, path=Settings(_env_file=None).bank_dir)
        admin = User(email="admin@example.org", password_hash="not-a-hash", role="admin")
        session.add(admin)
        rows = session.execute(
            select(Card.id, Card.slug, CardVersion.id, CardVersion.spec)
            .join(CardVersion, CardVersion.id == Card.current_version_id)
            .order_by(Card.slug)
        )
        cards = [
            BenchCard(
                card_id=card_id,
                slug=slug,
                version_id=version_id,
                parts=tuple((part.key, part.kind) for part in stored_spec(spec).parts),
            )
            for card_id, slug, version_id, spec in rows
        ]
        made = []
        for index in range(decks):
            deck = Deck(slug=f"bench-deck-{index + 1}", title=f"Deck {index + 1}", penalty_per_attempt=0.1)
            session.add(deck)
            session.flush()
            chosen = tuple(cards[(index * CARDS_PER_DECK + k) % len(cards)] for k in range(CARDS_PER_DECK))
            for position, card in enumerate(chosen, start=1):
                session.add(DeckCard(deck_id=deck.id, position=position, card_id=card.card_id))
            made.append(BenchDeck(deck_id=deck.id, slug=deck.slug, cards=chosen))
        session.commit()
        session.expunge(admin)
        return Seeder(engine=engine, cards=cards, decks=made), admin


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def busiest_card(session: Session, deck: BenchDeck) -> tuple[str, int]:
    """The first deck's card with the most submissions, and how many it has."""
    rows = session.execute(select(Submission.card_id, func.count()).group_by(Submission.card_id))
    counts: dict[int, int] = {card_id: count for card_id, count in rows}
    card = max(deck.cards, key=lambda c: counts.get(c.card_id, 0))
    return card.slug, counts.get(card.card_id, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--decks", type=int, default=20, help="decks the submissions are spread over")
    parser.add_argument("sizes", nargs="*", type=lambda s: int(s.replace("_", "")))
    args = parser.parse_args()
    sizes = sorted(args.sizes or [1_000, 100_000, 1_000_000])
    with tempfile.TemporaryDirectory() as folder:
        seeder, admin = prepare(f"sqlite:///{Path(folder) / 'bench.db'}", decks=max(1, args.decks))
        factory = make_sessionmaker(seeder.engine)
        deck = seeder.decks[0]
        print(f"{len(seeder.decks)} deck(s) of {CARDS_PER_DECK} cards; timing {deck.slug} and its busiest card")
        print(
            f"{'submissions':>12}{'part rows':>11}{'learners':>10}{'seed s':>8}{'card subs':>11}{'card s':>8}"
            f"{'deck subs':>11}{'deck s':>8}{'gradebook s':>13}"
        )
        for size in sizes:
            started = time.perf_counter()
            seeder.grow_to(size)
            seeded = time.perf_counter() - started
            with factory() as session:
                parts = session.scalar(select(func.max(SubmissionPart.id))) or 0
                in_deck = (
                    session.scalar(
                        select(func.count()).select_from(Submission).where(Submission.deck_id == deck.deck_id)
                    )
                    or 0
                )
                card_slug, on_card = busiest_card(session, deck)

                def timed(fn: Callable[..., object], slug: str, s: Session = session) -> float:
                    return best_of(lambda: fn(session=s, viewer=admin, slug=slug))

                card_s = timed(card_stats, card_slug)
                deck_s = timed(deck_stats, deck.slug)
                book_s = timed(deck_gradebook, deck.slug)
            print(
                f"{size:>12,}{parts:>11,}{len(seeder.abilities):>10,}{seeded:>8.1f}{on_card:>11,}{card_s:>8.3f}"
                f"{in_deck:>11,}{deck_s:>8.3f}{book_s:>13.3f}"
            )
        seeder.engine.dispose()


if __name__ == "__main__":
    main()
