"""The result page's workings, built from a card's variant without a server: names, outcomes, sums."""

from __future__ import annotations

import math

from app.config import Settings
from app.domain.cards import generate
from app.services.bank import read_card_file
from app.web.pages.feedback import outcome_names, show_value, workings

BANK = Settings(_env_file=None).bank_dir


def test_each_divergence_is_worked_once_in_the_cards_own_names() -> None:
    variant = generate(read_card_file(BANK / "evaluate-student-models.yaml"), 0)
    labels = {part.key: part.label for part in variant.parts}
    found = workings(variant, labels)
    assert [w.title for w in found] == ["KL(P ‖ QA)", "KL(P ‖ QB)"]
    first = found[0]
    assert [row.outcome for row in first.rows] == ["apple", "banana", "cherry"]
    assert [row.p for row in first.rows] == ["0.7", "0.2", "0.1"]
    assert first.unit == "nats"
    assert len(first.used_by) == 2  # loss_a and the choice between the students both compute it
    assert first.chart is not None and [s.name for s in first.chart.series] == ["P", "QA"]


def test_reverse_kl_is_written_with_the_student_first() -> None:
    variant = generate(read_card_file(BANK / "reverse-kl-behaviour.yaml"), 0)
    titles = {w.title: w for w in workings(variant, {})}
    assert "KL(Q ‖ P)" in titles and "KL(P ‖ Q)" in titles
    assert titles["KL(Q ‖ P)"].term_header == "Q(x) · ln(Q(x) / P(x))"


def test_an_infinite_divergence_says_why() -> None:
    variant = generate(read_card_file(BANK / "infinite-kl-support.yaml"), 0)
    forward = next(w for w in workings(variant, {}) if w.title == "KL(P ‖ Q)")
    assert forward.total == "∞"
    assert forward.infinite_note is not None and "P(x) > 0 where Q(x) = 0" in forward.infinite_note


def test_outcomes_are_numbered_when_no_vocabulary_fits() -> None:
    assert outcome_names({"vocab": ["a", "b"]}, 3) == ("1", "2", "3")
    assert outcome_names({}, 2) == ("1", "2")
    assert outcome_names({"vocab": ["x", "y"]}, 2) == ("x", "y")


def test_values_are_shown_as_lines() -> None:
    assert show_value(None) == ("no answer",)
    assert show_value(math.inf) == ("∞",)
    assert show_value(-0.0405) == ("−0.0405",)
    assert show_value(("KL ≥ 0", "KL(P, P) = 0")) == ("KL ≥ 0", "KL(P, P) = 0")
    assert show_value("Student A") == ("Student A",)
