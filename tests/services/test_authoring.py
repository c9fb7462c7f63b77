"""Authoring: versions on every changed save, statuses, permissions, history and diff, preview, seed reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from users_support import make_user

import app.services.authoring as authoring
from app.db.models import Card, CardVersion, Learner, Submission, User
from app.domain.cards import CardSpec, generate, parse_spec
from app.services.catalog import list_cards
from app.services.errors import NotFound, PermissionDenied
from app.services.spec_yaml import InvalidSpec, dump_yaml
from app.services.submissions import get_submission, list_submissions, submit


@pytest.fixture
def instructor(session: Session) -> User:
    return make_user(session, "instructor", "ada@example.org")


@pytest.fixture
def other_instructor(session: Session) -> User:
    return make_user(session, "instructor", "grace@example.org")


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, "admin", "root@example.org")


@pytest.fixture
def learner_user(session: Session) -> User:
    return make_user(session, "learner", "lin@example.org")


@pytest.fixture
def card_yaml(fixed_card: dict[str, Any]) -> Any:
    """``card_yaml(title="...")``: the fixed test card as YAML, with some fields changed."""

    def write(**changes: Any) -> str:
        return dump_yaml({**fixed_card, **changes})

    return write


def versions_of(session: Session, slug: str) -> list[int]:
    card_id = session.scalar(select(Card.id).where(Card.slug == slug))
    return list(session.scalars(select(CardVersion.number).where(CardVersion.card_id == card_id).order_by("number")))


def test_a_new_card_is_a_draft_at_version_one_owned_by_its_author(
    session: Session, instructor: User, card_yaml: Any
) -> None:
    card = authoring.create_card(session=session, user=instructor, source=card_yaml())

    assert (card.slug, card.status, card.version, card.owner_id) == ("two-students", "draft", 1, instructor.id)
    assert card.owner_email == "ada@example.org"
    assert card.editable
    version = session.scalars(select(CardVersion).where(CardVersion.id == card.version_id)).one()
    assert version.author_id == instructor.id
    assert not [c for c in list_cards(session=session, learner_id=None) if c.slug == "two-students"]


def test_the_round_trip_keeps_old_submissions_on_their_version(
    session: Session, instructor: User, learner: Learner, card_yaml: Any
) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())
    authoring.set_status(session=session, user=instructor, slug="two-students", status="published")
    first = submit(
        session=session,
        learner_id=learner.id,
        slug="two-students",
        seed=0,
        answers={"loss_a": "0.0268", "better": "Student A"},
    )

    saved = authoring.update_card(
        session=session, user=instructor, slug="two-students", source=card_yaml(title="Two students, revised")
    )

    assert saved.new_version
    assert saved.card.version == 2
    assert saved.card.title == "Two students, revised"
    assert versions_of(session, "two-students") == [1, 2]
    stored = session.get(Submission, first.id)
    assert stored is not None
    assert session.get(CardVersion, stored.card_version_id).number == 1  # type: ignore[union-attr]
    shown = get_submission(session=session, submission_id=first.id, learner_id=learner.id)
    assert (shown.version, shown.title, shown.score) == (1, "Two students", first.score)
    second = submit(
        session=session,
        learner_id=learner.id,
        slug="two-students",
        seed=0,
        answers={"loss_a": "0.0268", "better": "Student A"},
    )
    assert (second.version, second.title) == (2, "Two students, revised")


def test_saving_the_same_spec_makes_no_version(
    session: Session, instructor: User, card_yaml: Any, fixed_card: dict[str, Any]
) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())

    # Written differently (other key order) but the same spec.
    text = dump_yaml(dict(reversed(list(fixed_card.items()))))
    saved = authoring.update_card(session=session, user=instructor, slug="two-students", source=text)

    assert not saved.new_version
    assert versions_of(session, "two-students") == [1]


def test_the_slug_cannot_change(session: Session, instructor: User, card_yaml: Any) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())

    with pytest.raises(InvalidSpec) as caught:
        authoring.update_card(session=session, user=instructor, slug="two-students", source=card_yaml(slug="renamed"))

    [problem] = caught.value.problems
    assert (problem.field, problem.line) == ("slug", 1)
    assert "cannot change" in problem.message
    assert versions_of(session, "two-students") == [1]


def test_a_taken_slug_is_refused_on_its_line(
    session: Session, instructor: User, other_instructor: User, card_yaml: Any
) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())

    with pytest.raises(InvalidSpec) as caught:
        authoring.create_card(session=session, user=other_instructor, source="# a copy of my own\n" + card_yaml())

    [problem] = caught.value.problems
    assert (problem.field, problem.line) == ("slug", 2)
    assert "already the slug of another card" in problem.message
    assert session.scalar(select(func.count()).select_from(Card)) == 1


def test_an_invalid_spec_saves_nothing(session: Session, instructor: User, card_yaml: Any) -> None:
    broken = card_yaml().replace("answer: kl(P, QA)", "answer: kl(P, QZ)")

    with pytest.raises(InvalidSpec) as caught:
        authoring.create_card(session=session, user=instructor, source=broken)

    assert [p.field for p in caught.value.problems] == ["parts[0].answer"]
    assert session.scalar(select(func.count()).select_from(Card)) == 0
    assert session.scalar(select(func.count()).select_from(CardVersion)) == 0


def test_another_instructor_cannot_edit(
    session: Session, instructor: User, other_instructor: User, card_yaml: Any
) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())

    for attempt in (
        lambda: authoring.update_card(
            session=session, user=other_instructor, slug="two-students", source=card_yaml(title="X")
        ),
        lambda: authoring.set_status(session=session, user=other_instructor, slug="two-students", status="published"),
        lambda: authoring.get_authored_card(session=session, user=other_instructor, slug="two-students"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert versions_of(session, "two-students") == [1]


def test_a_published_card_is_visible_but_not_editable_for_other_instructors(
    session: Session, instructor: User, other_instructor: User, card_yaml: Any
) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())
    authoring.set_status(session=session, user=instructor, slug="two-students", status="published")

    seen = authoring.get_authored_card(session=session, user=other_instructor, slug="two-students")

    assert not seen.editable
    with pytest.raises(PermissionDenied, match="only its owner"):
        authoring.update_card(session=session, user=other_instructor, slug="two-students", source=card_yaml(title="X"))


def test_learners_can_do_nothing(session: Session, instructor: User, learner_user: User, card_yaml: Any) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())
    authoring.set_status(session=session, user=instructor, slug="two-students", status="published")

    for attempt in (
        lambda: authoring.create_card(session=session, user=learner_user, source=card_yaml(slug="mine")),
        lambda: authoring.update_card(session=session, user=learner_user, slug="two-students", source=card_yaml()),
        lambda: authoring.set_status(session=session, user=learner_user, slug="two-students", status="archived"),
        lambda: authoring.list_instructor_cards(session=session, user=learner_user),
        lambda: authoring.preview(session=session, user=learner_user, slug="two-students"),
        lambda: authoring.history(session=session, user=learner_user, slug="two-students"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()


def test_built_in_cards_are_for_admins_to_edit(
    session: Session, loaded: Path, instructor: User, admin: User, card_yaml: Any
) -> None:
    with pytest.raises(PermissionDenied, match="built-in"):
        authoring.update_card(session=session, user=instructor, slug="two-students", source=card_yaml(title="Mine"))

    saved = authoring.update_card(session=session, user=admin, slug="two-students", source=card_yaml(title="Revised"))

    assert saved.new_version
    assert (saved.card.version, saved.card.builtin, saved.card.owner_id) == (2, True, None)
    history = authoring.history(session=session, user=admin, slug="two-students")
    assert [(v.number, v.author_email, v.current) for v in history] == [
        (2, "root@example.org", True),
        (1, None, False),
    ]


def test_an_unknown_card_is_not_found(session: Session, instructor: User, card_yaml: Any) -> None:
    with pytest.raises(NotFound):
        authoring.update_card(session=session, user=instructor, slug="nothing-here", source=card_yaml())
    with pytest.raises(NotFound):
        authoring.preview(session=session, user=instructor, slug="nothing-here")


def test_publish_unpublish_and_archive(session: Session, instructor: User, learner: Learner, card_yaml: Any) -> None:
    def listed() -> bool:
        return any(c.slug == "two-students" for c in list_cards(session=session, learner_id=learner.id))

    authoring.create_card(session=session, user=instructor, source=card_yaml())
    assert (
        authoring.set_status(session=session, user=instructor, slug="two-students", status="published").status
        == "published"
    )
    assert listed()
    answered = submit(
        session=session,
        learner_id=learner.id,
        slug="two-students",
        seed=0,
        answers={"loss_a": "0.0268", "better": "Student A"},
    )

    assert authoring.set_status(session=session, user=instructor, slug="two-students", status="draft").status == "draft"
    assert not listed()
    authoring.set_status(session=session, user=instructor, slug="two-students", status="archived")

    assert not listed()
    assert get_submission(session=session, submission_id=answered.id, learner_id=learner.id).title == "Two students"
    assert [s.id for s in list_submissions(session=session, learner_id=learner.id)] == [answered.id]
    assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_the_list_shows_own_cards_and_searches(
    session: Session, instructor: User, other_instructor: User, admin: User, card_yaml: Any
) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())
    authoring.create_card(
        session=session,
        user=instructor,
        source=card_yaml(slug="entropy-basics", title="Entropy basics", tags=["entropy"]),
    )
    authoring.create_card(
        session=session, user=other_instructor, source=card_yaml(slug="theirs", title="Their students")
    )
    authoring.set_status(session=session, user=instructor, slug="entropy-basics", status="archived")

    def slugs(user: User, **filters: Any) -> list[str]:
        return [c.slug for c in authoring.list_instructor_cards(session=session, user=user, **filters)]

    assert slugs(instructor) == ["entropy-basics", "two-students"]
    assert slugs(admin) == ["entropy-basics", "theirs", "two-students"]
    assert slugs(instructor, search="STUDENT") == ["two-students"]
    assert slugs(admin, search="students") == ["theirs", "two-students"]
    assert slugs(instructor, tag="entropy") == ["entropy-basics"]
    assert slugs(instructor, tag="distillation") == ["two-students"]
    assert slugs(instructor, tag="entro") == []
    assert slugs(instructor, status="archived") == ["entropy-basics"]
    assert slugs(instructor, search="100%_") == []
    assert slugs(admin, limit=1) == ["entropy-basics"]


def test_history_and_diff(session: Session, instructor: User, card_yaml: Any) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())
    authoring.update_card(session=session, user=instructor, slug="two-students", source=card_yaml(title="Revised"))

    history = authoring.history(session=session, user=instructor, slug="two-students")
    diff = authoring.diff_versions(session=session, user=instructor, slug="two-students", old=1, new=2)

    assert [(v.number, v.author_email, v.current) for v in history] == [
        (2, "ada@example.org", True),
        (1, "ada@example.org", False),
    ]
    assert diff.lines[:2] == ("--- version 1", "+++ version 2")
    assert "-title: Two students" in diff.lines
    assert "+title: Revised" in diff.lines
    assert [line for line in diff.lines if line[:1] in "+-" and line[:3] not in ("---", "+++")] == [
        "-title: Two students",
        "+title: Revised",
    ]
    assert authoring.diff_versions(session=session, user=instructor, slug="two-students", old=2, new=2).lines == ()
    with pytest.raises(NotFound):
        authoring.diff_versions(session=session, user=instructor, slug="two-students", old=1, new=3)


def test_preview_has_the_answers(session: Session, instructor: User, drawn_card: dict[str, Any]) -> None:
    authoring.create_card(session=session, user=instructor, source=dump_yaml(drawn_card))

    shown = authoring.preview(session=session, user=instructor, slug="drawn-kl", seed=7)

    p, q = shown.variant.params["P"], shown.variant.params["Q"]
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)
    assert shown.variant.seed == 7
    assert shown.variant.answers["kl"] == pytest.approx(expected)
    assert shown.card.status == "draft"


def test_preview_of_an_older_version(session: Session, instructor: User, card_yaml: Any) -> None:
    authoring.create_card(session=session, user=instructor, source=card_yaml())
    authoring.update_card(session=session, user=instructor, slug="two-students", source=card_yaml(title="Revised"))

    old = authoring.preview(session=session, user=instructor, slug="two-students", version=1)

    assert (old.version, old.spec.title) == (1, "Two students")


# --- seed reports -----------------------------------------------------------------------------------


def drawn(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": "seed-test",
        "title": "Seed test",
        "params": {"n": {"integer": [0, 3]}, "P": [0.5, 0.5]},
        "prompt": "n = {{ n }}",
        "parts": [{"key": "x", "kind": "numeric", "label": "x", "answer": "n"}],
    }
    data.update(changes)
    return data


def drawn_values(spec: CardSpec, name: str) -> list[Any]:
    return [generate(spec, seed).params[name] for seed in range(200)]


def test_the_seed_report_finds_a_seed_dependent_failure_and_counts_repeats() -> None:
    # 1 / (n - 2) fails exactly for the seeds that draw n = 2 (seed 0 must not, for the card to be valid).
    spec = parse_spec(drawn(parts=[{"key": "x", "kind": "numeric", "label": "x", "answer": "1 / (n - 2)"}]))
    n = drawn_values(spec.__class__(**{**spec.__dict__, "parts": parse_spec(drawn()).parts}), "n")
    failing = [seed for seed, value in enumerate(n) if value == 2]
    working = [value for value in n if value != 2]
    assert failing and failing[0] != 0

    report = authoring.test_seeds(spec, seeds=200)

    assert (report.drawn, report.seeds, report.ok) == (True, 200, False)
    assert sorted({issue.seed for issue in report.errors}) == failing
    assert {issue.field for issue in report.errors} == {"parts[0].answer"}
    assert report.generated == len(working)
    assert report.distinct == len(set(working)) == 3  # 0, 1 and 3: 197 of the variants repeat another
    assert len(report.repeats[0]) == max(working.count(value) for value in set(working))
    assert [len(group) for group in report.repeats] == sorted((working.count(v) for v in set(working)), reverse=True)


def test_a_sound_drawn_card_passes(drawn_card: dict[str, Any]) -> None:
    report = authoring.test_seeds(parse_spec(drawn_card))

    assert report.ok
    assert (report.seeds, report.generated) == (200, 200)
    assert report.distinct > 150
    assert not report.nonfinite and not report.constraint_failures


def test_a_fixed_card_is_tried_once(fixed_card: dict[str, Any]) -> None:
    report = authoring.test_seeds(parse_spec(fixed_card))

    assert (report.drawn, report.seeds, report.generated, report.distinct, report.repeats) == (False, 1, 1, 1, ())
    assert report.ok


def test_infinite_answers_are_reported() -> None:
    # Q has a zero where P does not for every draw with n = 0: KL(P‖Q) is infinite there.
    spec = parse_spec(
        drawn(
            params={"n": {"integer": [0, 1]}, "P": [0.5, 0.5]},
            parts=[{"key": "x", "kind": "numeric", "label": "x", "answer": "kl(P, [0.5 + n / 2, 0.5 - n / 2])"}],
        )
    )
    infinite = [seed for seed, n in enumerate(drawn_values(spec, "n")) if n == 1]

    report = authoring.test_seeds(spec)

    assert [issue.seed for issue in report.nonfinite] == infinite
    assert all("∞" in issue.message for issue in report.nonfinite)
    assert report.ok  # an infinite divergence can be what the card is about; its answer reads back as inf


def test_constraint_failures_are_reported() -> None:
    # n is drawn from 0..1 and the constraint wants 1: redrawing almost always finds it, but a seed whose
    # draws never give 1 would fail. A constraint on a value that can never hold fails for every seed.
    spec = parse_spec(drawn(params={"n": {"integer": [0, 1]}, "P": [0.5, 0.5]}, constraints=["n >= 1"]))
    impossible = spec.__class__(**{**spec.__dict__, "constraints": ("n > 5",)})

    report = authoring.test_seeds(impossible, seeds=5)

    assert authoring.test_seeds(spec).ok
    assert [issue.seed for issue in report.constraint_failures] == [0, 1, 2, 3, 4]
    assert all(issue.field == "constraints[0]" for issue in report.constraint_failures)
    assert report.generated == 0 and not report.ok


def test_the_card_seed_report_checks_permissions(
    session: Session, instructor: User, other_instructor: User, drawn_card: dict[str, Any]
) -> None:
    authoring.create_card(session=session, user=instructor, source=yaml.safe_dump(drawn_card))

    assert authoring.test_card_seeds(session=session, user=instructor, slug="drawn-kl", seeds=10).seeds == 10
    with pytest.raises(PermissionDenied):
        authoring.test_card_seeds(session=session, user=other_instructor, slug="drawn-kl")
