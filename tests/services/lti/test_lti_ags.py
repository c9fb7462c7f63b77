"""Assignment and Grade Services: the access token, the score's media type and payload, and what is queued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lti_platform import FakePlatform
from lti_services import DECK_SLUG, deck_of, instructor, launched
from regrade_support import RIGHT, answers, new_tolerance
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.integrations import LtiPlatform, OutboxMessage
from app.db.models import Submission, utcnow
from app.domain.grading import AnswerFormatError
from app.services.accounts import learner_for_user
from app.services.catalog import get_card
from app.services.decks import deck_seed
from app.services.learners import guest_learner
from app.services.lti import claims as c
from app.services.lti.ags import (
    AccessTokens,
    AgsError,
    access_token,
    post_score,
    queue_deck_score,
    score_payload,
    scores_url,
)
from app.services.manual_grading import grade_part
from app.services.regrade import regrade_card
from app.services.submissions import submit, variant_for


@pytest.fixture
def client(platform: tuple[FakePlatform, LtiPlatform]) -> Iterator[httpx.Client]:
    with platform[0].client() as http:
        yield http


def test_the_token_request_is_a_client_credentials_grant_with_a_signed_assertion(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    token = access_token(session=session, client=client, platform=row, tokens=AccessTokens(), now=utcnow())
    assert token in fake.issued_tokens  # the fake checked the assertion against the tool's published keys
    [form] = fake.token_requests
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["scope"] == c.AGS_SCORE_SCOPE
    claims = fake.verify_tool_jwt(form["client_assertion"], audience=fake.token_url)
    assert claims["iss"] == claims["sub"] == fake.client_id
    assert claims["exp"] - claims["iat"] == 300


def test_the_token_is_cached_until_it_expires(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    fake.token_lifetime = 120
    tokens, now = AccessTokens(), utcnow()
    first = access_token(session=session, client=client, platform=row, tokens=tokens, now=now)
    again = access_token(session=session, client=client, platform=row, tokens=tokens, now=now + timedelta(seconds=50))
    assert again == first
    assert len(fake.token_requests) == 1
    # Within a minute of its expiry a token is not used any more: it could lapse before the score arrives.
    later = now + timedelta(seconds=61)
    fake.clock = later.timestamp
    renewed = access_token(session=session, client=client, platform=row, tokens=tokens, now=later)
    assert renewed != first
    assert len(fake.token_requests) == 2


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True), (400, False), (401, False)])
def test_a_refused_token_request_says_whether_to_retry(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client, status: int, retry: bool
) -> None:
    fake, row = platform
    fake.token_failures = [status]
    with pytest.raises(AgsError, match=f"answered {status}") as raised:
        access_token(session=session, client=client, platform=row, tokens=AccessTokens(), now=utcnow())
    assert raised.value.retry is retry


@pytest.mark.parametrize(
    ("lineitem", "expected"),
    [
        (
            "https://lms.example.edu/api/lti/courses/7/line_items/1",
            "https://lms.example.edu/api/lti/courses/7/line_items/1/scores",
        ),
        ("https://lms.example.edu/line_items/1/", "https://lms.example.edu/line_items/1/scores"),
        (
            "https://moodle.example.edu/mod/lti/services.php/2/lineitems/5/lineitem?type_id=1",
            "https://moodle.example.edu/mod/lti/services.php/2/lineitems/5/lineitem/scores?type_id=1",
        ),
    ],
)
def test_the_scores_url_keeps_the_line_items_query(lineitem: str, expected: str) -> None:
    assert scores_url(lineitem) == expected


def test_a_score_is_posted_as_the_score_media_type(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    moment = utcnow()
    payload = score_payload(user_id="lms-user-42", score=0.625, completed=False, pending=True, moment=moment)
    token = access_token(session=session, client=client, platform=row, tokens=AccessTokens(), now=moment)
    post_score(client=client, url=scores_url(fake.lineitem_url(1)), token=token, payload=payload)
    [posted] = fake.scores  # the fake checked the media type, the bearer token and every field
    assert posted.lineitem == fake.lineitem_url(1)
    assert posted.payload == {
        "userId": "lms-user-42",
        "scoreGiven": 62.5,
        "scoreMaximum": 100.0,
        "activityProgress": "InProgress",
        "gradingProgress": "PendingManual",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def test_a_score_post_without_a_valid_token_is_retried(
    client: httpx.Client, platform: tuple[FakePlatform, LtiPlatform]
) -> None:
    fake, _ = platform
    payload = score_payload(user_id="u", score=1.0, completed=True, pending=False, moment=utcnow())
    with pytest.raises(AgsError, match="refused the access token") as raised:
        post_score(client=client, url=scores_url(fake.lineitem_url(1)), token="stolen", payload=payload)
    assert raised.value.retry is True and raised.value.status == 401


# --- queueing -------------------------------------------------------------------------------------------------


def _right_answers(session: Session, slug: str, seed: int) -> dict[str, str]:
    variant = variant_for(get_card(session=session, slug=slug).spec, seed)
    answers = {key: str(value) for key, value in variant.answers.items() if value is not None}
    return {**answers, "reasoning": "Student A has the lower KL."} if slug == "two-students" else answers


def _submit(session: Session, learner_id: int, slug: str, **overrides: str) -> None:
    seed = deck_seed(learner_id=learner_id, deck_slug=DECK_SLUG, card_slug=slug)
    answers = {**_right_answers(session, slug, seed), **overrides}
    submit(session=session, learner_id=learner_id, slug=slug, seed=seed, answers=answers, deck_slug=DECK_SLUG)


def _queued(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _expected_deck_score(session: Session, learner_id: int, cards: int) -> float:
    best = (
        select(func.max(Submission.score).label("best"))
        .where(Submission.learner_id == learner_id)
        .group_by(Submission.card_id)
        .subquery()
    )
    total = session.scalar(select(func.sum(best.c.best))) or 0.0
    return round(total / cards * 100, 4)


def test_each_deck_submission_queues_the_learners_deck_score(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    deck = deck_of(session, "two-students", "drawn-kl")
    result = launched(session, row, custom={"deck": DECK_SLUG}, lineitem_url=fake.lineitem_url(1))
    learner = learner_for_user(session=session, user=result.user)

    _submit(session, learner.id, "drawn-kl")
    [first] = _queued(session)
    assert (first.kind, first.status, first.platform_id) == ("lti_score", "pending", row.id)
    assert first.target_url == fake.lineitem_url(1) + "/scores"
    assert first.payload["userId"] == "lms-user-42"
    assert first.payload["scoreGiven"] == 50.0 == _expected_deck_score(session, learner.id, 2)
    assert first.payload["activityProgress"] == "InProgress"
    assert first.payload["gradingProgress"] == "FullyGraded"

    _submit(session, learner.id, "two-students")
    second = _queued(session)[-1]
    assert second.payload["scoreGiven"] == 100.0
    assert second.payload["activityProgress"] == "Completed"
    assert second.payload["gradingProgress"] == "PendingManual"  # the written part waits for the instructor

    written = session.scalars(select(Submission.id).where(Submission.pending.is_(True))).one()
    grader = session.get(type(result.user), deck.owner_id)
    assert grader is not None
    grade_part(session=session, grader=grader, submission_id=written, part_key="reasoning", score=0.25)
    third = _queued(session)[-1]
    assert len(_queued(session)) == 3
    assert third.payload["gradingProgress"] == "FullyGraded"
    assert third.payload["scoreGiven"] == _expected_deck_score(session, learner.id, 2)
    assert third.payload["scoreGiven"] < 100.0


def test_nothing_is_queued_for_guests_strangers_or_links_without_a_line_item(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    deck = deck_of(session, "drawn-kl")
    guest = guest_learner(session=session, guest_id="guest-in-a-deck")
    _submit(session, guest.id, "drawn-kl")
    without_lineitem = launched(session, row, custom={"deck": DECK_SLUG}, subject="no-ags")
    _submit(session, learner_for_user(session=session, user=without_lineitem.user).id, "drawn-kl")
    stranger = instructor(session, "stranger@example.org")
    assert queue_deck_score(session=session, user_id=stranger.id, deck_id=deck.id) == 0
    assert _queued(session) == []
    assert fake.scores == []


def test_a_refused_submission_queues_nothing(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    deck_of(session, "drawn-kl")
    result = launched(session, row, custom={"deck": DECK_SLUG}, lineitem_url=fake.lineitem_url(1))
    learner = learner_for_user(session=session, user=result.user)
    with pytest.raises(AnswerFormatError):
        _submit(session, learner.id, "drawn-kl", kl="not a number")
    assert _queued(session) == []


def test_a_card_link_gets_the_best_score_on_the_card(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], loaded: Path
) -> None:
    fake, row = platform
    result = launched(session, row, custom={"card": "drawn-kl"}, lineitem_url=fake.lineitem_url(2))
    learner = learner_for_user(session=session, user=result.user)
    variant = variant_for(get_card(session=session, slug="drawn-kl").spec, 11)
    submit(session=session, learner_id=learner.id, slug="drawn-kl", seed=11, answers={"kl": str(variant.answers["kl"])})
    submit(session=session, learner_id=learner.id, slug="drawn-kl", seed=11, answers={"kl": "12"})
    first, second = _queued(session)
    assert first.target_url == second.target_url == fake.lineitem_url(2) + "/scores"
    assert first.payload["scoreGiven"] == second.payload["scoreGiven"] == 100.0  # the best so far, not the last
    assert second.payload["activityProgress"] == "Completed"


def test_a_regrade_queues_the_new_scores_of_the_learners_whose_lms_grades_them(
    session: Session,
    platform: tuple[FakePlatform, LtiPlatform],
    loaded: Path,
    fixed_card: dict[str, Any],
    write_card: Any,
) -> None:
    fake, row = platform
    deck_of(session, "two-students")
    on_card = launched(session, row, custom={"card": "two-students"}, lineitem_url=fake.lineitem_url(2))
    in_deck = launched(
        session,
        row,
        custom={"deck": DECK_SLUG},
        lineitem_url=fake.lineitem_url(1),
        subject="lms-user-43",
        email="bo@learners.example.edu",
        resource_link_id="link-2",
    )
    card_learner = learner_for_user(session=session, user=on_card.user).id
    deck_learner = learner_for_user(session=session, user=in_deck.user).id
    guest = guest_learner(session=session, guest_id="guest-without-lms").id
    near = answers(RIGHT + 0.0010)  # wrong now, right within the wider margin to come
    submit(session=session, learner_id=card_learner, slug="two-students", seed=0, answers=near)
    seed = deck_seed(learner_id=deck_learner, deck_slug=DECK_SLUG, card_slug="two-students")
    submit(session=session, learner_id=deck_learner, slug="two-students", seed=seed, answers=near, deck_slug=DECK_SLUG)
    submit(session=session, learner_id=guest, slug="two-students", seed=0, answers=near)
    before = {message.payload["userId"]: message.payload["scoreGiven"] for message in _queued(session)}
    new_tolerance(session, loaded, fixed_card, write_card, rtol=0.06, atol=0.0)

    assert regrade_card(session=session, slug="two-students", dry_run=True).lms_scores == 0
    assert len(_queued(session)) == 2  # a dry run queues nothing
    report = regrade_card(session=session, slug="two-students")
    assert (report.changed, report.lms_scores) == (3, 2)  # the guest's grade changed too; no LMS has it

    sent = {message.payload["userId"]: message for message in _queued(session)[2:]}
    assert sent.keys() == {"lms-user-42", "lms-user-43"}
    assert sent["lms-user-42"].target_url == fake.lineitem_url(2) + "/scores"
    assert sent["lms-user-43"].target_url == fake.lineitem_url(1) + "/scores"
    for subject, message in sent.items():
        assert message.payload["scoreGiven"] > before[subject]
    # The card's best score and the deck's score, read afresh, are what was queued.
    assert sent["lms-user-42"].payload["scoreGiven"] == pytest.approx(
        100 * session.scalar(select(func.max(Submission.score)).where(Submission.learner_id == card_learner))
    )
    assert sent["lms-user-43"].payload["scoreGiven"] == _expected_deck_score(session, deck_learner, 1)
    assert regrade_card(session=session, slug="two-students").lms_scores == 0  # nothing changed again
