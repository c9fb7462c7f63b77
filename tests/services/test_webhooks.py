"""Webhooks: one message per active webhook with each graded submission, signed, retried until accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.integrations import OutboxMessage
from app.db.models import Learner, utcnow
from app.services.lti.outbox import deliver_due
from app.services.submissions import submit
from app.services.webhooks import WebhookInvalid, add_webhook, list_webhooks, remove_webhook

SECRET = "a-shared-secret-of-some-length"
ANSWERS = {"loss_a": "0.0268", "better": "Student A", "reasoning": "lower KL"}


def test_each_graded_submission_queues_one_message_per_active_webhook(
    session: Session, loaded: Path, learner: Learner
) -> None:
    one = add_webhook(session=session, url="https://a.example/hook", secret=SECRET)
    add_webhook(session=session, url="https://b.example/hook", secret=SECRET)
    remove_webhook(session=session, webhook_id=one.id)

    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS)

    messages = session.scalars(select(OutboxMessage)).all()
    assert [(m.kind, m.target_url) for m in messages] == [("webhook", "https://b.example/hook")]
    event = messages[0].payload
    assert event["event"] == "submission.graded"
    assert event["submission"]["id"] == view.id and event["submission"]["card"] == "two-students"
    assert event["submission"]["learner"] == {"id": learner.id, "external_id": None}


def test_a_refused_submission_queues_nothing(session: Session, loaded: Path, learner: Learner) -> None:
    add_webhook(session=session, url="https://a.example/hook", secret=SECRET)

    with pytest.raises(ValueError):
        submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers={"loss_a": "abc"})

    assert session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize(
    ("url", "secret", "field"),
    [("ftp://a.example", SECRET, "url"), ("https://", SECRET, "url"), ("https://a.example", "short", "secret")],
)
def test_bad_webhooks_are_refused(session: Session, url: str, secret: str, field: str) -> None:
    with pytest.raises(WebhookInvalid) as refused:
        add_webhook(session=session, url=url, secret=secret)

    assert refused.value.field == field
    assert list_webhooks(session=session) == []


def test_a_receiver_failing_twice_then_accepting_gets_the_signed_event(
    session: Session, loaded: Path, learner: Learner
) -> None:
    add_webhook(session=session, url="https://lms.example/hook", secret=SECRET)
    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS)
    calls: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) == 2:
            return httpx.Response(503, text="busy")
        return httpx.Response(204)

    now = utcnow()
    with httpx.Client(transport=httpx.MockTransport(receiver)) as client:
        reports = [deliver_due(session=session, client=client, now=now + timedelta(hours=n)) for n in range(4)]

    assert [(r.sent, r.retried, r.failed) for r in reports] == [(0, 1, 0), (0, 1, 0), (1, 0, 0), (0, 0, 0)]
    [message] = session.scalars(select(OutboxMessage)).all()
    assert (message.status, message.attempts, message.last_error) == ("sent", 3, "")
    bodies = {call.content for call in calls}
    assert len(bodies) == 1  # every retry sends the same bytes
    last = calls[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), last.content, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(last.headers["X-Distill-Signature"], expected)
    assert last.headers["X-Distill-Event"] == "submission.graded"
    assert last.headers["Content-Type"] == "application/json"
    assert json.loads(last.content)["submission"]["id"] == view.id


def test_a_receiver_refusing_with_a_4xx_is_not_retried(session: Session, loaded: Path, learner: Learner) -> None:
    add_webhook(session=session, url="https://lms.example/hook", secret=SECRET)
    submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS)

    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(410, text="gone"))) as client:
        report = deliver_due(session=session, client=client, now=utcnow())

    assert (report.sent, report.failed) == (0, 1)
    [message] = session.scalars(select(OutboxMessage)).all()
    assert message.status == "failed" and "410" in message.last_error
