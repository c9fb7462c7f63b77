"""The built-in card bank: every card is valid for 200 seeds, and the course cards say what the course says."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.special import rel_entr

import app
from app.domain.cards import CardSpec, check_spec, generate, is_drawn, parse_spec

BANK = Path(app.__file__).parent / "bank"
FILES = sorted(BANK.glob("*.yaml"))
COURSE_SLUGS = ("evaluate-student-models", "closest-student", "reverse-kl-behaviour", "distillation-alpha")
TAGS = {"course", "distillation", "kl-divergence", "temperature", "entropy", "information-theory"}


def _kl(p: list[float], q: list[float]) -> float:
    """KL(P‖Q) in nats, computed independently of the app with scipy."""
    return float(rel_entr(np.asarray(p), np.asarray(q)).sum())


def _raw(slug: str) -> Mapping[str, Any]:
    data: Mapping[str, Any] = yaml.safe_load((BANK / f"{slug}.yaml").read_text(encoding="utf-8"))
    return data


@cache
def _card(slug: str) -> CardSpec:
    return parse_spec(_raw(slug))


def _part_shape(spec: CardSpec) -> list[tuple[str, str]]:
    return [(part.key, part.kind) for part in spec.parts]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_card_parses_and_passes_check_spec_for_200_seeds(path: Path) -> None:
    spec = _card(path.stem)
    assert check_spec(spec, seeds=200) == []


def test_bank_has_at_least_12_cards_with_unique_slugs_matching_file_names() -> None:
    slugs = [_raw(path.stem)["slug"] for path in FILES]
    assert len(slugs) >= 12
    assert slugs == [path.stem for path in FILES]
    assert len(set(slugs)) == len(slugs)


def test_every_card_has_a_title_known_tags_and_a_worked_solution() -> None:
    for path in FILES:
        spec = _card(path.stem)
        assert spec.title.strip(), path.name
        assert spec.tags and set(spec.tags) <= TAGS, (path.name, spec.tags)
        variant = generate(spec, 0)
        assert spec.solution.strip() and variant.solution.strip(), path.name


def test_bank_uses_every_part_kind() -> None:
    kinds = {part.kind for path in FILES for part in _card(path.stem).parts}
    assert kinds == {"numeric", "choice", "multi", "text"}


def test_course_cards_are_tagged_course() -> None:
    tagged = {path.stem for path in FILES if "course" in _card(path.stem).tags}
    assert tagged == set(COURSE_SLUGS)


def test_evaluate_student_models_matches_the_course() -> None:
    spec = _card("evaluate-student-models")
    assert spec.title == "Evaluating Student Model Performance"
    assert _part_shape(spec) == [("loss_a", "numeric"), ("loss_b", "numeric"), ("better", "choice"),
                                 ("reasoning", "text")]
    assert spec.params == {"vocab": ["apple", "banana", "cherry"], "P": [0.7, 0.2, 0.1],
                           "QA": [0.6, 0.3, 0.1], "QB": [0.8, 0.1, 0.1]}
    loss_a, loss_b, better, reasoning = spec.parts
    for part in (loss_a, loss_b):
        assert (part.tolerance.rtol, part.tolerance.atol, part.unit) == (0.01, 0.0005, "nats")
    assert better.choices == ("Student A", "Student B")
    assert reasoning.model_answer

    variant = generate(spec, 0)
    assert variant.answers["loss_a"] == pytest.approx(0.02681, abs=1e-5)
    assert variant.answers["loss_b"] == pytest.approx(0.04516, abs=1e-5)
    assert variant.answers["loss_a"] == pytest.approx(_kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1]), rel=1e-12)
    assert variant.answers["better"] == "Student A"
    assert "Student A" in variant.model_answers["reasoning"]
    assert "ln" in variant.prompt and "apple" in variant.prompt
    # The worked solution shows the numbers it reaches, not just the formula.
    assert "0.02681" in variant.solution and "0.04516" in variant.solution


def test_closest_student_picks_the_lowest_kl() -> None:
    spec = _card("closest-student")
    assert _part_shape(spec)[0] == ("best", "choice")
    assert ("best_kl", "numeric") in _part_shape(spec)
    assert spec.params["P"] == [0.8, 0.1, 0.1]
    assert spec.parts[0].choices == ("Student 1", "Student 2", "Student 3", "Student 4")

    variant = generate(spec, 0)
    losses = [_kl(variant.params["P"], variant.params[f"Q{i}"]) for i in range(1, 5)]
    assert len({round(x, 2) for x in losses}) == 4  # clearly distinct, so the choice is never close
    assert variant.answers["best"] == f"Student {int(np.argmin(losses)) + 1}" == "Student 3"
    assert variant.answers["best_kl"] == pytest.approx(min(losses), rel=1e-12)
    assert variant.answers["best_kl"] == pytest.approx(0.011084, abs=1e-6)


def test_reverse_kl_behaviour_is_mode_seeking_and_computes_kl_q_p() -> None:
    spec = _card("reverse-kl-behaviour")
    assert _part_shape(spec)[:2] == [("effect", "choice"), ("reverse_kl", "numeric")]
    effect = spec.parts[0]
    assert any(option.startswith("Mass-covering") for option in effect.choices)

    variant = generate(spec, 0)
    assert str(variant.answers["effect"]).startswith("Mode-seeking")
    p, q = variant.params["P"], variant.params["Q"]
    assert variant.answers["reverse_kl"] == pytest.approx(_kl(q, p), rel=1e-12)
    assert variant.answers["reverse_kl"] == pytest.approx(0.12221, abs=1e-5)
    assert variant.answers["reverse_kl"] != pytest.approx(_kl(p, q), rel=0.05)  # the two directions differ


def test_distillation_alpha_weights_the_kd_term_with_alpha() -> None:
    spec = _card("distillation-alpha")
    shape = _part_shape(spec)
    assert shape[0] == ("loss", "numeric")
    assert ("raise_alpha", "choice") in shape
    assert spec.parts[0].answer == "combined(alpha, L_kd, L_ce)"

    variant = generate(spec, 0)
    alpha, kd, ce = (variant.params[name] for name in ("alpha", "L_kd", "L_ce"))
    assert variant.answers["loss"] == pytest.approx(alpha * kd + (1 - alpha) * ce, rel=1e-12)
    assert variant.answers["loss"] == pytest.approx(0.699, abs=1e-9)
    # α ≠ 1/2, so putting α on the wrong term gives a different, recognisable number.
    assert (1 - alpha) * kd + alpha * ce != pytest.approx(variant.answers["loss"], rel=0.05)
    assert "soft targets" in str(variant.answers["raise_alpha"])


def test_infinite_kl_card_expects_infinity_for_the_support_mismatch() -> None:
    variant = generate(_card("infinite-kl-support"), 0)
    assert variant.answers["forward"] == math.inf
    assert math.isfinite(float(variant.answers["reverse"]))  # type: ignore[arg-type]


def test_at_least_two_drawn_cards_give_different_values_for_different_seeds() -> None:
    drawn = [path.stem for path in FILES if is_drawn(_card(path.stem))]
    assert len(drawn) >= 2
    for slug in drawn:
        params = {repr(generate(_card(slug), seed).params) for seed in range(10)}
        assert len(params) > 1, slug
        assert generate(_card(slug), 3) == generate(_card(slug), 3)


def test_drawn_comparison_is_never_a_tie_and_is_computed_from_the_shown_values() -> None:
    spec = _card("compare-two-students")
    assert is_drawn(spec)
    for seed in range(50):
        variant = generate(spec, seed)
        p, qa, qb = (variant.params[name] for name in ("P", "QA", "QB"))
        for dist in (p, qa, qb):
            assert sum(dist) == pytest.approx(1.0, abs=1e-9)
            assert all(round(x, 2) == x for x in dist)  # answers use the two-decimal values the learner sees
        loss_a, loss_b = _kl(p, qa), _kl(p, qb)
        assert abs(loss_a - loss_b) > 0.01
        assert variant.answers["loss_a"] == pytest.approx(loss_a, rel=1e-12)
        assert variant.answers["better"] == ("Student A" if loss_a < loss_b else "Student B")
