"""Cursor pagination of the API's lists: ``?limit=&cursor=`` in, the next page's address out.

A list stays a JSON array; the way on is in the headers, as GitHub and many others do it: ``Link: <url>;
rel="next"`` (the same request with ``cursor`` set) and ``X-Next-Cursor`` (the cursor alone). The last page
has neither. A cursor is opaque: a client sends back what it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

from fastapi import Query, Request, Response

from app.services.paging import DEFAULT_LIMIT, MAX_LIMIT, CursorInvalid, cursor_position, page_of
from app.web.errors import ApiError

T = TypeVar("T")

NEXT_CURSOR_HEADER: Final = "X-Next-Cursor"

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many items, 1 to {MAX_LIMIT}", examples=[50])
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Where to go on from: the `X-Next-Cursor` header (or the `Link` header's next page) of the "
        "previous page; leave out for the first page",
    ),
]
PAGE_HEADERS: Final = {
    "Link": {
        "description": 'The next page, as `<url>; rel="next"`; absent on the last page',
        "schema": {"type": "string"},
    },
    NEXT_CURSOR_HEADER: {
        "description": "The cursor of the next page; absent on the last page",
        "schema": {"type": "string"},
    },
}
# The 200 response of a paged list: its headers documented.
PAGED: Final[dict[int | str, dict[str, Any]]] = {200: {"headers": PAGE_HEADERS}}

__all__ = [
    "DEFAULT_LIMIT",
    "PAGED",
    "PAGE_HEADERS",
    "CursorQuery",
    "LimitQuery",
    "bad_cursor",
    "keyset_page",
    "next_page",
    "parse_time",
]


def bad_cursor(exc: CursorInvalid) -> ApiError:
    """A 422 naming the ``cursor`` parameter."""
    return ApiError(422, [("cursor", str(exc))])


def next_page(request: Request, response: Response, next_cursor: str | None) -> None:
    """Point ``response`` at the page after this one, if there is one."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url}>; rel="next"'
    response.headers[NEXT_CURSOR_HEADER] = next_cursor


def keyset_page(
    request: Request,
    response: Response,
    *,
    limit: int,
    cursor: str | None,
    kinds: Sequence[type],
    fetch: Callable[[tuple[Any, ...] | None, int], Sequence[T]],
    position: Callable[[T], Sequence[Any]],
) -> list[T]:
    """One page of a list whose service reads rows after a position: decode, fetch, and point at the next page.

    ``kinds`` are the types of the position's values (``(str, str)`` for a title and a slug); ``fetch(after, n)``
    reads up to ``n`` rows after ``after`` (None: from the start); ``position(row)`` is the row's position.
    A cursor of another shape is a 422 naming ``cursor``.
    """
    try:
        after = cursor_position(cursor, kinds)
    except CursorInvalid as exc:
        raise bad_cursor(exc) from exc
    page = page_of(fetch(after, limit + 1), limit=limit, position=position)
    next_page(request, response, page.next_cursor)
    return page.items


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with a time zone (``2026-01-31T12:00:00Z``); 422 naming ``name`` otherwise."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ApiError(422, [(name, "is not an ISO 8601 time; write it like 2026-01-31T12:00:00Z")]) from exc
    if moment.tzinfo is None:
        raise ApiError(422, [(name, "needs a time zone, like 2026-01-31T12:00:00Z or +01:00")])
    return moment
