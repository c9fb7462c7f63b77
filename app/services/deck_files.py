"""Deck files: a deck as YAML (the same object the API takes as JSON), read and checked field by field.

```yaml
slug: course-foundations
title: Course foundations
cards: [evaluate-student-models, closest-student]
max_attempts: 3
penalty_per_attempt: 0.1
show_solution: after_correct
status: published
```
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import yaml
from sqlalchemy.orm import Session

from app.services.deck_editing import upsert_builtin_deck
from app.services.decks import DeckInput, DeckInvalid

DECK_FIELDS: Final = (
    "slug",
    "title",
    "description",
    "due_at",
    "cards",
    "max_attempts",
    "penalty_per_attempt",
    "show_solution",
    "status",
)
DECK_SUFFIXES: Final = (".yaml", ".yml")


@dataclass(frozen=True)
class DeckLoadReport:
    """The slugs of the decks a load created, changed, or left as they were."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


def _text(data: Mapping[str, Any], key: str, problems: list[tuple[str, str]], default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        problems.append((key, "must be text"))
        return default
    return value


def _due_at(value: Any, problems: list[tuple[str, str]]) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            problems.append(("due_at", f"'{value}' is not a date and time such as 2026-12-01T17:00:00+00:00"))
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        problems.append(("due_at", "needs a time and a time zone, e.g. 2026-12-01T17:00:00+00:00"))
        return None
    if not isinstance(value, datetime):
        problems.append(("due_at", "must be a date and time such as 2026-12-01T17:00:00+00:00"))
        return None
    return value


def deck_input(data: Mapping[Any, Any]) -> DeckInput:
    """A DeckInput from a mapping as YAML or JSON gives it; raises DeckInvalid naming each field at fault."""
    problems: list[tuple[str, str]] = []
    for key in data:
        if key not in DECK_FIELDS:
            close = difflib.get_close_matches(str(key), DECK_FIELDS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(DECK_FIELDS)}"
            problems.append((str(key), f"is not a known field ({hint})"))
    cards = data.get("cards", [])
    if not isinstance(cards, list) or not all(isinstance(card, str) for card in cards):
        problems.append(("cards", "must be a list of card slugs"))
        cards = []
    attempts = data.get("max_attempts")
    if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int)):
        problems.append(("max_attempts", "must be a whole number, or empty for unlimited"))
        attempts = None
    penalty = data.get("penalty_per_attempt", 0.0)
    if isinstance(penalty, bool) or not isinstance(penalty, int | float):
        problems.append(("penalty_per_attempt", "must be a number from 0 to 1"))
        penalty = 0.0
    found = DeckInput(
        slug=_text(data, "slug", problems),
        title=_text(data, "title", problems),
        description=_text(data, "description", problems),
        due_at=_due_at(data.get("due_at"), problems),
        cards=tuple(cards),
        max_attempts=attempts,
        penalty_per_attempt=float(penalty),
        show_solution=_text(data, "show_solution", problems, "always"),
        status=_text(data, "status", problems, "published"),
    )
    if problems:
        raise DeckInvalid(problems)
    return found


def deck_files(folder: Path) -> list[Path]:
    """The deck files in ``folder`` in name order; none when there is no such folder."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in DECK_SUFFIXES)


def read_deck_files(folder: Path) -> tuple[list[tuple[Path, DeckInput]], list[str]]:
    """The decks in ``folder`` and every problem as ``file: field: problem`` (the cards are checked on loading)."""
    decks: list[tuple[Path, DeckInput]] = []
    problems: list[str] = []
    for path in deck_files(folder):
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{path}: file: cannot be read as YAML: {exc}")
            continue
        if not isinstance(data, Mapping):
            problems.append(f"{path}: deck: expected a mapping with slug, title and cards")
            continue
        try:
            decks.append((path, deck_input(data)))
        except DeckInvalid as exc:
            problems.extend(f"{path}: {where}: {message}" for where, message in exc.problems)
    return decks, problems


def load_decks(*, session: Session, decks: list[tuple[Path, DeckInput]]) -> tuple[DeckLoadReport, list[str]]:
    """Write the built-in decks without committing (the caller commits them with the cards).

    Returns what was done and every problem as ``file: field: problem``.
    """
    outcomes: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    problems: list[str] = []
    for path, data in decks:
        try:
            outcomes[upsert_builtin_deck(session=session, data=data)].append(data.slug)
        except DeckInvalid as exc:
            problems.extend(f"{path}: {where}: {message}" for where, message in exc.problems)
    report = DeckLoadReport(
        created=tuple(outcomes["created"]),
        updated=tuple(outcomes["updated"]),
        unchanged=tuple(outcomes["unchanged"]),
    )
    return report, problems
