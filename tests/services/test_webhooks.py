"""Webhooks: one message per active webhook told of the event, with each graded or re-graded submission, signed,
retried until accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from regrade_support import RIGHT, answers, make_admin, new_tolerance
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.integrations import OutboxMessage
from app.db.models import Learner, Submission, utcnow
from app.services.lti.outbox import deliver_due
from app.services.manual_grading import grade_part
from app.services.regrade import regrade_card
from app.services.submissions import submit
from app.services.webhooks import (
    EVENTS,
    WebhookInvalid,
    add_webhook,
    check_events,
    list_webhooks,
    queue_regraded_webhooks,
    remove_webhook,
)

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


def _messages(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The payloads queued, by webhook URL, oldest first."""
    queued: dict[str, list[dict[str, Any]]] = {}
    for message in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
        queued.setdefault(message.target_url, []).append(message.payload)
    return queued


def test_a_webhook_hears_only_the_events_it_chose(session: Session, loaded: Path, learner: Learner) -> None:
    both = add_webhook(session=session, url="https://both.example/hook", secret=SECRET)
    add_webhook(session=session, url="https://first.example/hook", secret=SECRET, events=["submission.graded"])
    add_webhook(session=session, url="https://later.example/hook", secret=SECRET, events=["submission.regraded"])
    assert both.events == EVENTS  # no choice: every event
    admin = make_admin(session)

    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS)
    assert (view.score, view.pending) == (1.0, True)  # the written part awaits a person, the others are right
    grade_part(session=session, grader=admin, submission_id=view.id, part_key="reasoning", score=0.5)

    queued = _messages(session)
    assert [m["event"] for m in queued["https://first.example/hook"]] == ["submission.graded"]
    assert [m["event"] for m in queued["https://both.example/hook"]] == ["submission.graded", "submission.regraded"]
    [regraded] = queued["https://later.example/hook"]
    assert regraded == queued["https://both.example/hook"][1]
    assert regraded["cause"] == "manual_grade"
    assert regraded["previous_score"] == 1.0
    new = regraded["submission"]
    assert (new["id"], new["score"], new["pending"]) == (view.id, pytest.approx(2.5 / 3), False)
    # The rest of the submission is shown as in the first event.
    first = queued["https://both.example/hook"][0]["submission"]
    assert {k: v for k, v in new.items() if k not in ("score", "pending")} == {
        k: v for k, v in first.items() if k not in ("score", "pending")
    }


def test_a_refused_manual_grade_queues_nothing(session: Session, loaded: Path, learner: Learner) -> None:
    add_webhook(session=session, url="https://a.example/hook", secret=SECRET, events=["submission.regraded"])
    view = submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=ANSWERS)

    with pytest.raises(ValueError):
        grade_part(session=session, grader=make_admin(session), submission_id=view.id, part_key="reasoning", score=2)

    assert _messages(session) == {}


def test_a_regrade_tells_webhooks_of_each_submission_it_changed(
    session: Session, loaded: Path, fixed_card: dict[str, Any], write_card: Any, learner: Learner
) -> None:
    add_webhook(session=session, url="https://a.example/hook", secret=SECRET, events=["submission.regraded"])
    add_webhook(session=session, url="https://b.example/hook", secret=SECRET, events=["submission.graded"])
    ids = [
        submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=answers(loss)).id
        for loss in (RIGHT, RIGHT + 0.0010, RIGHT + 0.0030)  # the second is right within the wider margin to come
    ]
    before = {ident: session.get(Submission, ident).score for ident in ids}  # type: ignore[union-attr]
    new_tolerance(session, loaded, fixed_card, write_card, rtol=0.06, atol=0.0)

    assert regrade_card(session=session, slug="two-students", dry_run=True).webhook_messages == 0
    assert "https://a.example/hook" not in _messages(session)  # a dry run queues nothing
    report = regrade_card(session=session, slug="two-students")

    assert (report.changed, report.webhook_messages) == (1, 1)
    [regraded] = _messages(session)["https://a.example/hook"]
    assert (regraded["event"], regraded["cause"]) == ("submission.regraded", "regrade")
    assert regraded["previous_score"] == pytest.approx(before[ids[1]])
    assert regraded["submission"]["id"] == ids[1]
    assert regraded["submission"]["score"] == pytest.approx(session.get(Submission, ids[1]).score)  # type: ignore[union-attr]
    assert regraded["submission"]["score"] > before[ids[1]]
    assert len(_messages(session)["https://b.example/hook"]) == 3  # the first grades only
    assert regrade_card(session=session, slug="two-students").webhook_messages == 0  # nothing changed again


def test_webhook_events_are_checked_by_name() -> None:
    assert check_events([" submission.regraded", "submission.graded", "submission.regraded"]) == (
        "submission.regraded",
        "submission.graded",
    )
    with pytest.raises(WebhookInvalid) as refused:
        check_events(["card.deleted"])
    assert refused.value.field == "events" and "'card.deleted' is not an event" in refused.value.message


def test_an_unknown_cause_of_regrading_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="'typo' is not a cause"):
        queue_regraded_webhooks(session=session, previous_scores={1: 0.5}, cause="typo")


@pytest.mark.parametrize(
    ("url", "secret", "events", "field"),
    [
        ("ftp://a.example", SECRET, EVENTS, "url"),
        ("https://", SECRET, EVENTS, "url"),
        ("https://a.example", "short", EVENTS, "secret"),
        ("https://a.example", SECRET, ["card.deleted"], "events"),
        ("https://a.example", SECRET, [], "events"),
    ],
)
def test_bad_webhooks_are_refused(session: Session, url: str, secret: str, events: list[str], field: str) -> None:
    with pytest.raises(WebhookInvalid) as refused:
        add_webhook(session=session, url=url, secret=secret, events=events)

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
