"""Deep linking: the published choices, the content item, and the signed response a platform accepts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from lti_services import DECK_SLUG, TOOL, deck_of, registered
from sqlalchemy.orm import Session

from app.db.models import utcnow
from app.services.errors import NotFound
from app.services.lti import claims as c
from app.services.lti.deep_linking import (
    Choice,
    DeepLinkRequest,
    choices,
    content_item,
    find_choice,
    response_token,
)
from app.services.lti.keys import rotate_key


def test_the_choices_are_the_published_decks_and_cards(session: Session, loaded: Path) -> None:
    deck_of(session, "two-students")
    found = choices(session=session)
    assert found.decks == [Choice("deck", DECK_SLUG, "Week one")]
    assert [card.slug for card in found.cards] == ["drawn-kl", "two-students"]  # by title: "A drawn KL", "Two students"
    assert find_choice(session=session, kind="card", slug="drawn-kl") == Choice("card", "drawn-kl", "A drawn KL")
    with pytest.raises(NotFound, match="no published deck 'nope'"):
        find_choice(session=session, kind="deck", slug="nope")
    with pytest.raises(NotFound, match="nothing of the kind 'file'"):
        find_choice(session=session, kind="file", slug="drawn-kl")


def test_a_deck_item_names_the_deck_and_carries_a_line_item() -> None:
    item = content_item(choice=Choice("deck", "week-one", "Week one"), tool=TOOL, with_lineitem=True)
    assert item == {
        "type": "ltiResourceLink",
        "title": "Week one",
        "url": "https://testserver/decks/week-one",
        "custom": {"deck": "week-one"},
        "lineItem": {"scoreMaximum": 100.0, "label": "Week one", "resourceId": "deck:week-one", "tag": "distill-tutor"},
    }
    card = content_item(choice=Choice("card", "drawn-kl", "A drawn KL"), tool=TOOL, with_lineitem=False)
    assert card["custom"] == {"card": "drawn-kl"} and "lineItem" not in card


def test_the_response_is_signed_by_the_tool_and_echoes_the_data(session: Session) -> None:
    platform, row = registered(session)
    rotate_key(session=session)  # the kid in the header is the active key's, after a rotation too
    request = DeepLinkRequest(
        platform_id=row.id,
        deployment_id=platform.deployment_id,
        return_url=f"{platform.issuer}/deep_links/return",
        data="opaque-platform-data-123",
        accept_lineitem=True,
        user_id=1,
    )
    item = content_item(choice=Choice("deck", "week-one", "Week one"), tool=TOOL, with_lineitem=True)
    token = response_token(session=session, request=request, items=[item], now=utcnow())
    claims = platform.verify_deep_linking_response(token)  # checked against the tool's published keys
    assert claims[c.CONTENT_ITEMS] == [item]
    assert claims[c.DL_DATA] == "opaque-platform-data-123"
    assert claims["aud"] == platform.issuer and claims["iss"] == platform.client_id

    without_data = response_token(session=session, request=replace(request, data=None), items=[], now=utcnow())
    assert c.DL_DATA not in platform.verify_deep_linking_response(without_data)
