"""The card bank: YAML card files validated, checked for many seeds, and loaded as immutable versions (and decks)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion
from app.domain.cards import CardSpec, SpecError, check_spec, parse_spec, spec_to_dict
from app.services.deck_files import DeckLoadReport, load_decks, read_deck_files

CARD_SUFFIXES = (".yaml", ".yml")


class CardFileError(ValueError):
    """Card files that cannot be used; each entry of ``problems`` reads ``file: field: problem``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadReport:
    """The slugs of the cards a load created, gave a new version, or left as they were."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    decks: DeckLoadReport = field(default_factory=DeckLoadReport)  # the decks in the folder's decks/ folder


def spec_hash(spec: CardSpec) -> str:
    """sha256 of the canonical JSON form: equal specs hash equally, whatever the YAML's layout."""
    canonical = json.dumps(spec_to_dict(spec), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def card_files(path: Path) -> list[Path]:
    """The card files at ``path``: the file itself, or a folder's *.yaml and *.yml files in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in CARD_SUFFIXES)
    if path.is_file():
        return [path]
    raise CardFileError([f"{path}: path: no such file or folder"])


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "yaml"
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{path}: {where}: not valid YAML: {problem}"


def _read(path: Path) -> tuple[CardSpec | None, list[str]]:
    """The spec in one file, or every problem found in it."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: file: cannot be read: {exc}"]
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(path, exc)]
    if not isinstance(data, Mapping):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        return None, [f"{path}: card: expected a mapping with slug, title, params, prompt and parts; found {found}"]
    try:
        return parse_spec(data), []
    except SpecError as exc:
        return None, [f"{path}: {problem.field}: {problem.message}" for problem in exc.problems]


def read_card_file(path: Path) -> CardSpec:
    """Parse and validate one card file; raises CardFileError naming the file, the field and the problem."""
    spec, problems = _read(Path(path))
    if spec is None:
        raise CardFileError(problems)
    return spec


def _duplicate_slugs(specs: Iterable[tuple[Path, CardSpec]]) -> list[str]:
    first: dict[str, Path] = {}
    problems = []
    for path, spec in specs:
        if spec.slug in first:
            problems.append(f"{path}: slug: '{spec.slug}' is already the slug of {first[spec.slug]}")
        else:
            first[spec.slug] = path
    return problems


def _read_all(path: Path, *, seeds: int | None = None) -> tuple[list[tuple[Path, CardSpec]], list[str]]:
    """The specs at ``path`` and every problem, file by file; with ``seeds``, each spec is also checked."""
    files = card_files(Path(path))
    if not files:
        return [], [f"{path}: path: no card files (*.yaml) found"]
    specs: list[tuple[Path, CardSpec]] = []
    problems: list[str] = []
    for file in files:
        spec, file_problems = _read(file)
        if spec is not None:
            specs.append((file, spec))
            if seeds is not None:
                file_problems = [f"{file}: {p.field}: {p.message}" for p in check_spec(spec, seeds=seeds)]
        problems.extend(file_problems)
    return specs, problems + _duplicate_slugs(specs)


def check_card_files(path: Path, *, seeds: int = 200) -> list[str]:
    """Every problem in the card files at ``path`` as ``file: field: problem``, expressions run for many seeds.

    A folder's deck files (``decks/*.yaml``) are checked too, except that their cards exist (loading checks that).
    """
    try:
        problems = _read_all(Path(path), seeds=seeds)[1]
    except CardFileError as exc:
        return exc.problems
    return problems + (read_deck_files(Path(path) / "decks")[1] if Path(path).is_dir() else [])


def _upsert(session: Session, spec: CardSpec) -> str:
    """Bring one card up to ``spec``; returns "created", "updated" or "unchanged"."""
    digest = spec_hash(spec)
    card = session.scalars(select(Card).where(Card.slug == spec.slug)).one_or_none()
    if card is None:
        card = Card(slug=spec.slug, title=spec.title, tags=list(spec.tags), status="published", builtin=True)
        session.add(card)
        session.flush()
        outcome = "created"
    else:
        current = session.get(CardVersion, card.current_version_id) if card.current_version_id else None
        same_spec = current is not None and current.spec_hash == digest
        if same_spec and card.status == "published" and card.builtin:
            return "unchanged"
        outcome = "updated"
        if same_spec:
            card.status, card.builtin = "published", True
            return outcome
    # Versions are never edited: earlier ones stay, because submissions point at them.
    last = session.scalar(select(func.max(CardVersion.number)).where(CardVersion.card_id == card.id))
    version = CardVersion(card_id=card.id, number=(last or 0) + 1, spec=spec_to_dict(spec), spec_hash=digest)
    session.add(version)
    session.flush()
    card.current_version_id = version.id
    card.title, card.tags = spec.title, list(spec.tags)
    card.status, card.builtin = "published", True
    return outcome


def load_cards(*, session: Session, path: Path) -> LoadReport:
    """Load a card file or a folder of them as built-in, published cards, in one transaction.

    Every file is validated before anything is written; a card whose spec changed gets a new version.
    ``load_cards(session=session, path=Path("app/bank"))``
    """
    specs, problems = _read_all(Path(path))
    # A folder's decks/ subfolder holds decks of its cards, loaded after them in the same transaction.
    decks, deck_problems = read_deck_files(Path(path) / "decks") if Path(path).is_dir() else ([], [])
    if problems or deck_problems:
        raise CardFileError(problems + deck_problems)
    outcomes: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    try:
        for _, spec in specs:
            outcomes[_upsert(session, spec)].append(spec.slug)
        deck_report, deck_problems = load_decks(session=session, decks=decks)
        if deck_problems:
            raise CardFileError(deck_problems)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return LoadReport(
        created=tuple(outcomes["created"]),
        updated=tuple(outcomes["updated"]),
        unchanged=tuple(outcomes["unchanged"]),
        decks=deck_report,
    )
