"""Shared set-up of the LTI service tests: the fake platform registered, a deck, and LMS users launched.

Plain functions rather than a ``conftest.py``, which would shadow the one in tests/services for other modules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lti_platform import LEARNER, FakePlatform
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.integrations import LtiDeployment, LtiPlatform
from app.db.models import User
from app.services.accounts import create_user
from app.services.deck_editing import create_deck
from app.services.decks import DeckInput, DeckView
from app.services.lti import claims as c
from app.services.lti.keys import published_keys
from app.services.lti.launch import Launch
from app.services.lti.platforms import register_platform
from app.services.lti.provisioning import LaunchResult, complete_launch
from app.services.lti.tool import ToolUrls

TOOL = ToolUrls.at("https://testserver")
DECK_SLUG = "week-one"


def registered(session: Session) -> tuple[FakePlatform, LtiPlatform]:
    """The fake platform (its tool keys read from this database) and its registration."""
    platform = FakePlatform(tool_keys=lambda: published_keys(session=session))
    row = register_platform(session=session, **platform.registration())
    return platform, row


def make_launch(session: Session, row: LtiPlatform, **changes: Any) -> Launch:
    """A validated resource link launch of a learner, with ``changes`` applied."""
    deployment = session.scalars(select(LtiDeployment).where(LtiDeployment.platform_id == row.id)).first()
    assert deployment is not None
    launch = Launch(
        platform_id=row.id,
        issuer=row.issuer,
        client_id=row.client_id,
        deployment_row_id=deployment.id,
        deployment_id=deployment.deployment_id,
        message_type=c.RESOURCE_LINK_REQUEST,
        subject="lms-user-42",
        roles=(LEARNER,),
        target_link_uri=TOOL.launch_url,
        email="ada@learners.example.edu",
        context_id="course-7",
        context_title="Knowledge Distillation 101",
        resource_link_id="link-1",
        resource_link_title="Week 1",
        lineitem_url=None,
        custom={},
    )
    return dataclasses.replace(launch, **changes)


def launched(session: Session, row: LtiPlatform, **changes: Any) -> LaunchResult:
    return complete_launch(session=session, launch=make_launch(session, row, **changes), tool=TOOL)


def instructor(session: Session, email: str = "teacher@example.org") -> User:
    return create_user(session=session, email=email, password="a long test password", role="instructor")


def deck_of(session: Session, *card_slugs: str, slug: str = DECK_SLUG, penalty: float = 0.0) -> DeckView:
    """A published deck of ``card_slugs`` owned by a new instructor."""
    data = DeckInput(slug=slug, title="Week one", cards=card_slugs, status="published", penalty_per_attempt=penalty)
    return create_deck(session=session, user=instructor(session), data=data)
