"""What the analytics give: a card's and a deck's statistics, part by part, as plain frozen records.

``app.services.analytics`` computes them; the pages, the API and the charts read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.stat_formulas import Bucket


@dataclass(frozen=True)
class WrongAnswer:
    answer: str
    misconception: str | None  # the code of the mistake the answer matched, e.g. ``reverse_kl``
    count: int


@dataclass(frozen=True)
class PartStats:
    key: str
    kind: str
    label: str
    answered: int  # submissions with this part
    graded: int  # of them with a score (text parts wait for a person)
    correct: int
    facility: float | None  # mean score of the graded answers: 1 = everyone right
    discrimination: float | None  # Pearson's r with the total; None with fewer than 2 pairs or no spread
    discrimination_n: int  # the pairs r is computed over
    wrong_answers: tuple[WrongAnswer, ...]


@dataclass(frozen=True)
class CardStats:
    slug: str
    title: str
    submissions: int
    learners: int
    mean_score: float | None
    pending: int  # submissions with a written part awaiting a grade
    parts: tuple[PartStats, ...]
    histogram: tuple[Bucket, ...]


@dataclass(frozen=True)
class DeckStats:
    slug: str
    title: str
    submissions: int
    learners: int
    mean_score: float | None  # over the deck's submissions
    mean_total: float | None  # over the learners' deck scores
    pending: int
    histogram: tuple[Bucket, ...]  # of submission scores
    total_histogram: tuple[Bucket, ...]  # of the learners' deck scores
    cards: tuple[CardStats, ...]  # in deck order, each over the deck's submissions only
