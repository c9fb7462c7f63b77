"""What a validated launch leaves behind: the LMS user's account, the course, the link, and the membership.

The LMS user (platform and ``sub``) becomes an account of their own, never one found by email: a platform may
assert any address, and matching on it would let one sign in as someone else. Their role follows the roles of
the launch (Instructor, TeachingAssistant or Administrator → instructor, anything else → learner); an
administrator of this tool stays one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.integrations import Course, LtiIdentity, LtiMembership, LtiResourceLink
from app.db.models import Card, Deck, User
from app.services.lti import claims as c
from app.services.lti.launch import Launch, LaunchError
from app.services.lti.tool import ToolUrls

# Not an argon2 hash, so no password ever matches it: these accounts sign in through their LMS only.
NO_PASSWORD: Final = "!lti"


@dataclass(frozen=True)
class LaunchResult:
    user: User
    course_id: int | None
    link_id: int | None  # our lti_resource_link row, for resource link launches
    deck_slug: str | None  # what the link opens
    card_slug: str | None


def role_for(launch: Launch) -> str:
    return "instructor" if c.teaches(list(launch.roles)) else "learner"


def synthetic_email(*, issuer: str, platform_id: int, subject: str) -> str:
    """An address for an LMS user who sent none: stable, unique, under the platform's host."""
    host = urlsplit(issuer).hostname or "lms.invalid"
    digest = hashlib.sha256(f"{platform_id}:{subject}".encode()).hexdigest()[:20]
    return f"lti-{digest}@{host}"


def _account(session: Session, launch: Launch) -> User:
    role = role_for(launch)
    identity = session.scalars(
        select(LtiIdentity).where(LtiIdentity.platform_id == launch.platform_id, LtiIdentity.subject == launch.subject)
    ).one_or_none()
    if identity is not None:
        user = session.get(User, identity.user_id)
        if user is None:  # pragma: no cover - the foreign key keeps the user
            raise LaunchError("The account of this LMS user is missing.", status_code=409)
        if user.role != "admin":
            user.role = role
        return user
    email = launch.email
    if email is None or session.scalars(select(User.id).where(User.email == email)).first() is not None:
        email = synthetic_email(issuer=launch.issuer, platform_id=launch.platform_id, subject=launch.subject)
    user = User(email=email, password_hash=NO_PASSWORD, role=role, session_version=0)
    session.add(user)
    session.flush()
    session.add(LtiIdentity(platform_id=launch.platform_id, subject=launch.subject, user_id=user.id))
    return user


def _course(session: Session, launch: Launch) -> int | None:
    if launch.context_id is None:
        return None
    course = session.scalars(
        select(Course).where(Course.platform_id == launch.platform_id, Course.context_id == launch.context_id)
    ).one_or_none()
    if course is None:
        course = Course(platform_id=launch.platform_id, context_id=launch.context_id, title=launch.context_title)
        session.add(course)
        session.flush()
    elif launch.context_title and course.title != launch.context_title:
        course.title = launch.context_title
    return course.id


def _target(launch: Launch, tool: ToolUrls) -> tuple[str, str] | None:
    """("deck" | "card", slug) named by the custom parameters, else by the target_link_uri's path."""
    for kind in ("deck", "card"):
        slug = launch.custom.get(kind, "").strip()
        if slug:
            return kind, slug
    prefix = urlsplit(tool.base).path.rstrip("/")
    path = urlsplit(launch.target_link_uri).path.removeprefix(prefix).strip("/").split("/")
    if len(path) == 2 and path[0] in ("decks", "cards") and path[1]:
        return path[0][:-1], path[1]
    return None


def _link(session: Session, launch: Launch, course_id: int | None, tool: ToolUrls) -> LtiResourceLink:
    assert launch.resource_link_id is not None
    link = session.scalars(
        select(LtiResourceLink).where(
            LtiResourceLink.platform_id == launch.platform_id,
            LtiResourceLink.resource_link_id == launch.resource_link_id,
        )
    ).one_or_none()
    if link is None:
        link = LtiResourceLink(platform_id=launch.platform_id, resource_link_id=launch.resource_link_id)
        session.add(link)
    link.deployment_id = launch.deployment_row_id
    link.course_id = course_id
    if launch.lineitem_url is not None:
        link.lineitem_url = launch.lineitem_url
    target = _target(launch, tool)
    if target is not None:
        kind, slug = target
        model = Deck if kind == "deck" else Card
        found = session.scalars(select(model.id).where(model.slug == slug)).first()
        if found is None:
            raise LaunchError(f"This link opens the {kind} '{slug}', which does not exist here.", status_code=404)
        link.deck_id, link.card_id = (found, None) if kind == "deck" else (None, found)
    session.flush()
    return link


def _member(session: Session, link_id: int, user_id: int) -> None:
    known = session.scalars(
        select(LtiMembership.id).where(LtiMembership.resource_link_id == link_id, LtiMembership.user_id == user_id)
    ).first()
    if known is None:
        session.add(LtiMembership(resource_link_id=link_id, user_id=user_id))


def complete_launch(*, session: Session, launch: Launch, tool: ToolUrls) -> LaunchResult:
    """Record the launch's account, course, link and membership, together with its nonce; commits."""
    try:
        user = _account(session, launch)
        course_id = _course(session, launch)
        deck_slug = card_slug = None
        link_id = None
        if launch.message_type == c.RESOURCE_LINK_REQUEST:
            link = _link(session, launch, course_id, tool)
            link_id = link.id
            _member(session, link.id, user.id)
            if link.deck_id is not None:
                deck_slug = session.scalar(select(Deck.slug).where(Deck.id == link.deck_id))
            if link.card_id is not None:
                card_slug = session.scalar(select(Card.slug).where(Card.id == link.card_id))
        session.commit()
    except IntegrityError as exc:
        # The same user, course or link was first seen by a launch running at the same moment.
        session.rollback()
        raise LaunchError("Another launch was setting up the same account at the same moment; launch again.") from exc
    except BaseException:
        session.rollback()
        raise
    return LaunchResult(user=user, course_id=course_id, link_id=link_id, deck_slug=deck_slug, card_slug=card_slug)
