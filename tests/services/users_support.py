"""Accounts made straight in the database for the service tests (no password is ever checked)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.models import User


def make_user(session: Session, role: str, email: str) -> User:
    """A committed account with ``role``."""
    user = User(email=email, password_hash="not-a-hash", role=role)
    session.add(user)
    session.commit()
    return user
