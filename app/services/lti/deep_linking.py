"""Deep linking: an instructor picks a deck or a card, and the tool answers the platform with a signed link.

The answer is an ``LtiDeepLinkingResponse`` JWT signed with the tool's active key: one ``ltiResourceLink``
content item whose URL and custom parameters name the deck (or card), with a line item for the grades, and the
request's ``data`` echoed unchanged. The browser posts it to the platform's return URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.integrations import LtiPlatform
from app.db.models import Card, Deck
from app.services.errors import NotFound
from app.services.lti import claims as c
from app.services.lti.ags import SCORE_MAXIMUM
from app.services.lti.keys import sign
from app.services.lti.tool import ToolUrls

RESPONSE_LIFETIME: Final = timedelta(minutes=10)
MAX_CHOICES: Final = 500
LINE_ITEM_TAG: Final = "distill-tutor"


@dataclass(frozen=True)
class DeepLinkRequest:
    """What answering a deep linking request needs, kept between the launch and the instructor's choice."""

    platform_id: int
    deployment_id: str
    return_url: str
    data: str | None
    accept_lineitem: bool
    user_id: int


@dataclass(frozen=True)
class Choice:
    kind: str  # "deck" | "card"
    slug: str
    title: str


@dataclass(frozen=True)
class Choices:
    decks: list[Choice]
    cards: list[Choice]


def choices(*, session: Session) -> Choices:
    """The published decks and cards an LMS link can open, by title."""
    decks = session.execute(
        select(Deck.slug, Deck.title)
        .where(Deck.status == "published")
        .order_by(Deck.title, Deck.slug)
        .limit(MAX_CHOICES)
    )
    cards = session.execute(
        select(Card.slug, Card.title)
        .where(Card.status == "published")
        .order_by(Card.title, Card.slug)
        .limit(MAX_CHOICES)
    )
    return Choices(
        decks=[Choice("deck", slug, title) for slug, title in decks],
        cards=[Choice("card", slug, title) for slug, title in cards],
    )


def find_choice(*, session: Session, kind: str, slug: str) -> Choice:
    """The published deck or card ``slug``; raises NotFound otherwise."""
    if kind == "deck":
        title = session.scalar(select(Deck.title).where(Deck.slug == slug, Deck.status == "published"))
    elif kind == "card":
        title = session.scalar(select(Card.title).where(Card.slug == slug, Card.status == "published"))
    else:
        raise NotFound(f"there is nothing of the kind {kind!r} to link to")
    if title is None:
        raise NotFound(f"no published {kind} '{slug}'")
    return Choice(kind, slug, title)


def content_item(*, choice: Choice, tool: ToolUrls, with_lineitem: bool) -> dict[str, Any]:
    """The ``ltiResourceLink`` content item opening ``choice``, with a line item for its grades."""
    url = tool.deck_url(choice.slug) if choice.kind == "deck" else tool.card_url(choice.slug)
    item: dict[str, Any] = {
        "type": "ltiResourceLink",
        "title": choice.title,
        "url": url,
        "custom": {choice.kind: choice.slug},
    }
    if with_lineitem:
        item["lineItem"] = {
            "scoreMaximum": SCORE_MAXIMUM,
            "label": choice.title,
            "resourceId": f"{choice.kind}:{choice.slug}",
            "tag": LINE_ITEM_TAG,
        }
    return item


def response_token(*, session: Session, request: DeepLinkRequest, items: list[dict[str, Any]], now: datetime) -> str:
    """The signed ``LtiDeepLinkingResponse`` for the platform: iss is our client id, aud the platform's issuer."""
    platform = session.get(LtiPlatform, request.platform_id)
    if platform is None:
        raise NotFound("the platform of this deep linking request is no longer registered")
    claims: dict[str, Any] = {
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + RESPONSE_LIFETIME).timestamp()),
        "nonce": secrets.token_urlsafe(24),
        c.MESSAGE_TYPE: c.DEEP_LINKING_RESPONSE,
        c.VERSION: c.LTI_VERSION,
        c.DEPLOYMENT_ID: request.deployment_id,
        c.CONTENT_ITEMS: items,
    }
    if request.data is not None:
        claims[c.DL_DATA] = request.data
    return sign(session=session, claims=claims, now=now)
