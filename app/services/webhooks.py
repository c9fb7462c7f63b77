"""Webhooks: URLs an administrator registers, told about graded submissions with a signed POST.

A webhook chooses its events: ``submission.graded`` when a submission is first graded (a written part may still
await a person then, ``"pending": true``), ``submission.regraded`` when its grade changes later, by a person's
grade of a written part or by ``tutor regrade`` after a tolerance change (with the score before and the cause).
Each event queues one outbox message per webhook told of it, in the transaction that stored the grade, so a
receiver hears of a grade if and only if it was stored. The outbox sends them with retries and backoff.
Every POST carries ``X-Distill-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body with the webhook's
secret, so a receiver can tell the call came from this server and was not changed on the way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from app.db.integrations import OutboxMessage, Webhook
from app.db.models import Card, CardVersion, Deck, Learner, Submission, utcnow
from app.services.engine_cache import EngineCache, forget_on_change, session_engine
from app.services.errors import NotFound

if TYPE_CHECKING:
    from app.services.submission_views import SubmissionView

KIND: Final = "webhook"
GRADED: Final = "submission.graded"
REGRADED: Final = "submission.regraded"
EVENTS: Final = (GRADED, REGRADED)  # every event there is; a webhook registered without a choice hears all
REGRADE_CAUSES: Final = ("manual_grade", "regrade")  # a person graded a written part; `tutor regrade` ran
SIGNATURE_HEADER: Final = "X-Distill-Signature"
EVENT_HEADER: Final = "X-Distill-Event"
DELIVERY_HEADER: Final = "X-Distill-Delivery"
MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 255
MAX_URL_LENGTH: Final = 500
MAX_WEBHOOKS: Final = 100


class WebhookInvalid(ValueError):
    """A webhook that cannot be registered as given: ``WebhookInvalid("url", "...")``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class WebhookError(Exception):
    """A call the receiver did not accept; ``retry`` when a later attempt may succeed."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


@dataclass(frozen=True)
class WebhookView:
    id: int
    url: str
    events: tuple[str, ...]
    created_at: datetime


def _view(hook: Webhook) -> WebhookView:
    return WebhookView(id=hook.id, url=hook.url, events=tuple(hook.events), created_at=hook.created_at)


def check_url(url: str) -> str:
    """The URL to call, trimmed; raises WebhookInvalid for anything but an absolute http(s) URL."""
    value = url.strip()
    parts = urlsplit(value)
    if len(value) > MAX_URL_LENGTH:
        raise WebhookInvalid("url", f"is longer than {MAX_URL_LENGTH} characters")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookInvalid("url", "must be an absolute http or https URL, like https://lms.example.edu/hooks")
    return value


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """The events named, each once; raises WebhookInvalid for a name that is not one of ``EVENTS``."""
    names = tuple(dict.fromkeys(name.strip() for name in events))
    unknown = [name for name in names if name not in EVENTS]
    if unknown or not names:
        raise WebhookInvalid("events", f"'{(unknown or [''])[0]}' is not an event; the events are: {', '.join(EVENTS)}")
    return names


def add_webhook(
    *, session: Session, url: str, secret: str, events: Sequence[str] = EVENTS, created_by_id: int | None = None
) -> WebhookView:
    """Register ``url``, committed; from now on each of ``events`` is POSTed to it signed with ``secret``."""
    checked = check_url(url)
    chosen = check_events(events)
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise WebhookInvalid(
            "secret", f"must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters (a long random string)"
        )
    hook = Webhook(url=checked, secret=secret, events=list(chosen), created_by_id=created_by_id)
    session.add(hook)
    session.commit()
    return _view(hook)


def list_webhooks(*, session: Session, after: int | None = None, limit: int = MAX_WEBHOOKS) -> list[WebhookView]:
    """The active webhooks, oldest first; ``after`` the id of the last one of the previous page."""
    query = select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id).limit(limit)
    if after is not None:
        query = query.where(Webhook.id > after)
    return [_view(hook) for hook in session.scalars(query)]


def remove_webhook(*, session: Session, webhook_id: int) -> None:
    """Stop calling a webhook; its messages not yet sent are dropped (marked failed). NotFound if unknown."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or not hook.active:
        raise NotFound(f"no webhook {webhook_id}")
    # Kept as a row, not deleted: the outbox keeps the history of what was sent to it.
    hook.active = False
    for message in session.scalars(
        select(OutboxMessage).where(OutboxMessage.webhook_id == webhook_id, OutboxMessage.status == "pending")
    ):
        message.status = "failed"
        message.last_error = "the webhook was removed"
    session.commit()


def _submission_json(
    *,
    id: int,
    card: str,
    card_version: int,
    deck: str | None,
    attempt: int,
    seed: int,
    score: float,
    pending: bool,
    created_at: datetime,
    learner_id: int,
    external_id: str | None,
) -> dict[str, Any]:
    """A submission as both events show it."""
    return {
        "id": id,
        "card": card,
        "card_version": card_version,
        "deck": deck,
        "attempt": attempt,
        "seed": seed,
        "score": score,
        "pending": pending,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "learner": {"id": learner_id, "external_id": external_id},
    }


def submission_event(*, submission: SubmissionView, learner_id: int, external_id: str | None) -> dict[str, Any]:
    """The JSON a webhook receives for a submission first graded."""
    return {
        "event": GRADED,
        "submission": _submission_json(
            id=submission.id,
            card=submission.slug,
            card_version=submission.version,
            deck=submission.deck_slug,
            attempt=submission.attempt,
            seed=submission.seed,
            score=submission.score,
            pending=submission.pending,
            created_at=submission.created_at,
            learner_id=learner_id,
            external_id=external_id,
        ),
    }


# Built once: every batch of submissions asks (most often to find no webhook at all); building a select costs
# more than running this one on an empty or tiny table.
_ACTIVE_HOOKS = select(Webhook.id, Webhook.url, Webhook.events).where(Webhook.active.is_(True)).order_by(Webhook.id)

# The active webhooks, kept for a moment: every batch of submissions asks, and most often there is none. One
# added or removed through this process is seen at once; through another server, within CACHE_SECONDS (its first
# second's events may not reach it from there).
CACHE_SECONDS: Final = 1.0
active_hooks: EngineCache[str, tuple[tuple[int, str], ...]] = EngineCache(seconds=CACHE_SECONDS, size=len(EVENTS))
forget_on_change(active_hooks, Webhook)


def _hooks_told_of(session: Session, event: str) -> tuple[tuple[int, str], ...]:
    """(id, url) of every active webhook told of ``event``."""
    return active_hooks.fetch(
        session_engine(session),
        event,
        lambda: tuple((ident, url) for ident, url, events in session.execute(_ACTIVE_HOOKS) if event in events),
    )


_EXTERNAL_IDS = select(Learner.id, Learner.external_id).where(Learner.id.in_(bindparam("learner_ids", expanding=True)))


def queue_submission_webhooks(*, session: Session, submissions: Sequence[tuple[SubmissionView, int]]) -> int:
    """Queue one message per active webhook for each graded ``(submission, learner_id)``, in the caller's
    transaction; how many. Two queries whatever the number of submissions, one when there is no webhook."""
    if not submissions:
        return 0
    hooks = _hooks_told_of(session, GRADED)
    if not hooks:
        return 0
    learner_ids = sorted({learner_id for _, learner_id in submissions})
    external_ids = {ident: external for ident, external in session.execute(_EXTERNAL_IDS, {"learner_ids": learner_ids})}
    for submission, learner_id in submissions:
        payload = submission_event(
            submission=submission, learner_id=learner_id, external_id=external_ids.get(learner_id)
        )
        for hook_id, url in hooks:
            session.add(
                OutboxMessage(
                    kind=KIND,
                    target_url=url,
                    payload=payload,
                    webhook_id=hook_id,
                    next_attempt_at=submission.created_at,
                )
            )
    return len(hooks) * len(submissions)


_REGRADED = (
    select(
        Submission.id,
        Card.slug,
        CardVersion.number,
        Deck.slug,
        Submission.attempt,
        Submission.seed,
        Submission.score,
        Submission.pending,
        Submission.created_at,
        Submission.learner_id,
        Learner.external_id,
    )
    .join(Card, Card.id == Submission.card_id)
    .join(CardVersion, CardVersion.id == Submission.card_version_id)
    .outerjoin(Deck, Deck.id == Submission.deck_id)
    .join(Learner, Learner.id == Submission.learner_id)
    .where(Submission.id.in_(bindparam("submission_ids", expanding=True)))
    .order_by(Submission.id)
)


def queue_regraded_webhooks(*, session: Session, previous_scores: Mapping[int, float], cause: str) -> int:
    """Queue one ``submission.regraded`` message per webhook told of it for each submission whose id is a key of
    ``previous_scores`` (its score before), in the caller's transaction, after the new grades were written in it;
    how many. ``cause`` is one of ``REGRADE_CAUSES``. No query when no webhook is told of re-grades."""
    if cause not in REGRADE_CAUSES:
        raise ValueError(f"'{cause}' is not a cause of re-grading; the causes are: {', '.join(REGRADE_CAUSES)}")
    hooks = _hooks_told_of(session, REGRADED)
    if not hooks or not previous_scores:
        return 0
    now = utcnow()
    messages: list[dict[str, Any]] = []
    rows = session.execute(_REGRADED, {"submission_ids": sorted(previous_scores)})
    for ident, card, version, deck, attempt, seed, score, pending, created_at, learner_id, external_id in rows:
        payload = {
            "event": REGRADED,
            "cause": cause,
            "previous_score": previous_scores[ident],
            "submission": _submission_json(
                id=ident,
                card=card,
                card_version=version,
                deck=deck,
                attempt=attempt,
                seed=seed,
                score=score,
                pending=pending,
                created_at=created_at,
                learner_id=learner_id,
                external_id=external_id,
            ),
        }
        messages += [
            {"kind": KIND, "target_url": url, "payload": payload, "webhook_id": hook_id, "next_attempt_at": now}
            for hook_id, url in hooks
        ]
    if messages:
        # One executemany, not an ORM object each: a re-grade may change a million submissions.
        session.execute(insert(OutboxMessage), messages)
    return len(messages)


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON with sorted keys."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of the signature header."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def deliver(*, session: Session, client: httpx.Client, message: OutboxMessage) -> None:
    """POST one queued message to its webhook; raises WebhookError when it is not accepted."""
    hook = session.get(Webhook, message.webhook_id) if message.webhook_id is not None else None
    if hook is None or not hook.active:
        raise WebhookError("the webhook was removed", retry=False)
    body = body_bytes(dict(message.payload))
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(hook.secret, body),
        EVENT_HEADER: str(message.payload.get("event", GRADED)),
        # The same on every retry, so a receiver can drop a delivery it has already handled.
        DELIVERY_HEADER: str(message.id),
    }
    try:
        response = client.post(message.target_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise WebhookError(f"{type(exc).__name__}: {exc}"[:2000], retry=True) from exc
    if response.is_success:
        return
    # A receiver down, overloaded or timing out may recover; another refusal will not change by itself.
    retry = response.status_code >= 500 or response.status_code in (408, 429)
    raise WebhookError(f"{message.target_url} answered {response.status_code}: {response.text[:500]}", retry=retry)
