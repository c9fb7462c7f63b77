"""Learners: guests known by the id in their signed cookie, until accounts arrive."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Learner


def guest_learner(*, session: Session, guest_id: str) -> Learner:
    """The learner for ``guest_id``, created (and committed) on first sight."""
    learner = session.scalars(select(Learner).where(Learner.guest_id == guest_id)).one_or_none()
    if learner is not None:
        return learner
    learner = Learner(guest_id=guest_id)
    session.add(learner)
    try:
        session.commit()
    except IntegrityError:
        # Two first requests of the same guest raced; the other one created the row.
        session.rollback()
        return session.scalars(select(Learner).where(Learner.guest_id == guest_id)).one()
    return learner
