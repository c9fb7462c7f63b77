"""What a stored submission looks like to the rest of the app: a line in a list, and the whole of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.cards import CardSpec, Variant
from app.domain.grading import Grade


@dataclass(frozen=True)
class SubmissionSummary:
    id: int
    slug: str
    title: str
    version: int
    seed: int
    created_at: datetime
    score: float
    pending: bool  # some parts (text) still wait for a person's grade


@dataclass(frozen=True)
class SubmissionView(SubmissionSummary):
    """A stored submission with what it takes to show it: the spec and variant it answered, and its grade."""

    answers: Mapping[str, Any]  # as the learner sent them
    grade: Grade
    spec: CardSpec
    variant: Variant
    deck_slug: str | None = None  # answered inside this deck (an assignment), else free practice
    attempt: int = 1  # 1, 2, ... per learner, card and deck
