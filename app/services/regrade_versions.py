"""A card's versions as a re-grade sees them: each version's spec as stored and with the current version's
numeric tolerances, and what re-grading asks of them (a variant's expected values, a part's tolerance, an
answer graded again), each computed once: learners share variants and answers, so a million submissions ask
the same few thousand questions.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion
from app.domain.cards import CardSpec, PartSpec, Tolerance, Variant, generate
from app.domain.grading import AnswerFormatError, grade
from app.domain.misconceptions import within_tolerance
from app.services.catalog import stored_spec


@dataclass
class Versions:
    """The card's versions, their specs with the current tolerances, and each variant's answers computed once."""

    specs: dict[int, CardSpec]  # by version id, as stored
    regraded: dict[int, CardSpec]  # by version id, numeric tolerances taken from the current version
    variants: dict[tuple[int, int], Variant] = dataclasses.field(default_factory=dict)
    expected: dict[tuple[int, int, str], float] = dataclasses.field(default_factory=dict)
    tolerances: dict[tuple[int, str], tuple[float, float]] = dataclasses.field(default_factory=dict)
    results: dict[tuple[int, int, str, str], dict[str, Any] | None] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def weights(self) -> dict[int, dict[str, float]]:
        """Each version's part weights, by version id: a submission's score is weighted as when it was made."""
        return {vid: {part.key: part.weight for part in spec.parts} for vid, spec in self.specs.items()}

    def flips(self, version_id: int, seed: int, stored: Mapping[str, Any]) -> bool:
        """Whether the stored numeric part result ``stored`` turns right or wrong with the new tolerance (True
        when that cannot be told: the domain's grader then decides)."""
        given = stored.get("given")
        value = {"inf": math.inf, "-inf": -math.inf}.get(given, given) if isinstance(given, str) else given
        target = self.expected_value(version_id, seed, stored["key"])
        atol, rtol = self.tolerance(version_id, stored["key"])
        if not isinstance(value, float | int) or math.isnan(target) or math.isnan(atol):
            return True
        return within_tolerance(float(value), target, Tolerance(rtol=rtol, atol=atol)) != bool(stored.get("correct"))

    def numeric_result(self, version_id: int, seed: int, part_key: str, raw: Any) -> dict[str, Any] | None:
        """The stored form of the numeric part ``part_key`` graded again for answer ``raw``, by the domain's own
        grader; None when the part or the answer cannot be graded. Learners share variants and answers, so
        each (version, seed, part, answer) is graded once."""
        key = (version_id, seed, part_key, repr(raw))
        if key not in self.results:
            spec = self.regraded[version_id]
            part = _parts_by_key(spec).get(part_key)
            found = None
            if part is not None:
                try:
                    graded = grade(
                        dataclasses.replace(spec, parts=(part,)), self.variant(version_id, seed), {part_key: raw}
                    )
                    found = graded.parts[0].to_dict()
                except (AnswerFormatError, ValueError):
                    found = None  # graded once, so readable; an answer that no longer is keeps its grade
            self.results[key] = found
        return self.results[key]

    def variant(self, version_id: int, seed: int) -> Variant:
        """The variant's parameters and numeric answers (drawn exactly as shown; nothing else is rendered)."""
        key = (version_id, seed)
        found = self.variants.get(key)
        if found is None:
            found = self.variants[key] = generate(_numbers_only(self.specs[version_id]), seed)
        return found

    def expected_value(self, version_id: int, seed: int, part_key: str) -> float:
        """The value variant ``seed`` of the version expects for a numeric part; NaN when there is none."""
        key = (version_id, seed, part_key)
        found = self.expected.get(key)
        if found is None:
            value = self.variant(version_id, seed).answers.get(part_key)
            ok = isinstance(value, float | int) and not isinstance(value, bool)
            found = self.expected[key] = float(value) if ok else math.nan  # type: ignore[arg-type]
        return found

    def tolerance(self, version_id: int, part_key: str) -> tuple[float, float]:
        """(atol, rtol) of the part as re-graded; NaN when the version has no such numeric part."""
        key = (version_id, part_key)
        found = self.tolerances.get(key)
        if found is None:
            part = _parts_by_key(self.regraded[version_id]).get(part_key)
            found = (math.nan, math.nan) if part is None else (part.tolerance.atol, part.tolerance.rtol)
            self.tolerances[key] = found
        return found


def _numbers_only(spec: CardSpec) -> CardSpec:
    """``spec`` without its texts and non-numeric parts: the same parameters for a seed, the same numeric
    answers, in half the time (the prompt, labels and solution are not rendered)."""
    numeric = tuple(dataclasses.replace(part, label="") for part in spec.parts if part.kind == "numeric")
    return dataclasses.replace(spec, prompt="", solution="", parts=numeric)


def _with_tolerances(spec: CardSpec, tolerances: Mapping[str, Tolerance]) -> CardSpec:
    parts = tuple(
        dataclasses.replace(part, tolerance=tolerances[part.key])
        if part.kind == "numeric" and part.key in tolerances
        else part
        for part in spec.parts
    )
    return dataclasses.replace(spec, parts=parts)


def card_versions(session: Session, card: Card) -> Versions:
    specs = {
        version_id: stored_spec(spec)
        for version_id, spec in session.execute(
            select(CardVersion.id, CardVersion.spec).where(CardVersion.card_id == card.id)
        )
    }
    current = specs.get(card.current_version_id) if card.current_version_id is not None else None
    tolerances = {} if current is None else {p.key: p.tolerance for p in current.parts if p.kind == "numeric"}
    return Versions(specs=specs, regraded={vid: _with_tolerances(s, tolerances) for vid, s in specs.items()})


def _parts_by_key(spec: CardSpec) -> dict[str, PartSpec]:
    return {part.key: part for part in spec.parts if part.kind == "numeric"}
