"""The dependencies routes declare: ``SessionDep``, ``SettingsDep``, ``GuestIdDep``, ``LearnerDep``.

A route written as ``def submit(session: SessionDep, learner: LearnerDep)`` gets a session for this
request (the services commit it) and the caller's learner row: the signed-in user's (or the API token's),
else the guest's, created on the first request that needs one. Who the user is comes from ``app.web.auth``
(``OptionalUserDep``, ``UserDep``, ``InstructorDep``, ``AdminDep``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.db.models import Learner
from app.services.accounts import learner_for_user, user_learner
from app.services.learners import guest_learner
from app.web.auth import OptionalUserDep
from app.web.db import SessionDep, SettingsDep, app_settings, db_session
from app.web.guest import guest_id_for, known_guest_id, reissue_guest_id

__all__ = [
    "GuestIdDep",
    "LearnerDep",
    "OptionalLearnerDep",
    "SessionDep",
    "SettingsDep",
    "SlugPath",
    "app_settings",
    "current_learner",
    "db_session",
    "learner_key",
    "optional_learner",
]


def _guest(request: Request, session: SessionDep) -> Learner:
    learner = guest_learner(session=session, guest_id=guest_id_for(request))
    if learner.user_id is None:
        return learner
    # This guest signed up or in since the cookie was issued: the history is the account's now, and a
    # guest cookie alone (a copy, a shared computer) must not reach it. Start a new guest.
    return guest_learner(session=session, guest_id=reissue_guest_id(request))


def current_learner(request: Request, session: SessionDep, user: OptionalUserDep) -> Learner:
    """The caller's learner row; a signed-in user gets their account's, a new guest gets a cookie and a row."""
    if user is not None:
        return learner_for_user(session=session, user=user)
    return _guest(request, session)


def optional_learner(request: Request, session: SessionDep, user: OptionalUserDep) -> Learner | None:
    """The caller's learner when there is one already; None for a first visit (nothing is created)."""
    if user is not None:
        return user_learner(session=session, user=user)
    guest_id = known_guest_id(request)
    if guest_id is None:
        return None
    learner = guest_learner(session=session, guest_id=guest_id)
    return learner if learner.user_id is None else None


def learner_key(request: Request, session: SessionDep, user: OptionalUserDep) -> str:
    """The key of the caller's own seeds: their learner's guest id, the same on every device once signed in."""
    if user is not None:
        return learner_for_user(session=session, user=user).guest_id
    return guest_id_for(request)


LearnerDep = Annotated[Learner, Depends(current_learner)]
OptionalLearnerDep = Annotated[Learner | None, Depends(optional_learner)]
# The seed key (``default_seed(guest_id=...)``): a guest's cookie id, or a signed-in user's learner's.
GuestIdDep = Annotated[str, Depends(learner_key)]

# A card's slug in a path: bounded like the column it is looked up in.
SlugPath = Annotated[str, Path(max_length=100, description="The card's slug, e.g. `evaluate-student-models`")]
