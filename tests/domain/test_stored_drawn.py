"""``stored_is_drawn`` reads from a spec's stored data the same answer ``is_drawn`` gives for the parsed spec."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cards_support import COURSE_CARD, DRAWN_CARD

import app
from app.domain.cards import is_drawn, parse_spec, spec_to_dict, stored_is_drawn

BANK_FILES = sorted((Path(app.__file__).parent / "bank").glob("*.yaml"))


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    """The data as a card version stores it: ``spec_to_dict`` of the parsed spec, through JSON."""
    stored: dict[str, Any] = json.loads(json.dumps(spec_to_dict(parse_spec(data))))
    return stored


@pytest.mark.parametrize("path", BANK_FILES, ids=[p.stem for p in BANK_FILES])
def test_agrees_with_is_drawn_on_every_built_in_card(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    drawn = is_drawn(parse_spec(data))
    assert stored_is_drawn(_stored(data)) is drawn
    assert stored_is_drawn(data) is drawn  # the file as written answers the same


def test_the_bank_has_both_kinds_so_the_agreement_means_something() -> None:
    kinds = {is_drawn(parse_spec(yaml.safe_load(p.read_text(encoding="utf-8")))) for p in BANK_FILES}
    assert kinds == {True, False}


def _with_params(**changes: Any) -> dict[str, Any]:
    """The course card with some parameters replaced or added."""
    data = copy.deepcopy(COURSE_CARD)
    data["params"].update(changes)
    return data


def _without_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """A card whose answer uses no parameter: ``params`` left out (None) or given as it is."""
    data: dict[str, Any] = {
        "slug": "no-parameters",
        "title": "No parameters",
        "prompt": "KL([0.5, 0.5] ‖ [0.25, 0.75])?",
        "parts": [{"key": "x", "kind": "numeric", "answer": "kl([0.5, 0.5], [0.25, 0.75])"}],
    }
    if params is not None:
        data["params"] = params
    return data


HAND_MADE = {
    "course card, every value fixed": COURSE_CARD,
    "every parameter drawn": DRAWN_CARD,
    "one drawn among fixed": _with_params(P={"dirichlet": [8, 1, 1], "decimals": 2}),
    "a drawn choice of lists": _with_params(P={"choice": [[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]]}),
    "an unused drawn parameter": _with_params(T={"uniform": [0.5, 4], "decimals": 1}),
    "fixed nested lists only": _with_params(grid=[[1, 2], [3, 4]], label="text"),
    "no params at all": _without_params(None),
    "empty params": _without_params({}),
}


@pytest.mark.parametrize("data", HAND_MADE.values(), ids=HAND_MADE.keys())
def test_agrees_with_is_drawn_on_hand_made_specs(data: dict[str, Any]) -> None:
    assert stored_is_drawn(_stored(data)) is is_drawn(parse_spec(data))


def test_the_hand_made_specs_cover_both_answers() -> None:
    assert [stored_is_drawn(_stored(data)) for data in HAND_MADE.values()] == [
        False, True, True, True, True, False, False, False,
    ]  # fmt: skip
