"""Delivering the outbox: retries with backoff lose no grade, refusals are kept, newer scores win."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from lti_platform import FakePlatform
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.integrations import LtiPlatform, OutboxMessage
from app.db.models import utcnow
from app.services.lti.ags import AccessTokens, score_payload, scores_url
from app.services.lti.outbox import HANDLERS, MAX_ATTEMPTS, Delivery, DeliveryReport, backoff, deliver_due


@pytest.fixture
def client(platform: tuple[FakePlatform, LtiPlatform]) -> Iterator[httpx.Client]:
    with platform[0].client() as http:
        yield http


def queue(
    session: Session, row: LtiPlatform, fake: FakePlatform, *, score: float, at: datetime, user: str = "u-1"
) -> OutboxMessage:
    payload = score_payload(user_id=user, score=score, completed=True, pending=False, moment=at)
    message = OutboxMessage(
        kind="lti_score",
        target_url=scores_url(fake.lineitem_url(1)),
        payload=payload,
        platform_id=row.id,
        next_attempt_at=at,
        created_at=at,
    )
    session.add(message)
    session.commit()
    return message


def reloaded(session: Session, message: OutboxMessage) -> OutboxMessage:
    session.expire_all()
    found = session.get(OutboxMessage, message.id)
    assert found is not None
    return found


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 8, 9, 50)] == [30, 60, 120, 240, 3600, 3600, 3600]


def test_a_due_score_is_sent(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    now = utcnow()
    message = queue(session, row, fake, score=0.8, at=now)
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport(sent=1)
    sent = reloaded(session, message)
    assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == ("sent", 1, now, "")
    [posted] = fake.scores
    assert posted.payload == message.payload
    assert deliver_due(session=session, client=client, now=now + timedelta(hours=1)) == DeliveryReport()


def test_a_platform_failing_twice_then_accepting_loses_nothing(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    fake.score_failures = [503, 503]
    start = utcnow()
    message = queue(session, row, fake, score=0.75, at=start)
    tokens = AccessTokens()

    assert deliver_due(session=session, client=client, now=start, tokens=tokens) == DeliveryReport(retried=1)
    first = reloaded(session, message)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.next_attempt_at == start + timedelta(seconds=30)
    assert "503" in first.last_error

    # Not due yet: nothing is tried before the backoff has passed.
    assert (
        deliver_due(session=session, client=client, now=start + timedelta(seconds=29), tokens=tokens)
        == DeliveryReport()
    )
    assert fake.score_attempts == 1

    second_try = start + timedelta(seconds=30)
    assert deliver_due(session=session, client=client, now=second_try, tokens=tokens) == DeliveryReport(retried=1)
    second = reloaded(session, message)
    assert (second.attempts, second.next_attempt_at) == (2, second_try + timedelta(seconds=60))

    third_try = second_try + timedelta(seconds=60)
    assert deliver_due(session=session, client=client, now=third_try, tokens=tokens) == DeliveryReport(sent=1)
    done = reloaded(session, message)
    assert (done.status, done.attempts, done.sent_at, done.last_error) == ("sent", 3, third_try, "")
    assert fake.score_attempts == 3
    [posted] = fake.scores
    assert posted.payload["scoreGiven"] == 75.0
    assert len(fake.token_requests) == 1  # the one token served all three attempts


def test_a_platform_that_is_down_is_tried_again(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    fake.down = True
    start = utcnow()
    message = queue(session, row, fake, score=1.0, at=start)
    assert deliver_due(session=session, client=client, now=start) == DeliveryReport(retried=1)
    assert "could not be reached" in reloaded(session, message).last_error
    fake.down = False
    later = start + timedelta(seconds=30)
    fake.clock = later.timestamp
    assert deliver_due(session=session, client=client, now=later) == DeliveryReport(sent=1)
    assert len(fake.scores) == 1


@pytest.mark.parametrize("status", [500, 502, 429])
def test_transient_answers_are_retried(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client, status: int
) -> None:
    fake, row = platform
    fake.score_failures = [status]
    now = utcnow()
    message = queue(session, row, fake, score=0.5, at=now)
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport(retried=1)
    assert reloaded(session, message).status == "pending"


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_a_refusal_marks_the_message_failed_with_the_error_kept(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client, status: int
) -> None:
    fake, row = platform
    fake.score_failures = [status]
    now = utcnow()
    message = queue(session, row, fake, score=0.5, at=now)
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport(failed=1)
    failed = reloaded(session, message)
    assert failed.status == "failed"
    assert f"answered {status}: the gradebook is busy" in failed.last_error
    assert deliver_due(session=session, client=client, now=now + timedelta(days=1)) == DeliveryReport()


def test_a_revoked_token_is_replaced_on_the_next_attempt(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    tokens, now = AccessTokens(), utcnow()
    message = queue(session, row, fake, score=0.5, at=now)
    fake.issued_tokens.clear()  # the platform forgets every token it gave
    tokens.put(row.id, "https://purl.imsglobal.org/spec/lti-ags/scope/score", "revoked", now + timedelta(hours=1))
    assert deliver_due(session=session, client=client, now=now, tokens=tokens) == DeliveryReport(retried=1)
    later = now + timedelta(seconds=30)
    fake.clock = later.timestamp
    assert deliver_due(session=session, client=client, now=later, tokens=tokens) == DeliveryReport(sent=1)
    assert reloaded(session, message).attempts == 2
    assert len(fake.token_requests) == 1


def test_a_newer_score_waiting_is_sent_in_place_of_an_older_one(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    fake.score_failures = [503]
    start = utcnow()
    older = queue(session, row, fake, score=0.5, at=start)
    other_learner = queue(session, row, fake, score=0.1, at=start, user="u-2")
    deliver_due(session=session, client=client, now=start)  # the older one fails once; the other learner's is sent
    newer = queue(session, row, fake, score=0.9, at=start + timedelta(seconds=40))
    newer.next_attempt_at = start + timedelta(seconds=40)
    session.commit()
    # The older message comes due first and carries the newer score: one post, the newest grade.
    report = deliver_due(session=session, client=client, now=start + timedelta(seconds=45))
    assert report == DeliveryReport(sent=1)
    assert [(post.payload["userId"], post.payload["scoreGiven"]) for post in fake.scores] == [
        ("u-2", 10.0),
        ("u-1", 90.0),
    ]
    assert {reloaded(session, m).status for m in (older, newer, other_learner)} == {"sent"}
    assert reloaded(session, newer).last_error == f"sent with message {older.id}"


def test_an_older_score_is_not_sent_after_a_newer_one(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    fake.score_failures = [503]
    start = utcnow()
    older = queue(session, row, fake, score=0.5, at=start)
    deliver_due(session=session, client=client, now=start)  # fails once: next attempt in 30 s
    newer = queue(session, row, fake, score=0.9, at=start + timedelta(seconds=5))
    # Both are due; the newer one, due earlier, is sent first, and the older one must not overwrite it.
    assert deliver_due(session=session, client=client, now=start + timedelta(seconds=30)) == DeliveryReport(sent=2)
    assert [post.payload["scoreGiven"] for post in fake.scores] == [90.0]
    kept = reloaded(session, older)
    assert kept.status == "sent"
    assert kept.last_error == f"not sent: the newer score of message {newer.id} was sent already"


def test_after_the_last_attempt_the_message_is_failed(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    now = utcnow()
    message = queue(session, row, fake, score=0.5, at=now)
    session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(attempts=MAX_ATTEMPTS - 1))
    session.commit()
    fake.score_failures = [503]
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport(failed=1)
    assert reloaded(session, message).status == "failed"


def test_a_message_claimed_by_another_worker_is_left_alone(
    session: Session, platform: tuple[FakePlatform, LtiPlatform], client: httpx.Client
) -> None:
    fake, row = platform
    now = utcnow()
    message = queue(session, row, fake, score=0.5, at=now)
    # Another worker claimed it a moment ago: its next attempt was pushed a lease ahead.
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message.id).values(next_attempt_at=now + timedelta(minutes=2))
    )
    session.commit()
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport()
    assert fake.score_attempts == 0


def test_a_fault_in_a_handler_keeps_the_message_for_later(
    session: Session, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(message: OutboxMessage, delivery: Delivery) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(HANDLERS, "test_kind", broken)
    now = utcnow()
    payload: dict[str, Any] = {"n": 1}
    message = OutboxMessage(kind="test_kind", target_url="https://example.org/", payload=payload, next_attempt_at=now)
    session.add(message)
    session.commit()
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport(retried=1)
    kept = reloaded(session, message)
    assert (kept.status, kept.attempts, kept.last_error) == ("pending", 1, "RuntimeError: a bug")


def test_messages_of_kinds_without_a_handler_are_not_touched(session: Session, client: httpx.Client) -> None:
    now = utcnow()
    session.add(OutboxMessage(kind="email", target_url="https://example.org/hook", payload={}, next_attempt_at=now))
    session.commit()
    assert deliver_due(session=session, client=client, now=now) == DeliveryReport()
    assert session.scalars(select(OutboxMessage.attempts)).one() == 0
