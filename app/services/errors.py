"""Errors the services raise for callers to turn into answers (a 404, a form message)."""

from __future__ import annotations


class NotFound(LookupError):
    """A card, version or submission that does not exist, is not published, or is not the caller's."""


class InvalidSeed(ValueError):
    """A seed that gives no variant of a card (out of range, or the card's constraints cannot be met)."""


class Forbidden(PermissionError):
    """Something the caller may not see or change: another instructor's card or deck, or a learner at the gate."""


class PermissionDenied(Forbidden):
    """A user editing or viewing a card their role or ownership does not allow; answered like Forbidden (403)."""
