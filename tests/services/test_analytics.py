"""Card and deck analytics, checked against figures computed here from a known set of submissions."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import literal, select, update
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import Card, Deck, Learner, User
from app.domain.cards import generate
from app.domain.divergence import kl
from app.services import analytics
from app.services.analytics import CardStats, PartStats, card_stats, deck_stats
from app.services.catalog import get_card
from app.services.deck_editing import create_deck
from app.services.decks import DeckInput, deck_seed
from app.services.errors import Forbidden, NotFound
from app.services.learners import guest_learner
from app.services.manual_grading import grade_part
from app.services.scores import deck_scores
from app.services.stat_formulas import Bucket, at_least_columns, from_thresholds, histogram, merged, pearson
from app.services.submissions import submit

P, QA = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
RIGHT_LOSS = f"{kl(P, QA):.4f}"
REVERSE = f"{kl(QA, P):.4f}"  # KL(QA‖P): the reverse KL
BITS = f"{kl(P, QA) / math.log(2):.4f}"  # the loss in bits
MISCONCEPTION = {REVERSE: "reverse_kl", BITS: "log_base_2"}
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Attempt:
    """One submission to two-students, as the test expects it graded."""

    learner: int
    loss_a: str
    better: str
    reasoning_grade: float | None = None  # None: left pending
    deck: bool = False

    @property
    def part_scores(self) -> dict[str, float | None]:
        return {
            "loss_a": 1.0 if self.loss_a == RIGHT_LOSS else 0.0,
            "better": 1.0 if self.better == "Student A" else 0.0,
            "reasoning": self.reasoning_grade,
        }

    @property
    def score(self) -> float:
        graded = [s for s in self.part_scores.values() if s is not None]
        return sum(graded) / len(graded)


CARD_ATTEMPTS = [
    Attempt(0, RIGHT_LOSS, "Student A", 1.0),
    Attempt(0, REVERSE, "Student A"),
    Attempt(1, REVERSE, "Student B", 0.5),
    Attempt(2, BITS, "Student A"),
    Attempt(3, REVERSE, "Student B"),
    Attempt(4, "0.5", "Student B", 0.0),
    Attempt(5, RIGHT_LOSS, "Student A"),
    Attempt(5, BITS, "Student B"),
    *(Attempt(6 + i, wrong, "Student A", 0.25) for i, wrong in enumerate(["0.4", "0.3", "0.2", "0.1"])),
]


def expected_bucket(score: float) -> int:
    return sum(score >= k / 10 for k in range(1, 10))


def expected_histogram(scores: list[float]) -> list[int]:
    counts = Counter(expected_bucket(s) for s in scores)
    return [counts.get(k, 0) for k in range(10)]


def correlation(pairs: list[tuple[float, float]]) -> float | None:
    if len(pairs) < 2 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return None
    return statistics.correlation([x for x, _ in pairs], [y for _, y in pairs])


@dataclass
class World:
    instructor: User
    other_instructor: User
    admin: User
    learners: list[Learner] = field(default_factory=list)


@pytest.fixture
def world(session: Session, loaded: Path) -> World:
    instructor = make_user(session, "instructor", "ins@example.org")
    session.execute(update(Card).where(Card.slug == "two-students").values(owner_id=instructor.id))
    session.commit()
    learners = [guest_learner(session=session, guest_id=f"guest-{i:02d}") for i in range(12)]
    return World(
        instructor=instructor,
        other_instructor=make_user(session, "instructor", "other@example.org"),
        admin=make_user(session, "admin", "admin@example.org"),
        learners=learners,
    )


def submit_attempt(session: Session, world: World, attempt: Attempt, minutes: int, deck: str | None = None) -> None:
    learner = world.learners[attempt.learner]
    seed = 0 if deck is None else deck_seed(learner_id=learner.id, deck_slug=deck, card_slug="two-students")
    view = submit(
        session=session,
        learner_id=learner.id,
        slug="two-students",
        seed=seed,
        answers={"loss_a": attempt.loss_a, "better": attempt.better, "reasoning": "Because."},
        deck_slug=deck,
        now=START + timedelta(minutes=minutes),
    )
    if attempt.reasoning_grade is not None:
        grade_part(
            session=session,
            grader=world.admin,
            submission_id=view.id,
            part_key="reasoning",
            score=attempt.reasoning_grade,
        )


def part(stats: CardStats, key: str) -> PartStats:
    return next(p for p in stats.parts if p.key == key)


# --- card -----------------------------------------------------------------------------------------------


def test_card_stats_match_figures_computed_from_the_submissions(session: Session, world: World) -> None:
    for minutes, attempt in enumerate(CARD_ATTEMPTS):
        submit_attempt(session, world, attempt, minutes)
    submit(session=session, learner_id=world.learners[0].id, slug="drawn-kl", seed=3, answers={"kl": "0.1"})

    stats = card_stats(session=session, viewer=world.instructor, slug="two-students")

    scores = [a.score for a in CARD_ATTEMPTS]
    assert (stats.slug, stats.title) == ("two-students", "Two students")
    assert stats.submissions == len(CARD_ATTEMPTS)
    assert stats.learners == len({a.learner for a in CARD_ATTEMPTS})
    assert stats.mean_score is not None and math.isclose(stats.mean_score, statistics.fmean(scores))
    assert stats.pending == sum(a.reasoning_grade is None for a in CARD_ATTEMPTS)
    assert [b.count for b in stats.histogram] == expected_histogram(scores)
    assert [(b.low, b.high) for b in stats.histogram] == [(k / 10, (k + 1) / 10) for k in range(10)]

    assert [(p.key, p.kind, p.label) for p in stats.parts] == [
        ("loss_a", "numeric", "KL(P‖Q_A) in nats"),
        ("better", "choice", "Which student mimics the teacher better?"),
        ("reasoning", "text", "Why?"),
    ]
    for key in ("loss_a", "better", "reasoning"):
        found = part(stats, key)
        graded = [(x, a.score) for a in CARD_ATTEMPTS if (x := a.part_scores[key]) is not None]
        xs = [x for x, _ in graded]
        assert found.answered == len(CARD_ATTEMPTS)
        assert found.graded == len(graded)
        assert found.correct == sum(x == 1.0 for x in xs)
        assert found.facility is not None and math.isclose(found.facility, statistics.fmean(xs))
        assert found.discrimination_n == len(graded)
        expected_r = correlation(graded)
        assert expected_r is not None and found.discrimination is not None
        assert math.isclose(found.discrimination, expected_r, abs_tol=1e-9)


def test_card_stats_rank_the_wrong_answers_with_the_mistake_each_matched(session: Session, world: World) -> None:
    for minutes, attempt in enumerate(CARD_ATTEMPTS):
        submit_attempt(session, world, attempt, minutes)
    stats = card_stats(session=session, viewer=world.instructor, slug="two-students")

    wrong = Counter(a.loss_a for a in CARD_ATTEMPTS if a.loss_a != RIGHT_LOSS)
    ranked = sorted(wrong.items(), key=lambda item: (-item[1], item[0]))[:5]
    assert [(w.answer, w.misconception, w.count) for w in part(stats, "loss_a").wrong_answers] == [
        (answer, MISCONCEPTION.get(answer), n) for answer, n in ranked
    ]
    assert ranked[0] == (REVERSE, 3) and ranked[1] == (BITS, 2)  # the data really has a cut-off at five
    assert len(wrong) > 5
    choices = Counter(a.better for a in CARD_ATTEMPTS if a.better != "Student A")
    assert [(w.answer, w.misconception, w.count) for w in part(stats, "better").wrong_answers] == [
        ("Student B", None, choices["Student B"])
    ]
    assert part(stats, "reasoning").wrong_answers == ()  # written answers are not tallied


def test_a_card_without_submissions_has_empty_figures(session: Session, world: World) -> None:
    stats = card_stats(session=session, viewer=world.instructor, slug="two-students")
    assert (stats.submissions, stats.learners, stats.mean_score, stats.pending) == (0, 0, None, 0)
    assert [b.count for b in stats.histogram] == [0] * 10
    assert all(p.facility is None and p.discrimination is None and p.answered == 0 for p in stats.parts)


def test_card_stats_are_for_the_owner_and_administrators(session: Session, world: World) -> None:
    assert card_stats(session=session, viewer=world.admin, slug="two-students").slug == "two-students"
    pupil = make_user(session, "learner", "pupil@example.org")
    for outsider in (world.other_instructor, pupil):
        with pytest.raises(Forbidden):
            card_stats(session=session, viewer=outsider, slug="two-students")
    with pytest.raises(Forbidden):  # built in: nobody's but the administrators'
        card_stats(session=session, viewer=world.instructor, slug="drawn-kl")
    with pytest.raises(NotFound):
        card_stats(session=session, viewer=world.admin, slug="no-such-card")


# --- deck -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("through_cards", [True, False], ids=["through-cards", "through-deck"])
def test_deck_stats_use_the_deck_totals_after_penalties(
    session: Session, world: World, through_cards: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both ways of reaching the deck's rows give the same figures; the data decides which one runs.
    monkeypatch.setattr(analytics, "_through_cards", lambda *args: through_cards)
    deck = create_deck(
        session=session,
        user=world.instructor,
        data=DeckInput(
            slug="week-1",
            title="Week 1",
            cards=("two-students", "drawn-kl"),
            penalty_per_attempt=0.2,
            status="published",
        ),
    )
    learners = world.learners
    drawn = get_card(session=session, slug="drawn-kl").spec

    def kl_attempt(index: int, right: bool, minutes: int) -> None:
        seed = deck_seed(learner_id=learners[index].id, deck_slug="week-1", card_slug="drawn-kl")
        value = generate(drawn, seed).answers["kl"]
        assert isinstance(value, float)
        answer = f"{value:.6f}" if right else "5"
        submit(
            session=session,
            learner_id=learners[index].id,
            slug="drawn-kl",
            seed=seed,
            answers={"kl": answer},
            deck_slug="week-1",
            now=START + timedelta(minutes=minutes),
        )

    deck_attempts = [
        Attempt(0, RIGHT_LOSS, "Student B"),  # 0.5
        Attempt(0, RIGHT_LOSS, "Student A"),  # 1.0, attempt 2: 0.8 after the penalty
        Attempt(1, REVERSE, "Student B"),  # 0
        Attempt(2, RIGHT_LOSS, "Student A", 0.5),  # 2.5 / 3
    ]
    for minutes, attempt in enumerate(deck_attempts):
        submit_attempt(session, world, attempt, minutes, deck="week-1")
    kl_attempt(0, True, 10)  # 1
    kl_attempt(1, False, 11)  # 0
    kl_attempt(3, False, 12)  # 0
    kl_attempt(3, True, 13)  # 1, attempt 2: 0.8
    submit_attempt(session, world, Attempt(0, REVERSE, "Student B"), 20)  # practice: not in the deck

    stats = deck_stats(session=session, viewer=world.instructor, slug="week-1")

    two_students = {0: max(0.5, 1.0 - 0.2), 1: 0.0, 2: 2.5 / 3}
    drawn_kl = {0: 1.0, 1: 0.0, 3: max(0.0, 1.0 - 0.2)}
    totals = {i: (two_students.get(i, 0.0) + drawn_kl.get(i, 0.0)) / 2 for i in (0, 1, 2, 3)}
    by_id = {score.learner_id: score.score for score in deck_scores(session=session, deck=deck)}
    assert by_id == pytest.approx({learners[i].id: total for i, total in totals.items()})

    scores = [a.score for a in deck_attempts] + [1.0, 0.0, 0.0, 1.0]
    assert (stats.slug, stats.submissions, stats.learners) == ("week-1", 8, 4)
    assert stats.mean_score is not None and math.isclose(stats.mean_score, statistics.fmean(scores))
    assert stats.mean_total is not None and math.isclose(stats.mean_total, statistics.fmean(totals.values()))
    assert stats.pending == sum(a.reasoning_grade is None for a in deck_attempts)
    assert [b.count for b in stats.histogram] == expected_histogram(scores)
    assert [b.count for b in stats.total_histogram] == expected_histogram(list(totals.values()))

    first, second = stats.cards
    assert (first.slug, first.submissions, first.learners) == ("two-students", 4, 3)
    assert (second.slug, second.submissions, second.learners) == ("drawn-kl", 4, 3)
    assert [b.count for b in first.histogram] == expected_histogram([a.score for a in deck_attempts])

    # Discrimination: the part's score on each attempt against the learner's deck total.
    loss_a = [(1.0, totals[0]), (1.0, totals[0]), (0.0, totals[1]), (1.0, totals[2])]
    found = part(first, "loss_a")
    assert found.discrimination_n == 4
    assert found.discrimination is not None
    assert math.isclose(found.discrimination, correlation(loss_a) or math.nan, abs_tol=1e-9)
    better = [(0.0, totals[0]), (1.0, totals[0]), (0.0, totals[1]), (1.0, totals[2])]
    assert math.isclose(part(first, "better").discrimination or math.nan, correlation(better) or math.nan)
    assert part(first, "reasoning").discrimination_n == 1 and part(first, "reasoning").discrimination is None
    kl_pairs = [(1.0, totals[0]), (0.0, totals[1]), (0.0, totals[3]), (1.0, totals[3])]
    assert math.isclose(part(second, "kl").discrimination or math.nan, correlation(kl_pairs) or math.nan)
    assert math.isclose(part(second, "kl").facility or math.nan, 2 / 4)
    assert [(w.answer, w.count) for w in part(second, "kl").wrong_answers] == [("5", 2)]
    # The practice submission's reverse KL is not the deck's: one in the deck.
    assert [(w.answer, w.misconception, w.count) for w in part(first, "loss_a").wrong_answers] == [
        (REVERSE, "reverse_kl", 1)
    ]


def test_deck_stats_are_for_the_owner_and_administrators(session: Session, world: World) -> None:
    create_deck(
        session=session,
        user=world.instructor,
        data=DeckInput(slug="week-1", title="Week 1", cards=("two-students",), status="draft"),
    )
    stats = deck_stats(session=session, viewer=world.admin, slug="week-1")
    assert (stats.submissions, stats.learners, stats.mean_total) == (0, 0, None)
    assert [card.slug for card in stats.cards] == ["two-students"]
    with pytest.raises(Forbidden):
        deck_stats(session=session, viewer=world.other_instructor, slug="week-1")
    with pytest.raises(NotFound):
        deck_stats(session=session, viewer=world.admin, slug="no-such-deck")


# --- the small formulas ---------------------------------------------------------------------------------


def test_pearson_from_sums_matches_the_textbook_formula() -> None:
    xs, ys = [0.0, 1.0, 1.0, 0.5, 0.25], [0.1, 0.9, 0.7, 0.4, 0.5]
    sums = (sum(xs), sum(ys), sum(x * y for x, y in zip(xs, ys, strict=True)), sum(x * x for x in xs))
    r = pearson(len(xs), *sums, sum(y * y for y in ys))
    assert r is not None and math.isclose(r, statistics.correlation(xs, ys))
    assert pearson(1, 1.0, 1.0, 1.0, 1.0, 1.0) is None  # one pair
    assert pearson(3, 3.0, 1.5, 1.5, 3.0, 0.83) is None  # x never varies


def test_histogram_thresholds_in_sql_put_each_score_in_its_bucket(session: Session) -> None:
    scores = [0.0, 0.0999, 0.1, 0.3, 0.7, 0.9, 0.95, 1.0, 2 / 3, 1 / 3]
    for score in scores:
        at_least = session.execute(select(*at_least_columns(literal(score)))).one()
        buckets = from_thresholds(1, at_least)
        assert [b.count for b in buckets] == [int(k == expected_bucket(score)) for k in range(10)], score
    assert histogram([(9, 2), (0, 1)]) == tuple(Bucket(k / 10, (k + 1) / 10, {9: 2, 0: 1}.get(k, 0)) for k in range(10))
    merged_counts = [b.count for b in merged([histogram([(1, 2)]), histogram([(1, 1), (5, 4)])])]
    assert merged_counts == [0, 3, 0, 0, 0, 4, 0, 0, 0, 0]


def test_a_deck_is_read_through_its_cards_when_it_holds_a_good_share_of_their_submissions(
    session: Session, world: World
) -> None:
    create_deck(
        session=session,
        user=world.instructor,
        data=DeckInput(slug="week-1", title="Week 1", cards=("two-students",), status="published"),
    )
    deck = session.scalars(select(Deck).where(Deck.slug == "week-1")).one()
    card_ids = [session.scalars(select(Card.id).where(Card.slug == "two-students")).one()]
    assert analytics._through_cards(session, deck, card_ids) is False  # no submissions at all
    for minutes in range(4):
        submit_attempt(session, world, Attempt(minutes, RIGHT_LOSS, "Student A"), minutes)  # practice
    submit_attempt(session, world, Attempt(5, RIGHT_LOSS, "Student A"), 10, deck="week-1")
    assert analytics._through_cards(session, deck, card_ids) is False  # 1 of 5 in the deck
    submit_attempt(session, world, Attempt(6, RIGHT_LOSS, "Student A"), 11, deck="week-1")
    assert analytics._through_cards(session, deck, card_ids) is True  # 2 of 6
