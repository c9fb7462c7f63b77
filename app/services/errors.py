"""Errors the services raise for callers to turn into answers (a 404, a form message)."""

from __future__ import annotations


class NotFound(LookupError):
    """A card, version or submission that does not exist, is not published, or is not the caller's."""


class InvalidSeed(ValueError):
    """A seed that gives no variant of a card (out of range, or the card's constraints cannot be met)."""
