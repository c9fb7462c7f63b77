"""Delivering the outbox: messages written in the transaction that caused them, sent with retries and backoff.

``deliver_due`` sends every pending message whose time has come. Each is claimed first (its next attempt is
pushed a lease ahead, committed), so two workers never send the same message at once and a worker that dies
mid-send leaves it to be tried again when the lease runs out. A delivery that fails for a reason that may pass
(the platform down, a 5xx, a 429) is tried again after an exponentially growing delay; one the receiver refused
(another 4xx) is marked failed with the error kept. Handlers are looked up by the message's kind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.integrations import LtiPlatform, OutboxMessage
from app.db.models import utcnow
from app.services import webhooks
from app.services.lti import ags

logger = logging.getLogger(__name__)

FIRST_RETRY: Final = timedelta(seconds=30)
LONGEST_WAIT: Final = timedelta(hours=1)
MAX_ATTEMPTS: Final = 100  # about four days of hourly tries after the first few quick ones
LEASE: Final = timedelta(minutes=2)  # longer than a delivery can take with the client's timeouts
BATCH: Final = 100


class DeliveryFailed(Exception):
    """A delivery that did not go through; ``retry`` when a later attempt may succeed."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


@dataclass(frozen=True)
class Delivery:
    """What a handler gets besides the message: the HTTP client, the token cache and the time."""

    session: Session
    client: httpx.Client
    tokens: ags.AccessTokens
    now: datetime


Handler = Callable[[OutboxMessage, Delivery], None]


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: 30 s, 1 min, 2 min, ... at most an hour."""
    doublings = max(0, min(attempts - 1, 20))  # bounded: the wait stops growing long before 2**20
    wait: timedelta = FIRST_RETRY * (2**doublings)
    return min(wait, LONGEST_WAIT)


def _newer_scores(message: OutboxMessage, session: Session) -> list[OutboxMessage]:
    """Scores queued after ``message`` for the same learner and line item, pending or sent, oldest first."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.kind == ags.KIND,
                OutboxMessage.status.in_(("pending", "sent")),
                OutboxMessage.target_url == message.target_url,
                OutboxMessage.id > message.id,
                OutboxMessage.payload["userId"].as_string() == str(message.payload.get("userId", "")),
            )
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        )
    )


def deliver_lti_score(message: OutboxMessage, delivery: Delivery) -> None:
    """Post a score, unless a newer one of the same learner and line item stands for it.

    Scores overwrite each other at the platform, and retries reorder them: sending an older score after a
    newer one would put back a stale grade. So a score with a newer one already sent is not sent at all, and
    one with newer ones still waiting sends the newest in their place.
    """
    session = delivery.session
    platform = session.get(LtiPlatform, message.platform_id) if message.platform_id is not None else None
    if platform is None:
        raise DeliveryFailed("the platform of this score is no longer registered", retry=False)
    newer = _newer_scores(message, session)
    if newer and newer[-1].status == "sent":
        message.last_error = f"not sent: the newer score of message {newer[-1].id} was sent already"
        return
    payload = newer[-1].payload if newer else message.payload
    try:
        ags.deliver(
            session=session,
            client=delivery.client,
            platform=platform,
            url=message.target_url,
            payload=dict(payload),
            tokens=delivery.tokens,
            now=delivery.now,
        )
    except ags.AgsError as exc:
        raise DeliveryFailed(exc.message, retry=exc.retry) from exc
    for covered in newer:
        if covered.status == "pending":
            covered.status = "sent"
            covered.sent_at = delivery.now
            covered.last_error = f"sent with message {message.id}"


def deliver_webhook(message: OutboxMessage, delivery: Delivery) -> None:
    """POST a graded submission to a webhook, signed with its secret."""
    try:
        webhooks.deliver(session=delivery.session, client=delivery.client, message=message)
    except webhooks.WebhookError as exc:
        raise DeliveryFailed(exc.message, retry=exc.retry) from exc


HANDLERS: Final[dict[str, Handler]] = {ags.KIND: deliver_lti_score, webhooks.KIND: deliver_webhook}


def _claim(session: Session, message_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .values(next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(claimed, "rowcount", 0) == 1)


def deliver_due(
    *,
    session: Session,
    client: httpx.Client,
    now: datetime | None = None,
    tokens: ags.AccessTokens | None = None,
    limit: int = BATCH,
    stopping: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Send the pending messages due at ``now`` (at most ``limit``), oldest first; commits after each.

    ``stopping`` is asked before each message: once it says True (the server is shutting down) no further
    message is claimed, so a stop waits for the delivery in flight only; the rest stay due for the next run.
    """
    moment = now or utcnow()
    cache = tokens or ags.AccessTokens()
    due = session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= moment,
            OutboxMessage.kind.in_(HANDLERS),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    sent = retried = failed = 0
    for message_id in due:
        if stopping is not None and stopping():
            break
        if not _claim(session, message_id, moment):
            continue  # another worker has it, or a newer score already stood for it
        message = session.get(OutboxMessage, message_id, populate_existing=True)
        if message is None:
            continue
        message.attempts += 1
        previous_error = message.last_error
        try:
            HANDLERS[message.kind](message, Delivery(session=session, client=client, tokens=cache, now=moment))
        except DeliveryFailed as exc:
            message.last_error = exc.message
            if exc.retry and message.attempts < MAX_ATTEMPTS:
                message.next_attempt_at = moment + backoff(message.attempts)
                retried += 1
            else:
                message.status = "failed"
                failed += 1
            logger.warning("outbox message %s (%s) not delivered: %s", message.id, message.kind, exc.message)
        except Exception as exc:  # a fault of ours: keep the message and try again later
            session.rollback()
            message = session.get(OutboxMessage, message_id, populate_existing=True)
            if message is None:
                continue
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            message.next_attempt_at = moment + backoff(message.attempts)
            retried += 1
            logger.exception("outbox message %s (%s) failed", message_id, message.kind)
        else:
            message.status = "sent"
            message.sent_at = moment
            if message.last_error == previous_error:
                message.last_error = ""  # the failure of an earlier attempt is over; a handler's note stays
            sent += 1
        session.commit()
    return DeliveryReport(sent=sent, retried=retried, failed=failed)


def _one_pass(
    factory: sessionmaker[Session], client: httpx.Client, tokens: ags.AccessTokens, stop: asyncio.Event
) -> DeliveryReport:
    with factory() as session:
        return deliver_due(session=session, client=client, tokens=tokens, stopping=stop.is_set)


async def run_worker(
    *,
    factory: sessionmaker[Session],
    client: httpx.Client,
    tokens: ags.AccessTokens,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Deliver due messages every ``interval`` seconds until ``stop`` is set; one failing pass never ends it.

    A pass runs in a thread that cannot be interrupted: when ``stop`` is set it finishes the message in flight
    (recording its outcome) and claims no other, so shutting down neither waits for a whole batch nor loses one.
    """
    while not stop.is_set():
        try:
            await asyncio.to_thread(_one_pass, factory, client, tokens, stop)
        except Exception:
            logger.exception("an outbox pass failed; the next one runs in %s s", interval)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


@asynccontextmanager
async def outbox_worker(
    *, factory: sessionmaker[Session], client: httpx.Client, tokens: ags.AccessTokens, interval: float
) -> AsyncIterator[None]:
    """Run the delivery loop in the background while the block runs (none when ``interval`` is 0)."""
    if interval <= 0:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(factory=factory, client=client, tokens=tokens, interval=interval, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await task
