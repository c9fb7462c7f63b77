"""LMS scores queued by a batch of stored submissions: only for learners with a graded link to what they answered."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lti_platform import FakePlatform
from lti_services import DECK_SLUG, deck_of, launched
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.integrations import LtiPlatform, OutboxMessage
from app.db.models import utcnow
from app.services.accounts import learner_for_user
from app.services.catalog import get_card
from app.services.decks import deck_seed
from app.services.learners import guest_learner
from app.services.submission_store import GradedSubmission, store_submissions
from app.services.submissions import grade_submission, variant_for


def right(session: Session, learner_id: int, slug: str, seed: int) -> GradedSubmission:
    card = get_card(session=session, slug=slug)
    answers = {key: str(value) for key, value in variant_for(card.spec, seed).answers.items() if value is not None}
    return grade_submission(card=card, learner_id=learner_id, seed=seed, answers=answers, now=utcnow())


def lms_learner(session: Session, row: LtiPlatform, number: int, **launch: object) -> int:
    """The learner of an LMS user launched through link ``link-<number>``."""
    result = launched(
        session,
        row,
        subject=f"lms-user-{number}",
        email=f"learner-{number}@learners.example.edu",
        resource_link_id=f"link-{number}",
        **launch,
    )
    return learner_for_user(session=session, user=result.user).id


def scores(session: Session) -> list[tuple[str, str, float]]:
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "lti_score").order_by(OutboxMessage.id)
    )
    return [(m.target_url, m.payload["userId"], m.payload["scoreGiven"]) for m in messages]


def test_a_score_is_queued_only_for_a_learner_with_a_graded_link_to_the_card(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    linked = lms_learner(session, row, 42, custom={"card": "drawn-kl"}, lineitem_url=fake.lineitem_url(2))
    other_card = lms_learner(session, row, 43, custom={"card": "two-students"}, lineitem_url=fake.lineitem_url(3))
    ungraded = lms_learner(session, row, 44, custom={"card": "drawn-kl"})  # a link without a line item
    guest = guest_learner(session=session, guest_id="guest-in-a-batch").id
    batch = [
        right(session, guest, "drawn-kl", 11),
        right(session, other_card, "drawn-kl", 11),
        right(session, linked, "drawn-kl", 11),
        right(session, ungraded, "drawn-kl", 11),
        right(session, linked, "two-students", 0),
    ]

    store_submissions(session=session, graded=batch)
    session.commit()

    assert scores(session) == [(fake.lineitem_url(2) + "/scores", "lms-user-42", 100.0)]


def test_each_linked_submission_of_a_batch_queues_its_own_score(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    one = lms_learner(session, row, 42, custom={"card": "drawn-kl"}, lineitem_url=fake.lineitem_url(2))
    two = lms_learner(session, row, 43, custom={"card": "two-students"}, lineitem_url=fake.lineitem_url(3))

    store_submissions(
        session=session, graded=[right(session, two, "two-students", 0), right(session, one, "drawn-kl", 5)]
    )
    session.commit()

    assert sorted(scores(session)) == [
        (fake.lineitem_url(2) + "/scores", "lms-user-42", 100.0),
        (fake.lineitem_url(3) + "/scores", "lms-user-43", 100.0),
    ]


def test_a_deck_submission_in_a_batch_queues_the_deck_score(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    deck = deck_of(session, "drawn-kl", "two-students")
    learner = lms_learner(session, row, 42, custom={"deck": DECK_SLUG}, lineitem_url=fake.lineitem_url(1))
    seed = deck_seed(learner_id=learner, deck_slug=DECK_SLUG, card_slug="drawn-kl")
    in_deck = dataclasses.replace(right(session, learner, "drawn-kl", seed), deck_id=deck.id, deck_slug=DECK_SLUG)
    practice = right(session, learner, "drawn-kl", seed + 1)  # free practice: no link to the card itself

    store_submissions(session=session, graded=[practice, in_deck])
    session.commit()

    assert scores(session) == [(fake.lineitem_url(1) + "/scores", "lms-user-42", 50.0)]  # one card of two
