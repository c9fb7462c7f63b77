"""Cards to and from a folder of YAML files: ``tutor cards export DIR`` and ``tutor cards import PATH``.

Export writes the current version of every card, drafts and built-in ones included, as ``<slug>.yaml``;
importing those files again changes nothing (the specs hash the same), and into another database it makes
the same cards. Import validates every file before writing anything: a new slug becomes a draft card, a
changed spec a new version of the existing card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, User
from app.domain.cards import CardSpec
from app.services.authoring import add_version
from app.services.bank import CardFileError, card_files, spec_hash
from app.services.catalog import stored_spec
from app.services.spec_yaml import InvalidSpec, parse_spec_text, spec_to_yaml


@dataclass(frozen=True)
class ImportReport:
    """The slugs an import created, gave a new version, or left as they were."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


def export_cards(*, session: Session, folder: Path) -> list[Path]:
    """Write every card's current version to ``folder/<slug>.yaml`` (the folder is created); returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    query = (
        select(Card.slug, CardVersion.spec)
        .join(CardVersion, CardVersion.id == Card.current_version_id)
        .order_by(Card.slug)
        .execution_options(yield_per=200)  # a bank of any size, without holding every spec at once
    )
    written = []
    for slug, data in session.execute(query):
        path = folder / f"{slug}.yaml"
        path.write_text(spec_to_yaml(stored_spec(data)), encoding="utf-8")
        written.append(path)
    return written


def read_import(path: Path) -> list[tuple[Path, CardSpec]]:
    """The specs in the card files at ``path``; raises CardFileError listing ``file: line N: field: problem``."""
    specs: list[tuple[Path, CardSpec]] = []
    problems: list[str] = []
    first: dict[str, Path] = {}
    files = card_files(Path(path))
    if not files:
        raise CardFileError([f"{path}: path: no card files (*.yaml) found"])
    for file in files:
        try:
            spec = parse_spec_text(file.read_text(encoding="utf-8")).spec
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: file: cannot be read: {exc}")
            continue
        except InvalidSpec as exc:
            problems.extend(f"{file}: {problem}" for problem in exc.problems)
            continue
        if spec.slug in first:
            problems.append(f"{file}: slug: '{spec.slug}' is already the slug of {first[spec.slug]}")
            continue
        first[spec.slug] = file
        specs.append((file, spec))
    if problems:
        raise CardFileError(problems)
    return specs


def _import_one(session: Session, spec: CardSpec, owner: User | None) -> str:
    """Bring one card up to ``spec``; returns "created", "updated" or "unchanged"."""
    digest = spec_hash(spec)
    author_id = owner.id if owner else None
    card = session.scalars(select(Card).where(Card.slug == spec.slug)).one_or_none()
    outcome = "updated"
    if card is None:
        card = Card(slug=spec.slug, title=spec.title, tags=list(spec.tags), status="draft", owner_id=author_id)
        session.add(card)
        session.flush()
        outcome = "created"
    else:
        current = session.get(CardVersion, card.current_version_id) if card.current_version_id else None
        if current is not None and current.spec_hash == digest:
            return "unchanged"
    add_version(session=session, card=card, spec=spec, author_id=author_id)
    return outcome


def import_cards(*, session: Session, path: Path, owner: User | None = None) -> ImportReport:
    """Import card files in one transaction: new slugs as drafts owned by ``owner``, changed specs as versions.

    Existing cards keep their owner and status. ``import_cards(session=s, path=Path("exported/"))``
    """
    specs = read_import(Path(path))
    outcomes: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    try:
        for _, spec in specs:
            outcomes[_import_one(session, spec, owner)].append(spec.slug)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ImportReport(
        created=tuple(outcomes["created"]),
        updated=tuple(outcomes["updated"]),
        unchanged=tuple(outcomes["unchanged"]),
    )
