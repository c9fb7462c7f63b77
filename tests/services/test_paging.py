"""Keyset pagination: cursors hold a typed position and round-trip; a page knows whether another follows."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.services.bank import load_cards
from app.services.catalog import list_cards
from app.services.paging import CursorInvalid, cursor_position, encode_cursor, page_of

WriteCard = Callable[..., Path]


@pytest.mark.parametrize(
    ("position", "kinds"),
    [
        (["Bits versus Nats", "bits-versus-nats"], (str, str)),
        ([41], (int,)),
        (["2026-01-31T12:00:00+00:00", 7], (str, int)),
    ],
)
def test_a_cursor_gives_back_its_position(position: list[object], kinds: tuple[type, ...]) -> None:
    cursor = encode_cursor(position)

    assert cursor_position(cursor, kinds) == tuple(position)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # safe in a URL as it is


def test_no_cursor_is_the_first_page() -> None:
    assert cursor_position(None, (int,)) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "x" * 201,
        encode_cursor([1, 2]),  # another list's shape
        encode_cursor(["a"]),  # a text where an id goes
        encode_cursor([True]),  # JSON true is no id
        encode_cursor([-1]),
        base64.urlsafe_b64encode(b'{"id": 1}').decode(),  # JSON, but not a list
    ],
)
def test_a_cursor_of_another_shape_is_refused(cursor: str) -> None:
    with pytest.raises(CursorInvalid):
        cursor_position(cursor, (int,))


def test_a_page_points_on_only_when_more_rows_follow() -> None:
    more = page_of([1, 2, 3], limit=2, position=lambda n: [n])
    last = page_of([1, 2], limit=2, position=lambda n: [n])
    empty = page_of([], limit=2, position=lambda n: [n])

    assert more.items == [1, 2] and cursor_position(more.next_cursor, (int,)) == (2,)
    assert last.items == [1, 2] and last.next_cursor is None
    assert empty.items == [] and empty.next_cursor is None


def test_cards_are_paged_after_a_position_and_filtered_by_a_whole_tag(
    session: Session, tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    # Two cards share a title, so the slug orders them; one tag is a prefix of another.
    for slug, title, tags in [
        ("c-1", "Same", ["kl", "distillation"]),
        ("c-2", "Same", ["kl"]),
        ("c-3", "Alpha", ["klx"]),
        ("c-4", "Zeta", []),
    ]:
        write_card(tmp_path / "bank", {**fixed_card, "slug": slug, "title": title, "tags": tags})
    load_cards(session=session, path=tmp_path / "bank")

    every = list_cards(session=session, learner_id=None)
    first = list_cards(session=session, learner_id=None, limit=2)
    rest = list_cards(session=session, learner_id=None, after=(first[-1].title, first[-1].slug))

    assert [c.slug for c in every] == ["c-3", "c-1", "c-2", "c-4"]
    assert [c.slug for c in first + rest] == [c.slug for c in every]
    assert [c.slug for c in list_cards(session=session, learner_id=None, tag="kl")] == ["c-1", "c-2"]
    assert [c.slug for c in list_cards(session=session, learner_id=None, tag="kl", limit=1, after=("Same", "c-1"))] == [
        "c-2"
    ]
    assert list_cards(session=session, learner_id=None, tag="k") == []
