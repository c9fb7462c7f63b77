"""Deck exports for other systems: QTI 1.2 and Moodle GIFT read back, and the deck's variants behind them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lms_exports_support import metadata, parse_gift, parse_question, qti_tree, unzip
from sqlalchemy import update
from sqlalchemy.orm import Session
from users_support import make_user

from app.db.models import Card, User
from app.domain.cards import Tolerance, generate, parse_spec
from app.domain.grading import grade
from app.services.bank import load_cards
from app.services.deck_editing import create_deck
from app.services.decks import DeckInput
from app.services.errors import Forbidden, InvalidSeed, NotFound
from app.services.lms_exports import (
    DeckExport,
    ExportCard,
    deck_for_export,
    export_file,
    load_export,
    qti_package,
    render_gift,
    render_qti,
)
from app.services.lms_exports.gift import escape
from app.services.lms_exports.markup import bounds, html, margin, number

TOLERANCE = Tolerance(rtol=0.02, atol=0.001)
SPECIAL: dict[str, Any] = {
    "slug": "special-characters",
    "title": "Braces, equals and tildes",
    "tags": ["kl-divergence"],
    "params": {"P": [0.5, 0.5], "Q": [0.9, 0.1]},
    "prompt": "Sets {a, b} where x = 1 ~ 2, #3: here P = {{ P }} and $\\mathrm{KL}(P \\parallel Q)$ is asked.",
    "parts": [
        {
            "key": "kl",
            "kind": "numeric",
            "label": "KL {nats} = ?",
            "answer": "kl(P, Q)",
            "tolerance": {"rtol": TOLERANCE.rtol, "atol": TOLERANCE.atol},
            "unit": "nats",
            "weight": 2,
        },
        {
            "key": "pick",
            "kind": "choice",
            "label": "Pick: one",
            "choices": ["a = b", "c ~ d", "e # f", "{g}: h"],
            "answer": "'{g}: h'",
        },
        {
            "key": "hold",
            "kind": "multi",
            "label": "All that hold",
            "choices": ["x = 1", "y ~ 2", "z: 3"],
            "answer": "['x = 1', 'z: 3']",
        },
        {"key": "why", "kind": "text", "label": "Why?", "model_answer": "Because {P} = Q ~ never # ever: so."},
    ],
    "solution": "KL = {{ kl(P, Q) | fmt }} with {braces} = ~ # : all kept.",
}
INFINITE: dict[str, Any] = {
    "slug": "infinite",
    "title": "An infinite divergence",
    "tags": [],
    "params": {"P": [0.5, 0.5], "Q": [1.0, 0.0]},
    "prompt": "P = {{ P }}, Q = {{ Q }}.",
    "parts": [{"key": "kl", "kind": "numeric", "label": "KL(P‖Q)", "answer": "kl(P, Q)"}],
    "solution": "Q misses an outcome P has.",
}


def export_of(*specs: dict[str, Any], seed: int = 0, solutions: bool = True) -> DeckExport:
    cards = []
    for data in specs:
        spec = parse_spec(copy.deepcopy(data))
        cards.append(ExportCard(slug=spec.slug, title=spec.title, spec=spec, variant=generate(spec, seed)))
    return DeckExport(
        slug="week-1",
        title="Week 1: {divergences}",
        description="",
        seed=seed,
        max_attempts=3,
        show_solutions=solutions,
        cards=tuple(cards),
    )


def items_by_ident(root: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {item.get("ident", ""): item for item in root.iter("item")}


# --- QTI ------------------------------------------------------------------------------------------------------


def test_qti_has_a_section_per_card_and_an_item_per_part_each_with_the_prompt() -> None:
    root = qti_tree(render_qti(export_of(SPECIAL, INFINITE)))
    assert root.tag == "questestinterop"
    assessment = root.find("assessment")
    assert assessment is not None and assessment.get("ident") == "week-1-seed-0"
    assert assessment.get("title") == "Week 1: {divergences}"
    sections = assessment.findall("section/section")
    assert [s.get("ident") for s in sections] == ["special-characters", "infinite"]
    assert [i.get("ident") for i in sections[0].findall("item")] == [
        "special-characters:kl",
        "special-characters:pick",
        "special-characters:hold",
        "special-characters:why",
    ]
    assert sections[0].findtext("selection_ordering/selection/selection_number") == "4"
    for item in sections[0].findall("item"):
        text = item.findtext("presentation/material/mattext", "")
        assert "Sets {a, b} where x = 1 ~ 2, #3: here P = [0.5, 0.5]" in text
        assert "\\(\\mathrm{KL}(P \\parallel Q)\\)" in text  # the maths as TeX for the LMS to typeset
    types = {ident: metadata(item)["question_type"] for ident, item in items_by_ident(root).items()}
    assert types == {
        "special-characters:kl": "numerical_question",
        "special-characters:pick": "multiple_choice_question",
        "special-characters:hold": "multiple_answers_question",
        "special-characters:why": "essay_question",
        "infinite:kl": "short_answer_question",
    }
    assert metadata(items_by_ident(root)["special-characters:kl"])["points_possible"] == "2"


def test_qti_numeric_bounds_are_the_tolerance_around_the_server_answer() -> None:
    export = export_of(SPECIAL)
    variant = export.cards[0].variant
    answer = variant.answers["kl"]
    assert isinstance(answer, float)
    item = items_by_ident(qti_tree(render_qti(export)))["special-characters:kl"]
    assert item.find("presentation/response_str/render_fib[@fibtype='Decimal']") is not None
    condition = item.find("resprocessing/respcondition/conditionvar/or")
    assert condition is not None
    assert float(condition.findtext("varequal", "")) == answer
    low, high = float(condition.findtext("and/vargte", "")), float(condition.findtext("and/varlte", ""))
    assert low <= answer <= high
    expected = TOLERANCE.atol + TOLERANCE.rtol * abs(answer)
    assert high - answer == pytest.approx(expected, rel=1e-9)
    assert answer - low == pytest.approx(expected, rel=1e-9)
    # The LMS marks right exactly what the app marks right.
    spec = export.cards[0].spec
    base = {"pick": "{g}: h", "hold": ["x = 1"], "why": "."}
    for factor, right in ((0.999, True), (-0.999, True), (1.001, False), (-1.001, False)):
        given_value = answer + factor * expected
        assert (low <= given_value <= high) is right
        graded = grade(spec, variant, {**base, "kl": repr(given_value)})
        assert graded.parts[0].correct is right


def test_qti_choice_marks_the_right_option_and_multi_gives_partial_credit() -> None:
    items = items_by_ident(qti_tree(render_qti(export_of(SPECIAL))))
    pick = items["special-characters:pick"]
    lid = pick.find("presentation/response_lid")
    assert lid is not None and lid.get("rcardinality") == "Single"
    labels = {
        label.get("ident"): label.findtext("material/mattext") for label in lid.iterfind("render_choice/response_label")
    }
    right_ident = pick.findtext("resprocessing/respcondition/conditionvar/varequal")
    assert labels[right_ident] == "{g}: h"
    assert list(labels.values()) == ["a = b", "c ~ d", "e # f", "{g}: h"]

    hold = items["special-characters:hold"]
    lid = hold.find("presentation/response_lid")
    assert lid is not None and lid.get("rcardinality") == "Multiple"
    texts = {label.get("ident"): label.findtext("material/mattext") for label in lid.iter("response_label")}
    conditions = [c for c in hold.iterfind("resprocessing/respcondition") if c.find("setvar") is not None]
    exact = conditions[0]
    assert exact.get("continue") == "No" and exact.findtext("setvar") == "100"
    assert {texts[v.text] for v in exact.iterfind("conditionvar/and/varequal")} == {"x = 1", "z: 3"}
    assert {texts[v.text] for v in exact.iterfind("conditionvar/and/not/varequal")} == {"y ~ 2"}
    partial = {
        texts[c.findtext("conditionvar/varequal")]: (c.find("setvar[@action='Add']") is not None, c.findtext("setvar"))
        for c in conditions[1:]
    }
    assert partial == {"x = 1": (True, "50"), "z: 3": (True, "50"), "y ~ 2": (True, "-50")}


def test_qti_feedback_has_the_solution_and_model_answer_only_when_solutions_are_shown() -> None:
    shown = items_by_ident(qti_tree(render_qti(export_of(SPECIAL))))["special-characters:why"]
    assert shown.find("presentation/response_str/render_fib") is not None
    feedback = shown.findtext("itemfeedback[@ident='general_fb']/flow_mat/material/mattext", "")
    assert "Because {P} = Q ~ never # ever: so." in feedback
    assert "with {braces} = ~ # : all kept." in feedback
    displayed = shown.find("resprocessing/respcondition/displayfeedback")
    assert displayed is not None and displayed.get("linkrefid") == "general_fb"

    hidden = qti_tree(render_qti(export_of(SPECIAL, solutions=False)))
    assert hidden.find(".//itemfeedback") is None
    assert hidden.find(".//displayfeedback") is None
    assert "Because" not in ElementTree.tostring(hidden, encoding="unicode")


def test_qti_infinite_answer_takes_inf_as_text() -> None:
    item = items_by_ident(qti_tree(render_qti(export_of(INFINITE))))["infinite:kl"]
    accepted = {v.text for v in item.iterfind("resprocessing/respcondition/conditionvar/or/varequal")}
    assert accepted == {"inf", "infinity", "∞"}


def test_qti_package_manifest_names_the_assessment_and_is_reproducible() -> None:
    export = export_of(SPECIAL)
    files = unzip(qti_package(export))
    assert set(files) == {"imsmanifest.xml", "week-1-seed-0.xml"}
    manifest = qti_tree(files["imsmanifest.xml"])
    resource = manifest.find("resources/resource")
    assert resource is not None and resource.get("type") == "imsqti_xmlv1p2"
    assert resource.get("href") == "week-1-seed-0.xml"
    assert [f.get("href") for f in resource.iter("file")] == ["week-1-seed-0.xml"]
    assert files["week-1-seed-0.xml"] == render_qti(export)
    assert qti_package(export) == qti_package(export)


# --- GIFT -----------------------------------------------------------------------------------------------------


def test_gift_questions_are_titled_by_card_and_part_and_escaping_survives() -> None:
    export = export_of(SPECIAL, INFINITE)
    parsed = parse_gift(render_gift(export))
    titles = [q.title for q in parsed.questions]
    assert titles == [
        "special-characters kl",
        "special-characters pick",
        "special-characters hold",
        "special-characters why",
        "infinite kl",
    ]
    assert parsed.categories == ["$course$/top/week-1/special-characters", "$course$/top/week-1/infinite"]
    assert parsed.comments[0] == "Week 1: {divergences} (week-1), variant 0 of every card"
    kl, pick, hold, why, infinite = parsed.questions
    for question in (kl, pick, hold, why):
        assert "Sets {a, b} where x = 1 ~ 2, #3: here P = [0.5, 0.5]" in question.text
        assert "with {braces} = ~ # : all kept." in question.feedback
    assert "<strong>KL {nats} = ?</strong> (nats)" in kl.text
    assert "\\(\\mathrm{KL}(P \\parallel Q)\\)" in kl.text

    answer = export.cards[0].variant.answers["kl"]
    assert kl.kind == "numeric" and kl.value == answer
    assert kl.margin == pytest.approx(TOLERANCE.atol + TOLERANCE.rtol * abs(answer), rel=1e-12)
    assert [(a.text, a.weight) for a in pick.answers] == [("a = b", 0), ("c ~ d", 0), ("e # f", 0), ("{g}: h", 100)]
    assert [(a.text, a.weight) for a in hold.answers] == [("x = 1", 50), ("y ~ 2", -50), ("z: 3", 50)]
    assert why.kind == "essay" and "Because {P} = Q ~ never # ever: so." in why.feedback
    assert infinite.kind == "short" and {a.text for a in infinite.answers} == {"inf", "infinity", "∞"}


def test_gift_without_solutions_has_no_general_feedback() -> None:
    parsed = parse_gift(render_gift(export_of(SPECIAL, solutions=False)))
    assert all(q.feedback == "" for q in parsed.questions)
    assert "solutions left out" in parsed.comments[1]


def test_gift_weights_for_three_right_options_are_moodle_grades() -> None:
    spec = {
        **SPECIAL,
        "parts": [
            {
                "key": "three",
                "kind": "multi",
                "label": "Pick",
                "choices": ["a", "b", "c", "d"],
                "answer": "['a', 'b', 'c']",
            },
        ],
    }
    (question,) = parse_gift(render_gift(export_of(spec))).questions
    assert [a.weight for a in question.answers] == [33.33333, 33.33333, 33.33333, -33.33333]


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=60))
def test_gift_escape_round_trips(text: str) -> None:
    line = f"::t::[html]{escape(text)}{{}}"
    assert parse_question(line).text == text


def test_numbers_are_positional_and_bounds_match_the_margin() -> None:
    assert number(2.68e-05) == "0.0000268"
    assert number(1.0) == "1"
    assert float(number(0.1 + 0.2)) == 0.1 + 0.2
    assert bounds(2.0, Tolerance(rtol=0.01, atol=0.001)) == (2.0 - 0.021, 2.0 + 0.021)
    assert margin(-2.0, Tolerance(rtol=0.01, atol=0.0)) == 0.02
    cleaned = html("<script>alert(1)</script>\n\n*a* $x<y$ <img src=x onerror=alert(1)>")
    assert cleaned == '<p><em>a</em> <span>\\(x&lt;y\\)</span> <img src="x"></p>'


# --- the deck behind an export --------------------------------------------------------------------------------


@pytest.fixture
def cards(session: Session, loaded: Path, write_card: Any, tmp_path: Path) -> list[str]:
    """The shared fixed and drawn cards, and the card with special characters, all published."""
    load_cards(session=session, path=write_card(tmp_path / "more", copy.deepcopy(SPECIAL)))
    return ["two-students", "drawn-kl", "special-characters"]


def make_deck(session: Session, owner: User, cards: list[str], **changes: Any) -> str:
    fields: dict[str, Any] = {"slug": "week-1", "title": "Week 1", "cards": tuple(cards), "status": "published"}
    create_deck(session=session, user=owner, data=DeckInput(**{**fields, **changes}))
    return str(fields["slug"])


def test_load_export_generates_every_card_at_the_seed(session: Session, cards: list[str]) -> None:
    owner = make_user(session, "instructor", "owner@example.org")
    slug = make_deck(session, owner, cards, show_solution="always")
    deck = deck_for_export(session=session, user=owner, slug=slug)
    export = load_export(session=session, deck=deck, seed=12345)
    assert [card.slug for card in export.cards] == cards
    assert export.seed == 12345 and export.show_solutions and export.skipped == ()
    for card in export.cards:
        assert card.variant == generate(card.spec, 12345)
    drawn = {load_export(session=session, deck=deck, seed=seed).cards[1].variant.answers["kl"] for seed in range(3)}
    assert len(drawn) == 3  # a drawn card's numbers follow the seed
    file = export_file(export, "gift")
    assert file.filename == "week-1-seed-12345-gift.txt" and file.media_type.startswith("text/plain")
    assert len(parse_gift(file.content.decode()).questions) == 3 + 1 + 4


def test_load_export_skips_unpublished_cards_and_follows_the_solution_policy(
    session: Session, cards: list[str]
) -> None:
    owner = make_user(session, "instructor", "owner@example.org")
    slug = make_deck(session, owner, cards, show_solution="after_correct")
    session.execute(update(Card).where(Card.slug == "drawn-kl").values(status="draft"))
    session.commit()
    export = load_export(session=session, deck=deck_for_export(session=session, user=owner, slug=slug))
    assert [card.slug for card in export.cards] == ["two-students", "special-characters"]
    assert export.skipped == ("drawn-kl",) and not export.show_solutions
    assert "not published, so left out: drawn-kl" in render_gift(export)

    past = datetime.now(UTC) - timedelta(days=1)
    make_deck(session, owner, cards[:1], slug="week-2", show_solution="after_due", due_at=past)
    after_due = load_export(session=session, deck=deck_for_export(session=session, user=owner, slug="week-2"))
    assert after_due.show_solutions


def test_only_the_owner_and_administrators_may_export(session: Session, cards: list[str]) -> None:
    owner = make_user(session, "instructor", "owner@example.org")
    other = make_user(session, "instructor", "other@example.org")
    admin = make_user(session, "admin", "admin@example.org")
    learner = make_user(session, "learner", "learner@example.org")
    make_deck(session, owner, cards)
    make_deck(session, owner, cards, slug="drafted", status="draft")
    assert deck_for_export(session=session, user=admin, slug="week-1").slug == "week-1"
    for user in (other, learner, None):
        with pytest.raises(Forbidden, match="only by its owner or an administrator"):
            deck_for_export(session=session, user=user, slug="week-1")
    with pytest.raises(NotFound):
        deck_for_export(session=session, user=other, slug="drafted")
    with pytest.raises(NotFound):
        deck_for_export(session=session, user=owner, slug="no-such-deck")


def test_a_seed_out_of_range_is_refused(session: Session, cards: list[str]) -> None:
    owner = make_user(session, "instructor", "owner@example.org")
    deck = deck_for_export(session=session, user=owner, slug=make_deck(session, owner, cards))
    with pytest.raises(InvalidSeed, match="seed must be a whole number"):
        load_export(session=session, deck=deck, seed=2**31)


def test_a_multi_part_with_no_right_option_is_an_essay_in_gift_and_all_or_nothing_in_qti() -> None:
    spec = {
        **SPECIAL,
        "parts": [{"key": "none", "kind": "multi", "label": "Pick", "choices": ["a", "b"], "answer": "[]"}],
    }
    (question,) = parse_gift(render_gift(export_of(spec))).questions
    assert question.kind == "essay" and "<li>a</li><li>b</li>" in question.text
    item = items_by_ident(qti_tree(render_qti(export_of(spec))))["special-characters:none"]
    scored = [c for c in item.iterfind("resprocessing/respcondition") if c.find("setvar") is not None]
    assert len(scored) == 1 and len(scored[0].findall("conditionvar/and/not/varequal")) == 2
