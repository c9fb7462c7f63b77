"""The answer form of a card: its fields as the template draws them, and the learner's answers read back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.datastructures import FormData

from app.domain.cards import MAX_SEED, CardSpec, PartKind, Variant
from app.web.markdown import to_inline_html


class SeedError(ValueError):
    """A seed in a link or a form that is not a whole number in range; the message says so in words."""


def parse_seed(raw: str | None) -> int | None:
    """``"42"`` → 42, ``None`` or blank → None; anything else raises SeedError."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    shown = text if len(text) <= 30 else text[:27] + "…"
    if not text.isascii() or not text.isdigit():
        raise SeedError(f"The variant number '{shown}' is not a whole number from 0 to {MAX_SEED - 1}.")
    seed = int(text)
    if seed >= MAX_SEED:
        raise SeedError(f"The variant number {shown} is too large: variants run from 0 to {MAX_SEED - 1}.")
    return seed


@dataclass(frozen=True)
class Option:
    id: str
    value: str  # the option text itself: the value the grader compares
    label_html: Markup
    checked: bool


@dataclass(frozen=True)
class Field:
    key: str
    kind: PartKind
    label_html: Markup
    plain_label: str  # the label as written, for the error summary's links
    unit: str | None
    value: str  # numeric and text parts: what the learner typed
    options: tuple[Option, ...]
    error: str | None

    @property
    def id(self) -> str:
        return f"part-{self.key}"

    @property
    def focus_id(self) -> str:
        """Where the error summary's link lands: the input itself, or a choice group's first option."""
        return self.options[0].id if self.options else self.id

    @property
    def unit_id(self) -> str:
        return f"{self.id}-unit"

    @property
    def error_id(self) -> str:
        return f"{self.id}-error"

    @property
    def described_by(self) -> str:
        ids = [self.unit_id] if self.unit else []
        return " ".join([*ids, self.error_id] if self.error else ids)


@dataclass(frozen=True)
class AnswerForm:
    seed: int
    fields: tuple[Field, ...]
    errors: Mapping[str, str]


def _plain(label: str) -> str:
    # Dollar signs of inline maths read badly in a plain-text link; the symbols inside stay.
    return label.replace("$", "").strip()


def answer_form(
    variant: Variant, *, answers: Mapping[str, Any] | None = None, errors: Mapping[str, str] | None = None
) -> AnswerForm:
    """The fields of ``variant``, filled with ``answers`` (as read from a form) and marked with ``errors``."""
    given = answers or {}
    problems = dict(errors or {})
    fields = []
    for part in variant.parts:
        raw = given.get(part.key)
        picked = set(raw) if isinstance(raw, list | tuple) else ({raw} if isinstance(raw, str) else set())
        options = tuple(
            Option(
                id=f"part-{part.key}-{i}",
                value=choice,
                label_html=to_inline_html(choice),
                checked=choice in picked,
            )
            for i, choice in enumerate(part.choices)
        )
        fields.append(
            Field(
                key=part.key,
                kind=part.kind,
                label_html=to_inline_html(part.label),
                plain_label=_plain(part.label),
                unit=part.unit,
                value=raw if isinstance(raw, str) and part.kind in ("numeric", "text") else "",
                options=options if part.kind in ("choice", "multi") else (),
                error=problems.get(part.key),
            )
        )
    return AnswerForm(seed=variant.seed, fields=tuple(fields), errors=problems)


def answers_from_form(spec: CardSpec, form: FormData) -> dict[str, Any]:
    """The answers to ``spec``'s parts in the shape the grader reads; other form fields are left out.

    An unticked radio group or checkbox list sends nothing at all, so its absence means "no option picked".
    """
    answers: dict[str, Any] = {}
    for part in spec.parts:
        values = [value for value in form.getlist(part.key) if isinstance(value, str)]
        if part.kind == "multi":
            answers[part.key] = values
        elif part.kind == "choice":
            answers[part.key] = values[0] if values else None
        else:
            answers[part.key] = values[0] if values else ""
    return answers
