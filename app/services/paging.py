"""Keyset pagination: opaque cursors that hold the position of a page's last row, and pages made with them.

Every list is read in a stable order over unique columns (``(title, slug)``, ``id``, ...); the next page is the
rows after the last one shown, found with ``WHERE (a, b) > (:a, :b)`` rather than OFFSET. So a client that walks
the pages while rows are written never sees a row twice or skips one, and a deep page costs what the first does.

    >>> page_of([1, 2, 3], limit=2, position=lambda n: [n]).next_cursor
    'WzJd'
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
MAX_CURSOR: Final = 200  # characters; a position of two short values is far shorter

T = TypeVar("T")
_NOT_OURS: Final = "is not a cursor of this list: send back the next_cursor of a page"


class CursorInvalid(ValueError):
    """A cursor that this server did not give out (or for another list)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to ``limit`` rows and the cursor of the next page (None on the last one)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for a position: URL-safe base64 of its JSON, padding dropped."""
    raw = json.dumps(list(values), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, size: int) -> list[Any]:
    """The position in ``cursor``; raises CursorInvalid unless it is a list of ``size`` values."""
    if len(cursor) > MAX_CURSOR:
        raise CursorInvalid("is too long to be a cursor of this list")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise CursorInvalid(_NOT_OURS) from exc
    if not isinstance(values, list) or len(values) != size:
        raise CursorInvalid(_NOT_OURS)
    return values


def _of_kind(value: Any, kind: type) -> bool:
    if kind is int:
        # JSON true is a Python bool, which is an int; no id is negative.
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, kind)


def cursor_position(cursor: str | None, kinds: Sequence[type]) -> tuple[Any, ...] | None:
    """The position in ``cursor``, one value of each kind (``(str, str)`` for a title and a slug); None for none.

    Raises CursorInvalid for a cursor of another shape, such as one given out by another list.
    """
    if cursor is None:
        return None
    values = decode_cursor(cursor, size=len(kinds))
    if not all(_of_kind(value, kind) for value, kind in zip(values, kinds, strict=True)):
        raise CursorInvalid(_NOT_OURS)
    return tuple(values)


def page_of(rows: Sequence[T], *, limit: int, position: Callable[[T], Sequence[Any]]) -> Page[T]:
    """The first ``limit`` of ``rows`` as a page; rows are read as ``limit + 1`` to learn whether more follow."""
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page(items=items, next_cursor=encode_cursor(position(items[-1])) if more else None)
