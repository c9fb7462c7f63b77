"""The dependencies routes declare: ``SessionDep``, ``SettingsDep``, ``GuestIdDep``, ``LearnerDep``.

A route written as ``def submit(session: SessionDep, learner: LearnerDep)`` gets a session for this
request (the services commit it) and the caller's learner row, created on the first request that needs one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import Learner
from app.services.learners import guest_learner
from app.web.guest import current_guest_id, known_guest_id


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def db_session(request: Request) -> Iterator[Session]:
    """One session per request, closed (and anything uncommitted rolled back) when the request ends."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(app_settings)]
SessionDep = Annotated[Session, Depends(db_session)]
GuestIdDep = Annotated[str, Depends(current_guest_id)]


def current_learner(session: SessionDep, guest_id: GuestIdDep) -> Learner:
    """The caller's learner row; a new guest gets a cookie and a row."""
    return guest_learner(session=session, guest_id=guest_id)


def optional_learner(request: Request, session: SessionDep) -> Learner | None:
    """The caller's learner when they bring a genuine cookie; None for a first visit (nothing is created)."""
    guest_id = known_guest_id(request)
    return None if guest_id is None else guest_learner(session=session, guest_id=guest_id)


LearnerDep = Annotated[Learner, Depends(current_learner)]
OptionalLearnerDep = Annotated[Learner | None, Depends(optional_learner)]

# A card's slug in a path: bounded like the column it is looked up in.
SlugPath = Annotated[str, Path(max_length=100, description="The card's slug, e.g. `evaluate-student-models`")]
