"""Card authoring: create and edit cards as immutable versions, publish them, preview and test their seeds.

Every save with a changed spec adds a ``CardVersion``; earlier versions stay, because submissions point at
the version they were answered on. Who may do what is decided here, not only in the routes: admins edit
everything, instructors the cards they own, and built-in cards (owner None) only admins.
``create_card(session=session, user=instructor, source=yaml_text)``
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, User
from app.domain.cards import CardSpec, Variant, spec_to_dict
from app.services.accounts import can_edit, is_admin, is_instructor
from app.services.bank import spec_hash
from app.services.catalog import stored_spec
from app.services.errors import NotFound, PermissionDenied
from app.services.seed_report import TEST_SEEDS, SeedIssue, SeedReport, test_seeds
from app.services.spec_yaml import (
    InvalidSpec,
    ParsedSpec,
    SpecMedia,
    SpecProblem,
    parse_spec_data,
    parse_spec_text,
    spec_to_yaml,
)
from app.services.submissions import variant_for

CardStatus = Literal["draft", "published", "archived"]
STATUSES: Final[tuple[CardStatus, ...]] = ("draft", "published", "archived")
LIST_LIMIT: Final = 200
HISTORY_LIMIT: Final = 500

SpecSource = str | Mapping[str, Any]  # a YAML or JSON text, or spec data already read (from a form)


@dataclass(frozen=True)
class AuthoredCard:
    """A card as its author sees it: status, owner and the current version's spec."""

    id: int
    slug: str
    title: str
    tags: tuple[str, ...]
    status: str
    builtin: bool
    owner_id: int | None
    owner_email: str | None
    version: int  # the current version's number
    version_id: int
    spec: CardSpec
    created_at: datetime
    updated_at: datetime
    editable: bool  # whether the user who asked may change it


@dataclass(frozen=True)
class SavedCard:
    """The outcome of a save: the card, and whether the save made a new version (an unchanged spec does not)."""

    card: AuthoredCard
    new_version: bool


@dataclass(frozen=True)
class CardListItem:
    slug: str
    title: str
    tags: tuple[str, ...]
    status: str
    builtin: bool
    owner_email: str | None
    version: int
    updated_at: datetime
    editable: bool


@dataclass(frozen=True)
class VersionInfo:
    number: int
    author_email: str | None  # None for versions loaded from files (the built-in bank, an import)
    created_at: datetime
    spec_hash: str
    current: bool


@dataclass(frozen=True)
class VersionDiff:
    old: int
    new: int
    lines: tuple[str, ...]  # a unified diff of the two versions' YAML; empty when they are the same


@dataclass(frozen=True)
class CardPreview:
    card: AuthoredCard
    version: int  # the version previewed (the current one unless another was asked for)
    spec: CardSpec
    variant: Variant  # with its answers: previews are for the card's authors


# --- permissions --------------------------------------------------------------------------------------


def _require_instructor(user: User) -> None:
    if not is_instructor(user):
        raise PermissionDenied("card authoring is for instructors")


def _can_view(user: User, card: Card) -> bool:
    # Instructors read every published card (to reuse and learn from them) and their own in any state.
    return is_instructor(user) and (card.status == "published" or can_edit(user, card.owner_id))


def _require_edit(user: User, card: Card) -> None:
    _require_instructor(user)
    if not can_edit(user, card.owner_id):
        if card.owner_id is None:
            raise PermissionDenied(f"'{card.slug}' is a built-in card: only an admin can change it")
        raise PermissionDenied(f"'{card.slug}' is another instructor's card: only its owner can change it")


# --- reading ------------------------------------------------------------------------------------------


def _card_row(session: Session, slug: str, *, for_update: bool = False) -> Card:
    query = select(Card).where(Card.slug == slug)
    if for_update:
        query = query.with_for_update()  # two saves at once must not both take the next version number
    card = session.scalars(query).one_or_none()
    if card is None:
        raise NotFound(f"no card '{slug}'")
    return card


def _visible_card(session: Session, user: User, slug: str) -> Card:
    _require_instructor(user)
    card = _card_row(session, slug)
    if not _can_view(user, card):
        raise PermissionDenied(f"'{slug}' is another instructor's unpublished card")
    return card


def _authored(session: Session, user: User, card: Card) -> AuthoredCard:
    version = session.get(CardVersion, card.current_version_id) if card.current_version_id else None
    if version is None:
        raise NotFound(f"card '{card.slug}' has no version")
    owner = session.get(User, card.owner_id) if card.owner_id is not None else None
    return AuthoredCard(
        id=card.id,
        slug=card.slug,
        title=card.title,
        tags=tuple(card.tags),
        status=card.status,
        builtin=card.builtin,
        owner_id=card.owner_id,
        owner_email=owner.email if owner else None,
        version=version.number,
        version_id=version.id,
        spec=stored_spec(version.spec),
        created_at=card.created_at,
        updated_at=card.updated_at,
        editable=can_edit(user, card.owner_id),
    )


def get_authored_card(*, session: Session, user: User, slug: str) -> AuthoredCard:
    """The card ``slug`` with its current spec, for an instructor who may see it."""
    return _authored(session, user, _visible_card(session, user, slug))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    """Whether a card's tags (a JSON list) hold ``tag``: JSONB containment, or SQLite's json_each."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(Card.tags, JSONB).contains([tag])
    each = func.json_each(Card.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def list_instructor_cards(
    *,
    session: Session,
    user: User,
    search: str = "",
    tag: str | None = None,
    status: CardStatus | None = None,
    limit: int = LIST_LIMIT,
) -> list[CardListItem]:
    """The cards ``user`` authors (every card for an admin), by title; search by title substring and tag."""
    _require_instructor(user)
    owner = User.__table__.alias("owner")
    query = (
        select(Card, CardVersion.number, owner.c.email)
        .join(CardVersion, CardVersion.id == Card.current_version_id)
        .outerjoin(owner, owner.c.id == Card.owner_id)
    )
    if not is_admin(user):
        query = query.where(Card.owner_id == user.id)
    if search.strip():
        query = query.where(Card.title.ilike(f"%{_escape_like(search.strip())}%", escape="\\"))
    if tag and tag.strip():
        query = query.where(_has_tag(session, tag.strip()))
    if status is not None:
        query = query.where(Card.status == status)
    query = query.order_by(func.lower(Card.title), Card.slug).limit(max(1, min(limit, LIST_LIMIT)))
    return [
        CardListItem(
            slug=card.slug,
            title=card.title,
            tags=tuple(card.tags),
            status=card.status,
            builtin=card.builtin,
            owner_email=email,
            version=number,
            updated_at=card.updated_at,
            editable=can_edit(user, card.owner_id),
        )
        for card, number, email in session.execute(query)
    ]


# --- saving -------------------------------------------------------------------------------------------


def parse_source(source: SpecSource, *, media: SpecMedia = "yaml") -> ParsedSpec:
    """A spec text (YAML, or JSON with ``media="json"``) or spec data, validated; raises InvalidSpec."""
    if isinstance(source, str):
        return parse_spec_text(source, media=media)
    return parse_spec_data(source)


def _slug_taken(parsed: ParsedSpec) -> InvalidSpec:
    slug = parsed.spec.slug
    return InvalidSpec([parsed.problem("slug", f"'{slug}' is already the slug of another card; choose another")])


def add_version(*, session: Session, card: Card, spec: CardSpec, author_id: int | None) -> CardVersion:
    """Give ``card`` a new current version holding ``spec`` (flushed, not committed); earlier ones stay."""
    last = session.scalar(select(func.max(CardVersion.number)).where(CardVersion.card_id == card.id))
    version = CardVersion(
        card_id=card.id, number=(last or 0) + 1, spec=spec_to_dict(spec), spec_hash=spec_hash(spec), author_id=author_id
    )
    session.add(version)
    session.flush()
    card.current_version_id = version.id
    card.title, card.tags = spec.title, list(spec.tags)
    return version


def create_card(
    *, session: Session, user: User, source: SpecSource, media: SpecMedia = "yaml", owner_id: int | None = None
) -> AuthoredCard:
    """A new draft card at version 1, owned by ``user`` (an admin may name another owner); InvalidSpec otherwise."""
    _require_instructor(user)
    parsed = parse_source(source, media=media)
    spec = parsed.spec
    if session.scalar(select(Card.id).where(Card.slug == spec.slug)) is not None:
        raise _slug_taken(parsed)
    owner = owner_id if owner_id is not None and is_admin(user) else user.id
    card = Card(slug=spec.slug, title=spec.title, tags=list(spec.tags), status="draft", builtin=False, owner_id=owner)
    try:
        session.add(card)
        session.flush()
        add_version(session=session, card=card, spec=spec, author_id=user.id)
        session.commit()
    except IntegrityError:
        # Another request created the same slug between the check and the insert.
        session.rollback()
        raise _slug_taken(parsed) from None
    return _authored(session, user, card)


def update_card(*, session: Session, user: User, slug: str, source: SpecSource, media: SpecMedia = "yaml") -> SavedCard:
    """Save a new version of ``slug`` when the spec changed (the slug itself cannot change)."""
    card = _card_row(session, slug, for_update=True)
    _require_edit(user, card)
    parsed = parse_source(source, media=media)
    spec = parsed.spec
    if spec.slug != slug:
        message = f"cannot change: this card is '{slug}' (create a new card to use '{spec.slug}')"
        raise InvalidSpec([parsed.problem("slug", message)])
    current = session.get(CardVersion, card.current_version_id) if card.current_version_id else None
    if current is not None and current.spec_hash == spec_hash(spec):
        session.rollback()  # releases the row lock; nothing changed
        return SavedCard(card=_authored(session, user, card), new_version=False)
    try:
        add_version(session=session, card=card, spec=spec, author_id=user.id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return SavedCard(card=_authored(session, user, card), new_version=True)


def set_status(*, session: Session, user: User, slug: str, status: CardStatus) -> AuthoredCard:
    """Publish, unpublish (back to draft) or archive a card; submissions are never touched.

    An archived card leaves the learners' lists; their submissions to it still show.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    card = _card_row(session, slug, for_update=True)
    _require_edit(user, card)
    if card.status != status:
        card.status = status
        session.commit()
    return _authored(session, user, card)


# --- versions -----------------------------------------------------------------------------------------


def history(
    *, session: Session, user: User, slug: str, limit: int = HISTORY_LIMIT, before: int | None = None
) -> list[VersionInfo]:
    """The versions of ``slug``, newest first, each with its author and date; ``before``: older than that number.

    ``limit`` may be one more than ``HISTORY_LIMIT``, so a caller paging can learn whether another page follows.
    """
    card = _visible_card(session, user, slug)
    query = (
        select(CardVersion.id, CardVersion.number, CardVersion.created_at, CardVersion.spec_hash, User.email)
        .outerjoin(User, User.id == CardVersion.author_id)
        .where(CardVersion.card_id == card.id)
        .order_by(CardVersion.number.desc())
        .limit(max(1, min(limit, HISTORY_LIMIT + 1)))
    )
    if before is not None:
        query = query.where(CardVersion.number < before)
    rows = session.execute(query)
    return [
        VersionInfo(
            number=row.number,
            author_email=row.email,
            created_at=row.created_at,
            spec_hash=row.spec_hash,
            current=row.id == card.current_version_id,
        )
        for row in rows
    ]


def _version_spec(session: Session, card: Card, number: int) -> CardSpec:
    data = session.scalar(select(CardVersion.spec).where(CardVersion.card_id == card.id, CardVersion.number == number))
    if data is None:
        raise NotFound(f"card '{card.slug}' has no version {number}")
    return stored_spec(data)


def version_spec(*, session: Session, user: User, slug: str, number: int) -> CardSpec:
    """The spec of version ``number`` of ``slug``."""
    return _version_spec(session, _visible_card(session, user, slug), number)


def diff_versions(*, session: Session, user: User, slug: str, old: int, new: int) -> VersionDiff:
    """A unified diff between the YAML of two versions of ``slug``."""
    card = _visible_card(session, user, slug)
    before = spec_to_yaml(_version_spec(session, card, old)).splitlines()
    after = spec_to_yaml(_version_spec(session, card, new)).splitlines()
    lines = difflib.unified_diff(before, after, f"version {old}", f"version {new}", lineterm="")
    return VersionDiff(old=old, new=new, lines=tuple(lines))


# --- preview and seed tests ---------------------------------------------------------------------------


def preview(*, session: Session, user: User, slug: str, seed: int = 0, version: int | None = None) -> CardPreview:
    """Variant ``seed`` of ``slug`` (current version, or ``version``) with its answers; raises InvalidSeed."""
    card = _visible_card(session, user, slug)
    authored = _authored(session, user, card)
    number = authored.version if version is None else version
    spec = authored.spec if version is None else _version_spec(session, card, version)
    return CardPreview(card=authored, version=number, spec=spec, variant=variant_for(spec, seed))


def test_card_seeds(*, session: Session, user: User, slug: str, seeds: int = TEST_SEEDS) -> SeedReport:
    """``test_seeds`` on the current version of ``slug``."""
    return test_seeds(get_authored_card(session=session, user=user, slug=slug).spec, seeds=seeds)


__all__ = [
    "AuthoredCard",
    "CardListItem",
    "CardPreview",
    "InvalidSpec",
    "SavedCard",
    "SeedIssue",
    "SeedReport",
    "SpecProblem",
    "VersionDiff",
    "VersionInfo",
    "add_version",
    "create_card",
    "diff_versions",
    "get_authored_card",
    "history",
    "list_instructor_cards",
    "parse_source",
    "preview",
    "set_status",
    "test_card_seeds",
    "test_seeds",
    "update_card",
    "version_spec",
]
