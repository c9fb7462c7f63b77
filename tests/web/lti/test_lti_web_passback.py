"""Grade passback end to end: a learner launched into a deck answers, and the LMS gradebook gets the score."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lti_platform import FakePlatform, quick_tool_keys
from lti_web import (
    MakeUser,
    answer_deck_card,
    https_client,
    install_platform,
    launch,
    launched_user,
    make_deck,
    sign_in,
    without_worker,
)
from sqlalchemy import select

from app.config import Settings
from app.db.integrations import OutboxMessage
from app.db.models import Submission, User, utcnow
from app.services.lti.outbox import DeliveryReport, deliver_due
from app.services.manual_grading import grade_part

CARD = "evaluate-student-models"  # three parts graded at once, and a written one for the instructor


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_tool_keys(monkeypatch)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_worker(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with https_client(app) as test_client:
        yield test_client


@pytest.fixture
def platform(app: FastAPI, client: TestClient) -> FakePlatform:
    return install_platform(app, client)


def deliver(app: FastAPI, now_offset: timedelta = timedelta(0)) -> DeliveryReport:
    with app.state.sessionmaker() as session:
        # As the app's background worker does: its client, and its cache of access tokens.
        return deliver_due(
            session=session,
            client=app.state.http_client,
            now=utcnow() + now_offset,
            tokens=app.state.lti_access_tokens,
        )


def outbox(app: FastAPI) -> list[OutboxMessage]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def launched_learner(app: FastAPI, client: TestClient, platform: FakePlatform, teacher: User) -> tuple[str, User]:
    slug = make_deck(app, teacher)
    response = launch(client, platform, custom={"deck": slug}, lineitem=platform.lineitem_url(1))
    assert response.status_code == 303
    return slug, launched_user(app)


def test_an_answer_in_a_launched_deck_reaches_the_gradebook_and_so_does_the_manual_grade(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_user: MakeUser
) -> None:
    teacher = make_user("instructor")
    slug, learner = launched_learner(app, client, platform, teacher)
    answered = answer_deck_card(app, client, deck=slug, card=CARD, user=learner)
    assert answered.status_code == 303, answered.text

    [queued] = outbox(app)
    assert (queued.status, queued.target_url) == ("pending", platform.lineitem_url(1) + "/scores")
    assert deliver(app) == DeliveryReport(sent=1)
    [first] = platform.scores
    assert first.lineitem == platform.lineitem_url(1)
    assert first.payload["userId"] == "lms-user-42"
    assert first.payload["scoreGiven"] == 100.0  # every part graded so far is right; the deck has one card
    assert first.payload["scoreMaximum"] == 100.0
    assert first.payload["activityProgress"] == "Completed"
    assert first.payload["gradingProgress"] == "PendingManual"  # the written part waits for the instructor

    with app.state.sessionmaker() as session:
        submission = session.scalars(select(Submission)).one()
        grade_part(session=session, grader=teacher, submission_id=submission.id, part_key="reasoning", score=0.5)
        session.refresh(submission)
        expected = round(submission.score * 100, 4)
    assert deliver(app) == DeliveryReport(sent=1)
    second = platform.scores[-1]
    assert second.payload["gradingProgress"] == "FullyGraded"
    assert second.payload["scoreGiven"] == expected < 100.0
    assert second.payload["timestamp"] > first.payload["timestamp"]
    assert len(platform.token_requests) == 1  # one access token served both, until it expires


def test_a_gradebook_that_is_down_gets_the_grade_when_it_is_back(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_user: MakeUser
) -> None:
    slug, learner = launched_learner(app, client, platform, make_user("instructor"))
    platform.score_failures = [503, 503]
    answer_deck_card(app, client, deck=slug, card=CARD, user=learner)
    assert deliver(app) == DeliveryReport(retried=1)
    assert deliver(app, timedelta(seconds=30)) == DeliveryReport(retried=1)
    assert deliver(app, timedelta(seconds=50)) == DeliveryReport()  # not due until 30 + 60 s
    assert deliver(app, timedelta(seconds=90)) == DeliveryReport(sent=1)
    [message] = outbox(app)
    assert (message.status, message.attempts) == ("sent", 3)
    assert platform.score_attempts == 3
    assert [post.payload["scoreGiven"] for post in platform.scores] == [100.0]


def test_a_learner_outside_the_lms_sends_nothing(app: FastAPI, make_user: MakeUser, platform: FakePlatform) -> None:
    slug = make_deck(app, make_user("instructor"))
    learner = make_user("learner")
    with https_client(app) as browser:
        sign_in(browser, learner)
        assert answer_deck_card(app, browser, deck=slug, card=CARD, user=learner).status_code == 303
    assert outbox(app) == []
