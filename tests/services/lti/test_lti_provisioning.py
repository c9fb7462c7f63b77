"""What a launch records: the account and its role, the course, the link and what it opens, the membership."""

from __future__ import annotations

from pathlib import Path

import pytest
from lti_platform import INSTRUCTOR, LEARNER
from lti_services import DECK_SLUG, deck_of, launched, registered
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.integrations import Course, LtiIdentity, LtiMembership, LtiResourceLink
from app.db.models import User
from app.services.accounts import authenticate, create_user
from app.services.lti.launch import LaunchError

ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership#TeachingAssistant"


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        ((LEARNER,), "learner"),
        ((INSTRUCTOR,), "instructor"),
        ((TEACHING_ASSISTANT,), "instructor"),
        ((ADMINISTRATOR,), "instructor"),
        ((), "learner"),
    ],
)
def test_the_account_role_follows_the_lms_roles(session: Session, roles: tuple[str, ...], role: str) -> None:
    _, row = registered(session)
    result = launched(session, row, roles=roles)
    assert result.user.role == role


def test_one_account_per_lms_user_whose_role_follows_the_latest_launch(session: Session) -> None:
    _, row = registered(session)
    first = launched(session, row, roles=(LEARNER,))
    second = launched(session, row, roles=(INSTRUCTOR,), resource_link_id="link-2")
    assert second.user.id == first.user.id
    assert second.user.role == "instructor"
    assert session.scalar(select(func.count()).select_from(LtiIdentity)) == 1
    third = launched(session, row, roles=(LEARNER,))
    assert third.user.role == "learner"


def test_an_administrator_stays_one(session: Session) -> None:
    _, row = registered(session)
    user = launched(session, row).user
    user.role = "admin"
    session.commit()
    assert launched(session, row, roles=(LEARNER,)).user.role == "admin"


def test_the_account_has_the_lms_email_and_no_password(session: Session) -> None:
    _, row = registered(session)
    user = launched(session, row).user
    assert user.email == "ada@learners.example.edu"
    assert authenticate(session=session, email=user.email, password=user.password_hash) is None


def test_an_email_already_taken_is_never_taken_over(session: Session) -> None:
    _, row = registered(session)
    local = create_user(session=session, email="ada@learners.example.edu", password="a long test password")
    user = launched(session, row).user
    assert user.id != local.id
    assert user.email.startswith("lti-") and user.email.endswith("@lms.example.edu")


def test_without_an_email_the_address_is_made_under_the_platform_host(session: Session) -> None:
    _, row = registered(session)
    first = launched(session, row, email=None, subject="user-a").user
    second = launched(session, row, email=None, subject="user-b").user
    assert first.email.endswith("@lms.example.edu") and second.email.endswith("@lms.example.edu")
    assert first.email != second.email


def test_the_context_becomes_a_course(session: Session) -> None:
    _, row = registered(session)
    first = launched(session, row)
    renamed = launched(session, row, context_title="KD 101 (spring)")
    assert first.course_id is not None and renamed.course_id == first.course_id
    course = session.get(Course, first.course_id)
    assert course is not None and course.title == "KD 101 (spring)" and course.context_id == "course-7"
    assert launched(session, row, context_id=None).course_id is None


def test_the_link_opens_the_deck_its_custom_parameter_names(session: Session, loaded: Path) -> None:
    _, row = registered(session)
    deck = deck_of(session, "two-students", "drawn-kl")
    lineitem = "https://lms.example.edu/api/lti/courses/7/line_items/1"
    result = launched(session, row, custom={"deck": DECK_SLUG}, lineitem_url=lineitem)
    assert result.deck_slug == DECK_SLUG and result.card_slug is None
    link = session.get(LtiResourceLink, result.link_id)
    assert link is not None
    assert (link.deck_id, link.card_id, link.lineitem_url, link.course_id) == (
        deck.id,
        None,
        lineitem,
        result.course_id,
    )
    # Launched again without the parameter (and without AGS), the link keeps what it opens and where grades go.
    again = launched(session, row)
    assert again.link_id == result.link_id and again.deck_slug == DECK_SLUG
    session.refresh(link)
    assert link.lineitem_url == lineitem
    assert session.scalar(select(func.count()).select_from(LtiMembership)) == 1


def test_the_target_link_uri_can_name_a_card(session: Session, loaded: Path) -> None:
    _, row = registered(session)
    result = launched(session, row, target_link_uri="https://testserver/cards/drawn-kl")
    assert (result.deck_slug, result.card_slug) == (None, "drawn-kl")


def test_a_link_to_a_missing_deck_is_refused_and_nothing_is_kept(session: Session) -> None:
    _, row = registered(session)
    with pytest.raises(LaunchError, match="the deck 'no-such-deck', which does not exist") as raised:
        launched(session, row, custom={"deck": "no-such-deck"})
    assert raised.value.status_code == 404
    assert session.scalar(select(func.count()).select_from(User)) == 0
    assert session.scalar(select(func.count()).select_from(LtiResourceLink)) == 0


def test_each_user_of_a_link_is_a_member(session: Session) -> None:
    _, row = registered(session)
    launched(session, row, subject="a")
    launched(session, row, subject="b")
    launched(session, row, subject="a")
    members = session.scalar(select(func.count()).select_from(LtiMembership))
    assert members == 2
