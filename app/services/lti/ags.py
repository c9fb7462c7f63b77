"""Assignment and Grade Services: access tokens from the platform, and learners' scores queued and posted.

A score is queued in the outbox in the transaction that changed it (``queue_submission_scores`` from a
submission or a manual grade) and posted later by the outbox: ``POST {lineitem}/scores`` with an access token
that the platform gives for a JWT signed with the tool's key (the client-credentials grant), cached until it
expires.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.orm import Session

from app.db.integrations import LtiIdentity, LtiMembership, LtiPlatform, LtiResourceLink, OutboxMessage
from app.db.models import Deck, Learner, Submission, utcnow
from app.services.engine_cache import EngineCache, forget_on_change, session_engine
from app.services.lti import claims as c
from app.services.lti.keys import sign
from app.services.scores import card_scores_for_learner, deck_score

SCORE_MAXIMUM: Final = 100.0  # a deck or card score of 0..1 is posted as 0..100
ASSERTION_LIFETIME: Final = timedelta(minutes=5)
DEFAULT_TOKEN_LIFETIME: Final = timedelta(hours=1)
TOKEN_MARGIN: Final = timedelta(seconds=60)  # a token this close to expiry is not used: it may lapse on the way
KIND: Final = "lti_score"
MAX_LINKS: Final = 100  # links one score goes to (a deck placed in several courses)


class AgsError(Exception):
    """A token request or score post that failed; ``retry`` when trying again later may succeed."""

    def __init__(self, message: str, *, retry: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.status = status  # the HTTP status answered, None when there was no answer


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: datetime


class AccessTokens:
    """Access tokens by platform and scope, reused until shortly before they expire (thread-safe)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[int, str], _Token] = {}
        self._lock = threading.Lock()

    def get(self, platform_id: int, scope: str, now: datetime) -> str | None:
        with self._lock:
            token = self._tokens.get((platform_id, scope))
        return token.value if token is not None and now < token.expires_at - TOKEN_MARGIN else None

    def put(self, platform_id: int, scope: str, value: str, expires_at: datetime) -> None:
        with self._lock:
            self._tokens[(platform_id, scope)] = _Token(value, expires_at)

    def forget(self, platform_id: int, scope: str) -> None:
        with self._lock:
            self._tokens.pop((platform_id, scope), None)


def _status_error(what: str, response: httpx.Response) -> AgsError:
    body = response.text[:500].strip()
    retry = response.status_code == 429 or response.status_code >= 500
    return AgsError(
        f"{what} answered {response.status_code}: {body or '(no body)'}", retry=retry, status=response.status_code
    )


# --- access tokens ---------------------------------------------------------------------------------------


def client_assertion(*, session: Session, platform: LtiPlatform, now: datetime) -> str:
    """The signed JWT that authenticates the tool at the platform's token endpoint (RFC 7523)."""
    claims = {
        "iss": platform.client_id,
        "sub": platform.client_id,
        "aud": platform.token_url,
        "iat": int(now.timestamp()),
        "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        "jti": secrets.token_urlsafe(24),
    }
    return sign(session=session, claims=claims, now=now)


def access_token(
    *,
    session: Session,
    client: httpx.Client,
    platform: LtiPlatform,
    tokens: AccessTokens,
    now: datetime,
    scope: str = c.AGS_SCORE_SCOPE,
) -> str:
    """A bearer token for ``scope`` at ``platform``: the cached one, else a new one from its token endpoint."""
    cached = tokens.get(platform.id, scope, now)
    if cached is not None:
        return cached
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": c.CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(session=session, platform=platform, now=now),
        "scope": scope,
    }
    try:
        response = client.post(platform.token_url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise AgsError(f"the token endpoint {platform.token_url} could not be reached ({exc})", retry=True) from exc
    if response.status_code != 200:
        raise _status_error("the token endpoint", response)
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise AgsError("the token endpoint answered something that is not JSON", retry=True) from exc
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise AgsError("the token endpoint's answer has no access_token", retry=False)
    lifetime = body.get("expires_in")
    expires_in = (
        timedelta(seconds=lifetime)
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0
        else DEFAULT_TOKEN_LIFETIME
    )
    tokens.put(platform.id, scope, value, now + expires_in)
    return value


# --- scores ---------------------------------------------------------------------------------------------------


def scores_url(lineitem_url: str) -> str:
    """``{lineitem}/scores``, keeping the line item's query (Moodle puts the tool's type id there)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores", parts.query, ""))


def timestamp(moment: datetime) -> str:
    """ISO 8601 with milliseconds and the zone, as the score service asks: ``2026-11-29T18:52:03.120Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score_payload(*, user_id: str, score: float, completed: bool, pending: bool, moment: datetime) -> dict[str, Any]:
    """The score service's JSON for a score in 0..1 of the platform user ``user_id``."""
    return {
        "userId": user_id,
        "scoreGiven": round(max(0.0, min(1.0, score)) * SCORE_MAXIMUM, 4),
        "scoreMaximum": SCORE_MAXIMUM,
        "activityProgress": "Completed" if completed else "InProgress",
        # Written answers wait for an instructor: the platform shows the grade as not final yet.
        "gradingProgress": "PendingManual" if pending else "FullyGraded",
        "timestamp": timestamp(moment),
    }


def post_score(*, client: httpx.Client, url: str, token: str, payload: dict[str, Any]) -> None:
    """POST one score; raises AgsError (``retry`` for 429, 5xx and a platform out of reach)."""
    try:
        response = client.post(
            url,
            content=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": c.SCORE_MEDIA_TYPE, "Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        raise AgsError(f"the score service {url} could not be reached ({exc})", retry=True) from exc
    if response.status_code == 401:
        # The token may have been revoked before its time: the next attempt fetches a new one.
        raise AgsError(f"the score service refused the access token: {response.text[:300]}", retry=True, status=401)
    if not 200 <= response.status_code < 300:
        raise _status_error("the score service", response)


def deliver(
    *,
    session: Session,
    client: httpx.Client,
    platform: LtiPlatform,
    url: str,
    payload: dict[str, Any],
    tokens: AccessTokens,
    now: datetime,
) -> None:
    """Post ``payload`` to ``url`` with a token from ``tokens`` (a refused token is forgotten for next time)."""
    token = access_token(session=session, client=client, platform=platform, tokens=tokens, now=now)
    try:
        post_score(client=client, url=url, token=token, payload=payload)
    except AgsError as exc:
        if exc.status == 401:
            tokens.forget(platform.id, c.AGS_SCORE_SCOPE)
        raise


# --- queueing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Standing:
    score: float
    completed: bool
    pending: bool


def _deck_standing(session: Session, deck: Deck, learner_id: int) -> _Standing:
    cards = card_scores_for_learner(session=session, deck=deck, learner_id=learner_id)
    return _Standing(
        score=deck_score(cards),
        completed=bool(cards) and all(card.attempts > 0 for card in cards),
        pending=any(card.pending for card in cards),
    )


def _card_standing(session: Session, card_id: int, learner_id: int) -> _Standing:
    best, pending, count = session.execute(
        select(
            func.max(Submission.score),
            func.max(case((Submission.pending, 1), else_=0)),
            func.count(),
        ).where(Submission.learner_id == learner_id, Submission.card_id == card_id, Submission.deck_id.is_(None))
    ).one()
    return _Standing(score=float(best or 0.0), completed=count > 0, pending=bool(pending))


def _queue(
    session: Session, *, user_id: int, links: list[tuple[LtiResourceLink, str]], standing: _Standing, now: datetime
) -> int:
    for link, subject in links:
        assert link.lineitem_url is not None
        payload = score_payload(
            user_id=subject, score=standing.score, completed=standing.completed, pending=standing.pending, moment=now
        )
        session.add(
            OutboxMessage(
                kind=KIND,
                target_url=scores_url(link.lineitem_url),
                payload=payload,
                platform_id=link.platform_id,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(links)


def _links_query(target: Any) -> Select[LtiResourceLink, str]:
    return (
        select(LtiResourceLink, LtiIdentity.subject)
        .join(LtiMembership, LtiMembership.resource_link_id == LtiResourceLink.id)
        .join(
            LtiIdentity,
            (LtiIdentity.user_id == LtiMembership.user_id) & (LtiIdentity.platform_id == LtiResourceLink.platform_id),
        )
        .where(LtiMembership.user_id == bindparam("user_id"), target, LtiResourceLink.lineitem_url.is_not(None))
        .order_by(LtiResourceLink.id)
        .limit(MAX_LINKS)
    )


# Built once: every submission runs one of them (most often to find no link), and building these joins costs
# several times more than running them.
_DECK_LINKS = _links_query(LtiResourceLink.deck_id == bindparam("target"))
_CARD_LINKS = _links_query(LtiResourceLink.card_id == bindparam("target"))
_LEARNER_USER = select(Learner.user_id).where(Learner.id == bindparam("learner_id"))


def _graded_links(
    session: Session, *, user_id: int, deck_id: int | None, card_id: int | None
) -> list[tuple[LtiResourceLink, str]]:
    """The user's launched links to this deck (or card) that have a line item, each with the user's LMS ``sub``."""
    query, target = (_DECK_LINKS, deck_id) if deck_id is not None else (_CARD_LINKS, card_id)
    rows = session.execute(query, {"user_id": user_id, "target": target})
    return [(link, subject) for link, subject in rows]


def queue_deck_score(*, session: Session, user_id: int, deck_id: int, now: datetime | None = None) -> int:
    """Queue the user's deck score for every launched link to the deck with a line item; returns how many.

    Adds outbox rows to the caller's transaction without committing, so the score is sent if and only if the
    change that caused it is committed.
    """
    links = _graded_links(session, user_id=user_id, deck_id=deck_id, card_id=None)
    if not links:
        return 0
    learner_id = session.scalar(select(Learner.id).where(Learner.user_id == user_id))
    deck = session.get(Deck, deck_id)
    if learner_id is None or deck is None:
        return 0
    session.flush()  # the caller's new submission counts in the score
    return _queue(
        session, user_id=user_id, links=links, standing=_deck_standing(session, deck, learner_id), now=now or utcnow()
    )


def _linked_learners(target: Any) -> Select[Any]:
    """Which of some learners launched graded links to which of some cards (or decks), ``target`` the column."""
    return (
        select(Learner.id, target)
        .distinct()
        .join(LtiMembership, LtiMembership.user_id == Learner.user_id)
        .join(LtiResourceLink, LtiResourceLink.id == LtiMembership.resource_link_id)
        .where(
            Learner.id.in_(bindparam("learner_ids", expanding=True)),
            target.in_(bindparam("targets", expanding=True)),
            LtiResourceLink.lineitem_url.is_not(None),
        )
    )


def _graded(target: Any) -> Select[Any]:
    return select(target).distinct().where(target.is_not(None), LtiResourceLink.lineitem_url.is_not(None))


# Built once, like the link queries: every batch of stored submissions asks whether any of them has a link to
# its card, and a re-grade asks it of its decks too.
_LINKED_LEARNERS = {
    "card": _linked_learners(LtiResourceLink.card_id),
    "deck": _linked_learners(LtiResourceLink.deck_id),
}

# The cards (and decks) that have any launched link with a line item, kept for a moment: most batches of
# submissions are to cards no LMS grades, and then need no query at all. A link launched for the first time
# through another server is seen here within about a second; a learner's own launch comes long before their
# first answer.
_GRADED = {"card": _graded(LtiResourceLink.card_id), "deck": _graded(LtiResourceLink.deck_id)}
graded_targets: EngineCache[str, frozenset[int]] = EngineCache(seconds=1.0, size=2, grace=0.5)
forget_on_change(graded_targets, LtiResourceLink)


def _linked(session: Session, kind: str, *, learner_ids: set[int], target_ids: set[int]) -> set[tuple[int, int]]:
    """The ``(learner_id, card_id)`` (or ``deck_id``, by ``kind``) pairs among these with a graded link."""
    graded = graded_targets.fetch(
        session_engine(session), kind, lambda: frozenset(ident for ident in session.scalars(_GRADED[kind]) if ident)
    )
    targets = target_ids & graded if learner_ids else set()
    if not targets:
        return set()
    rows = session.execute(_LINKED_LEARNERS[kind], {"learner_ids": sorted(learner_ids), "targets": sorted(targets)})
    return {(learner_id, target) for learner_id, target in rows if target is not None}


def learners_with_card_links(session: Session, *, learner_ids: set[int], card_ids: set[int]) -> set[tuple[int, int]]:
    """The ``(learner_id, card_id)`` pairs among these whose learner launched a graded link to the card itself.

    One query for a whole batch of submissions when some of its cards have graded links, none when none has;
    ``queue_submission_scores`` then runs only for the submissions that have a score to send.
    """
    return _linked(session, "card", learner_ids=learner_ids, target_ids=card_ids)


def queue_submission_scores(
    *, session: Session, learner_id: int, card_id: int, deck_id: int | None, now: datetime | None = None
) -> int:
    """Queue the scores a graded (or newly hand-graded) submission changes; a guest's changes none.

    A deck submission changes the learner's deck score; a card answered outside a deck changes their best on
    that card, for links that open the card itself. Adds to the caller's transaction without committing.
    """
    user_id = session.scalar(_LEARNER_USER, {"learner_id": learner_id})
    if user_id is None:
        return 0
    if deck_id is not None:
        return queue_deck_score(session=session, user_id=user_id, deck_id=deck_id, now=now)
    links = _graded_links(session, user_id=user_id, deck_id=None, card_id=card_id)
    if not links:
        return 0
    session.flush()
    return _queue(
        session,
        user_id=user_id,
        links=links,
        standing=_card_standing(session, card_id, learner_id),
        now=now or utcnow(),
    )


def queue_regraded_scores(
    *, session: Session, changed: Collection[tuple[int, int, int | None]], now: datetime | None = None
) -> int:
    """Queue the scores that re-graded submissions changed; ``changed`` holds each one's ``(learner_id, card_id,
    deck_id)``. One score per learner and deck, and per learner and card answered outside decks, that a graded
    link shows; no query beyond the cached lists of graded cards and decks when no such link exists. Adds to the
    caller's transaction without committing, so the scores go if and only if the new grades are committed.
    """
    practice = {(learner, card) for learner, card, deck in changed if deck is None}
    in_decks = {(learner, deck) for learner, _card, deck in changed if deck is not None}
    cards = practice & _linked(
        session, "card", learner_ids={pair[0] for pair in practice}, target_ids={pair[1] for pair in practice}
    )
    decks = in_decks & _linked(
        session, "deck", learner_ids={pair[0] for pair in in_decks}, target_ids={pair[1] for pair in in_decks}
    )
    moment = now or utcnow()
    queued = 0
    for learner_id, card_id in sorted(cards):
        queued += queue_submission_scores(
            session=session, learner_id=learner_id, card_id=card_id, deck_id=None, now=moment
        )
    for learner_id, deck_id in sorted(decks):
        user_id = session.scalar(_LEARNER_USER, {"learner_id": learner_id})
        if user_id is not None:
            queued += queue_deck_score(session=session, user_id=user_id, deck_id=deck_id, now=moment)
    return queued


__all__ = [
    "AccessTokens",
    "AgsError",
    "access_token",
    "client_assertion",
    "deliver",
    "learners_with_card_links",
    "post_score",
    "queue_deck_score",
    "queue_regraded_scores",
    "queue_submission_scores",
    "score_payload",
    "scores_url",
]
